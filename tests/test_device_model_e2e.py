"""The whole device against the Python model of the device: every emulated board (native, QEMU
Cortex-M4F, QEMU rv32imc in soft float; test build, fixed seed) answers a round with the
integers tinyfl.device_model predicts from its shard."""
from __future__ import annotations

import time

import numpy as np
import pytest

from tinyfl.demo import DemoOptions, prepare
from tinyfl.device_model import ChaCha20Drbg, device_round, stats_features, fixed_seed_bytes
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.fleet import DeviceSession, initial_head
from tinyfl.links import open_link
from tinyfl.wire import GlobalModel, Hello, Update

SEED, DEVICE_ID = 1234, 7


def _update(session: DeviceSession, message: GlobalModel) -> Update:
    session.send(message)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for item in session.receive(0.2):
            if isinstance(item.message, Update):
                return item.message
            assert item.message is None or isinstance(item.message, Hello), item.message
    raise AssertionError("no update")


@pytest.mark.parametrize("board, backbone_name", [
    ("native", "stats"), ("qemu", "stats"), ("qemu-rv32", "stats"),
    # the generated int8 CNN on rv32 (portable kernels): its features must be the host's bits
    ("qemu-rv32", "cnn"),
])
def test_device_sends_what_the_model_of_the_device_predicts(board, backbone_name, tmp_path, request):
    if board != "native":
        request.getfixturevalue("qemu" if board == "qemu" else "qemu_rv32")
    options = DemoOptions(board=board, backbone=backbone_name, samples_per_round=8)
    data, backbone, config = prepare(options, lambda _m: None)
    windows, labels = data.x_train[:12], data.y_train[:12]  # the shard wraps: 8, then 4 + 4
    shard = write_shard(tmp_path / "shard.bin", windows, labels)
    firmware = build_firmware(board, config, test_build=True, test_seed=SEED,
                              model_sources=backbone.model_sources, defines=backbone.defines or None)
    features = stats_features if backbone_name == "stats" else backbone.features
    head = initial_head(config.n_classes, config.n_features, 3).params
    drbg = ChaCha20Drbg(fixed_seed_bytes(SEED, DEVICE_ID))
    dp = config.dp
    order = [list(range(0, 8)), list(range(8, 12)) + list(range(0, 4))]
    with launch_fleet(board, 1, firmware, [shard], tmp_path / "b", device_ids=[DEVICE_ID]) as fleet:
        session = DeviceSession(open_link(fleet.urls[0]), "dev")
        assert session.hello().flags & 1  # a test build says so
        for round_number, idx in enumerate(order, start=1):
            message = GlobalModel(run=1, round=round_number, nonce=round_number, lr=0.1, local_epochs=3,
                                  batch_size=3, n_classes=config.n_classes,
                                  n_features=config.n_features, params=head)
            got = _update(session, message)
            _, want = device_round(head, features(windows[idx]), labels[idx],
                                   n_classes=config.n_classes, n_features=config.n_features,
                                   lr=0.1, epochs=3, batch=3, clip=dp.clip,
                                   grid_bits=dp.grid_bits, noise_multiplier=dp.noise_multiplier,
                                   drbg=drbg)
            assert got.sample_count == len(idx)
            # float training may differ by an ulp, which can move a value by one grid step;
            # the noise (the same generator stream) must be identical
            diff = np.abs(got.values - want)
            assert diff.max() <= 1, diff
            assert np.mean(diff == 0) >= 0.95
        session.close()
