"""Data loaders: layout (time-major windows), dtypes, label encoding, user file formats."""
from __future__ import annotations

import numpy as np
import pytest

from tinyfl.data import (
    Dataset,
    load_basic_motions,
    load_csv,
    load_digits,
    load_npz,
    make_synthetic_windows,
)


def test_basic_motions_is_time_major_with_interleaved_channels() -> None:
    from aeon.datasets import load_basic_motions as aeon_load

    ds = load_basic_motions()
    assert ds.x_train.shape == (40, 100, 6) and ds.x_test.shape == (40, 100, 6)
    assert ds.x_train.dtype == np.float32
    assert ds.class_names == ("badminton", "running", "standing", "walking")
    raw, labels = aeon_load(split="train")
    # Step t of window i holds all six channels of that instant.
    np.testing.assert_allclose(ds.x_train[3, 17, :], raw[3, :, 17].astype(np.float32))
    assert ds.x_train[3].ravel()[17 * 6 + 4] == np.float32(raw[3, 4, 17])
    assert [ds.class_names[k] for k in ds.y_train] == [str(v) for v in labels]
    assert np.bincount(ds.y_test).tolist() == [10, 10, 10, 10]


def test_digits_scaled_and_stratified() -> None:
    ds = load_digits()
    assert ds.x_train.shape[1:] == (8, 8, 1)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() == 1.0
    assert len(ds.x_train) + len(ds.x_test) == 1797
    counts = np.bincount(ds.y_test, minlength=10)
    assert counts.min() >= 40
    flat = load_digits(flat=True)
    np.testing.assert_array_equal(flat.x_train, ds.x_train.reshape(-1, 64))


def test_npz_explicit_split_and_names(tmp_path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=rng.standard_normal((10, 5, 2)),
        y_train=np.array(["b", "a"] * 5),
        x_test=rng.standard_normal((4, 5, 2)),
        y_test=np.array(["a", "a", "b", "b"]),
    )
    ds = load_npz(path)
    assert ds.class_names == ("a", "b") and ds.y_test.tolist() == [0, 0, 1, 1]
    assert ds.x_train.dtype == np.float32 and ds.sample_shape == (5, 2)


def test_npz_xy_split_is_deterministic(tmp_path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(40, dtype=np.float64).reshape(20, 2), y=np.arange(20) % 3)
    a, b = load_npz(path), load_npz(path)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert len(a.x_test) == 5 and a.n_classes == 3
    got = np.sort(np.concatenate([a.x_train[:, 0], a.x_test[:, 0]]))
    np.testing.assert_array_equal(got, np.arange(0, 40, 2))


def test_npz_missing_arrays_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, features=np.zeros(3))
    with pytest.raises(ValueError, match="x_train"):
        load_npz(path)


def test_csv_with_header_and_shape(tmp_path) -> None:
    train = tmp_path / "train.csv"
    test = tmp_path / "test.csv"
    train.write_text("label,v0,v1,v2,v3\nwalk,1,2,3,4\nrun,5,6,7,8\n")
    test.write_text("run,0.5,0,0,1\n")
    ds = load_csv(train, test, sample_shape=(2, 2))
    assert ds.class_names == ("run", "walk")
    np.testing.assert_array_equal(ds.x_train[0], [[1, 2], [3, 4]])
    assert ds.y_train.tolist() == [1, 0] and ds.y_test.tolist() == [0]


def test_csv_wrong_width_names_the_line(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,1,2,3\nb,1,2\n")
    with pytest.raises(ValueError, match=":2:"):
        load_csv(path, sample_shape=(3,))


def test_dataset_rejects_bad_labels() -> None:
    x = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="outside"):
        Dataset(x, np.array([0, 2]), x, np.array([0, 1]), ("a", "b"))


def test_synthetic_is_reproducible() -> None:
    a = make_synthetic_windows(seed=3)
    b = make_synthetic_windows(seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (64, 32, 3)


def test_load_csv_refuses_nan_and_a_single_class(tmp_path):
    from tinyfl.data import load_csv

    nan = tmp_path / "nan.csv"
    nan.write_text("a,1,2\nb,3,nan\na,5,6\nb,7,8\n")
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        load_csv(nan, sample_shape=(2,), test_fraction=0.25)
    one = tmp_path / "one.csv"
    one.write_text("".join(f"a,{i},{i + 1}\n" for i in range(8)))
    with pytest.raises(ValueError, match="fewer than 2 classes"):
        load_csv(one, sample_shape=(2,), test_fraction=0.25)
