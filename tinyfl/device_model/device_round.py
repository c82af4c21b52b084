"""One whole device round, as tinyfl_device.c computes it: features of the round's samples,
local training from the received head, update = after - before, clip, grid, noise.

This is the host's model of an honest device: tests hold the firmware to it, and audits and
attacks use it to simulate devices at any noise level.
"""
from __future__ import annotations

import struct
from typing import Callable

import numpy as np

from .chacha20 import SEED_SIZE, ChaCha20Drbg
from .head import head_train
from .protect import protect_update

__all__ = ["fixed_seed_bytes", "device_round"]


def fixed_seed_bytes(test_seed: int, device_id: int) -> bytes:
    """The generator seed of a test build (TINYFL_TEST_SEED): never used by release firmware."""
    return struct.pack("<II", test_seed & 0xFFFFFFFF, device_id & 0xFFFFFFFF) + bytes(SEED_SIZE - 8)


def device_round(global_params: np.ndarray, features: np.ndarray, labels: np.ndarray, *,
                 n_classes: int, n_features: int, lr: float, epochs: int, batch: int,
                 clip: float, grid_bits: int, noise_multiplier: float | None,
                 drbg: ChaCha20Drbg | None) -> tuple[np.ndarray, np.ndarray]:
    """(clipped float update, the integers the device sends). noise_multiplier None: a test
    build without noise."""
    params = np.asarray(global_params, dtype=np.float32)
    trained = head_train(params, features, labels, n_classes=n_classes, n_features=n_features,
                         lr=lr, epochs=epochs, batch=batch)
    update = (trained - params).astype(np.float32)
    from ..privacy.noise import noise_variance  # privacy.noise builds on this package

    var = None if noise_multiplier is None else noise_variance(noise_multiplier, grid_bits)
    return protect_update(update, clip, grid_bits, var, drbg)
