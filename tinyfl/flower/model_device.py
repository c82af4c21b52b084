"""A simulated board: the Python model of the device (tinyfl.device_model) behind a Link.

It speaks the wire protocol like a test build of the firmware (fixed seed TINYFL_TEST_SEED):
hello on request, a refusal of a (run, round) it already released for, the same update again
for a resend, the RDP ledger of tinyfl.privacy.ledger charged before the update leaves, and
each round's samples taken from its shard in order, wrapping around, as the native board takes
them from its shard file. Everything is answered when written: read() never waits.

z = 0 models a TINYFL_TEST_NO_NOISE image (no noise, the budget not enforced, eps infinite).
native_protect=True clips, rounds and noises with the firmware's own C (tinyfl_protect.c and
its ChaCha20 generator, keyed with the same test seed, through the audit's ctypes library):
the same integers as the Python model, about six times faster at 330 parameters (0.8 ms
instead of 5 ms per device and round), which a 10,000-device fleet needs.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..attack.malicious import guard_check
from ..device_model import ChaCha20Drbg, device_round, fixed_seed_bytes, grid_step, head_train
from ..device_model.release_policy import DeviceState, apply, decide
from ..firmware_config import DpConfig
from ..privacy.ledger import curve_for
from ..privacy.noise import effective_noise_multiplier, noise_variance
from ..wire import (MAX_CHUNK, BudgetExhausted, Error, FrameDecoder, GlobalModel, Hello,
                    HelloRequest, Status, Update, encode_message)

__all__ = ["ModelDevice"]

TEST_BUILD = 0x01
GUARD_REASONS = {"zero_row": 1, "bias": 2, "weight": 3}  # tinyfl_guard_reason (tinyfl_guard.h)


@lru_cache(maxsize=8)
def _guard(params: bytes, n_classes: int, n_features: int) -> str | None:
    """guard_check, once per head: every device of a round receives the same one."""
    return guard_check(np.frombuffer(params, dtype=np.float32), n_classes, n_features)


class ModelDevice:
    """One modelled board. features: its shard's backbone features (n, n_features), float32;
    labels: (n,). samples_per_round as compiled into the firmware."""

    def __init__(self, name: str, device_id: int, features: np.ndarray, labels: np.ndarray, *,
                 n_classes: int, samples_per_round: int, dp: DpConfig, test_seed: int,
                 model_hash: int = 0, firmware_hash: int = 0,
                 native_protect: bool = False) -> None:
        self.url = f"model://{name}"
        self.device_id = device_id
        self.features = np.asarray(features, dtype=np.float32)
        self.labels = np.asarray(labels)
        self.n_classes, self.n_features = n_classes, self.features.shape[1]
        self.samples_per_round = samples_per_round
        self.dp = dp
        self.model_hash, self.firmware_hash = model_hash, firmware_hash
        self.noisy = dp.noise_multiplier > 0
        self.state = DeviceState(curve_for(dp.noise_multiplier, dp.delta, dp.eps_limit),
                                 no_noise=not self.noisy)
        seed = fixed_seed_bytes(test_seed, device_id)
        self.drbg = ChaCha20Drbg(seed)
        self._native = None
        if native_protect:
            from ..audit.mechanism import mechanism_library

            self._native = mechanism_library(seed)
        self._noise_var = noise_variance(dp.noise_multiplier, dp.grid_bits) if self.noisy else None
        self.cursor = 0
        self.refusals = [0] * len(Status)
        self._decoder = FrameDecoder()
        self._out = bytearray()
        self._seq = 0
        self._cached: Update | None = None
        self.closed = False

    # --- Link ---------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        for item in self._decoder.feed(data):
            self._handle(item.message)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        data = bytes(self._out[:max_bytes])
        del self._out[:max_bytes]
        return data

    def close(self) -> None:
        self.closed = True

    # --- the device ---------------------------------------------------------------------
    def _send(self, message: object) -> None:
        self._out += encode_message(message, self._seq, MAX_CHUNK)
        self._seq = (self._seq + 1) & 0xFFFF

    def _refuse(self, code: Status, round_number: int, detail: int = 0) -> None:
        self.refusals[int(code)] += 1
        self._send(Error(code=int(code), round=round_number, detail=detail))

    def hello(self) -> Hello:
        ledger, curve = self.state.ledger, self.state.curve
        return Hello(device_id=self.device_id, firmware_hash=self.firmware_hash,
                     model_hash=self.model_hash, n_classes=self.n_classes,
                     n_features=self.n_features, clip=self.dp.clip,
                     noise_multiplier=effective_noise_multiplier(self.dp.noise_multiplier),
                     grid_bits=self.dp.grid_bits, delta=self.dp.delta,
                     eps_limit=self.dp.eps_limit, eps_spent=ledger.eps(curve),
                     releases_done=ledger.releases_done,
                     releases_max=ledger.releases_max(curve), flags=TEST_BUILD,
                     max_chunk=MAX_CHUNK, last_run=ledger.last_run,
                     last_round=ledger.last_round, refusals=np.asarray(self.refusals))

    def _handle(self, message: object) -> None:
        if message is None:
            return  # a frame that did not decode: the firmware drops it too
        if isinstance(message, HelloRequest):
            self._send(self.hello())
            return
        if not isinstance(message, GlobalModel):
            self._refuse(Status.TYPE, 0)
            return
        gm = message
        if (gm.n_classes, gm.n_features) != (self.n_classes, self.n_features):
            self._refuse(Status.SHAPE, gm.round, self.n_classes)
            return
        if decide(self.state, gm.run, gm.round, gm.nonce) in ("release", "BUDGET"):
            # the firmware's crafted-head guard runs after the round and entropy checks and
            # before the budget (tinyfl_device.c), whatever the averaged noise did to the head
            reason = _guard(np.asarray(gm.params, dtype=np.float32).tobytes(), self.n_classes,
                            self.n_features)
            if reason is not None:
                self._refuse(Status.CRAFTED, gm.round, GUARD_REASONS[reason])
                return
        decision = apply(self.state, gm.run, gm.round, gm.nonce)
        if decision == "resend" and self._cached is not None:
            self._send(self._cached)
            return
        if decision == "ROUND":
            self._refuse(Status.ROUND, gm.round, self.state.ledger.last_round)
            return
        if decision == "BUDGET":
            self.refusals[int(Status.BUDGET)] += 1
            ledger = self.state.ledger
            self._send(BudgetExhausted(round=gm.round, eps_spent=ledger.eps(self.state.curve),
                                       eps_limit=self.dp.eps_limit,
                                       releases_done=ledger.releases_done))
            return
        if decision != "release":
            self._refuse(Status[decision], gm.round)
            return
        n = len(self.labels)
        idx = (self.cursor + np.arange(self.samples_per_round)) % n
        self.cursor = (self.cursor + self.samples_per_round) % n
        values = self._release(np.asarray(gm.params, dtype=np.float32), idx, float(gm.lr),
                               int(gm.local_epochs), int(gm.batch_size))
        ledger = self.state.ledger
        self._cached = Update(run=gm.run, round=gm.round, nonce=gm.nonce,
                              sample_count=len(idx),
                              grid_step=float(grid_step(self.dp.clip, self.dp.grid_bits)),
                              eps_spent=ledger.eps(self.state.curve),
                              releases_done=ledger.releases_done, n_classes=self.n_classes,
                              n_features=self.n_features, values=np.asarray(values))
        self._send(self._cached)

    def _release(self, params: np.ndarray, idx: np.ndarray, lr: float, epochs: int,
                 batch: int) -> np.ndarray:
        """The integers of this round's update (local training, clip, grid, noise)."""
        if self._native is None:
            return device_round(params, self.features[idx], self.labels[idx],
                                n_classes=self.n_classes, n_features=self.n_features, lr=lr,
                                epochs=epochs, batch=batch, clip=self.dp.clip,
                                grid_bits=self.dp.grid_bits,
                                noise_multiplier=self.dp.noise_multiplier if self.noisy else None,
                                drbg=self.drbg)[1]
        trained = head_train(params, self.features[idx], self.labels[idx],
                             n_classes=self.n_classes, n_features=self.n_features, lr=lr,
                             epochs=epochs, batch=batch)
        return self._native.releases(trained - params, 1, clip=self.dp.clip,
                                     grid_bits=self.dp.grid_bits,
                                     noise_var=self._noise_var)[0].astype(np.int64)
