"""Sample shard files: exact byte layout, round trip, and refusal of bad input."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from tinyfl.emulate import read_shard, write_shard


def test_layout_is_the_documented_one(tmp_path):
    windows = np.array([[1.0, -2.5, 3.25], [0.0, 1e-3, -7.0]], dtype=np.float32)
    path = write_shard(tmp_path / "s.bin", windows, [3, 250])
    data = path.read_bytes()
    assert data[:10] == b"TFLS" + struct.pack("<HHH", 1, 2, 3)
    record = 4 + 4 * 3
    assert len(data) == 10 + 2 * record
    first, second = data[10 : 10 + record], data[10 + record :]
    assert first[:4] == bytes([3, 0, 0, 0]) and second[:4] == bytes([250, 0, 0, 0])
    assert struct.unpack("<3f", first[4:]) == (1.0, -2.5, 3.25)
    assert np.array_equal(np.frombuffer(second[4:], "<f4"), windows[1])


def test_round_trip_and_time_major_flattening(tmp_path):
    rng = np.random.default_rng(1)
    steps, channels = 5, 3
    windows = rng.normal(size=(4, steps, channels)).astype(np.float32)
    labels = np.array([0, 1, 2, 1], dtype=np.uint8)
    shard = read_shard(write_shard(tmp_path / "s.bin", windows, labels))
    assert len(shard) == 4 and shard.input_len == steps * channels
    assert np.array_equal(shard.labels, labels)
    # window[step * C + channel]
    assert shard.windows[2, 3 * channels + 1] == windows[2, 3, 1]
    assert np.array_equal(shard.windows, windows.reshape(4, -1))


@pytest.mark.parametrize(
    "windows, labels",
    [
        (np.zeros((2, 3)), [0]),  # label count differs
        (np.zeros((2, 3)), [0, 256]),  # label does not fit a u8
        (np.zeros((2, 3)), [0, -1]),
        (np.array([[0.0, np.nan, 1.0]]), [0]),  # not finite
        (np.zeros((0, 3)), []),  # empty
    ],
)
def test_bad_input_is_refused(tmp_path, windows, labels):
    with pytest.raises(ValueError):
        write_shard(tmp_path / "s.bin", windows, labels)


def test_damaged_files_are_refused(tmp_path):
    path = write_shard(tmp_path / "s.bin", np.zeros((2, 3)), [0, 1])
    data = path.read_bytes()
    for bad in (b"XFLS" + data[4:], data[:-1], data[:8], data[:4] + b"\x02\x00" + data[6:]):
        path.write_bytes(bad)
        with pytest.raises(ValueError):
            read_shard(path)
