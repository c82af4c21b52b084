"""A fake device for fast aggregator tests: a TCP server on 127.0.0.1 that speaks tinyfl's wire
protocol like a board's serial port, with deterministic updates and chosen misbehaviour.

Like firmware it sends hello when a host connects, answers hello_request, refuses a (run,
round) it has already released for, answers a resend of its last release (same run, round and
nonce) with the same update at no new cost, counts its releases and refusals and reports its
eps; its state survives the host reconnecting (a board keeps its ledger in storage).

Modes (applied in `rounds`, every round when None):
  ok            a correct update
  silent        never answers the global model
  late          answers after `delay_s`
  wrong_nonce   answers with the nonce changed (a replay)
  replay_old    answers with its previous round's update again
  garbage       answers with random bytes (ending in a frame delimiter), resends too
  bitflip       answers with one bit of the update's frames flipped (a resend goes through)
  disconnect    sends half of the update, then drops the connection
  budget        refuses with budget_exhausted
  refuse        refuses with an error (CRAFTED)
  bad_shape     answers with one value missing
  lie_eps       reports half the eps it spent
  big_norm      an update 1000 times longer than its clip bound and noise allow
  wrong_grid    an update on a grid 16 times coarser than the one it advertises
  no_samples    refuses with an error (NO_SAMPLES)
  lose_update   releases, but the update never leaves (a resend gets it)
  lose_head     drops the first global_model of the round as corrupted and says so
                (error CRC for round 0), like a board that got a bit-flipped frame
"""
from __future__ import annotations

import random
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tinyfl.wire import (
    BudgetExhausted,
    Error,
    FrameDecoder,
    GlobalModel,
    Hello,
    HelloRequest,
    Status,
    Update,
    encode_message,
)

MODES = ("ok", "silent", "late", "wrong_nonce", "replay_old", "garbage", "bitflip",
         "disconnect", "budget", "refuse", "bad_shape", "lie_eps", "big_norm", "wrong_grid",
         "no_samples", "lose_update", "lose_head")


def stand_in_epsilon(noise_multiplier: float, releases: int, delta: float) -> float:
    """A simple monotone accountant for tests that only check host/device agreement."""
    return releases * (1.0 + delta) / noise_multiplier


def deterministic_values(index: int, round_number: int, params: np.ndarray) -> np.ndarray:
    """Integers that depend on the device, the round and the head received (so a run that
    sends a different head gets different updates)."""
    i = np.arange(params.size, dtype=np.int64)
    base = ((index + 1) * 7 + i * 3 + round_number * 5) % 17 - 8
    pull = np.clip(np.rint(-params.astype(np.float64) * 16.0), -50, 50).astype(np.int64)
    return base + pull


@dataclass
class FakeDevice:
    index: int
    n_classes: int = 3
    n_features: int = 4
    mode: str = "ok"
    rounds: set[int] | None = None
    delay_s: float = 0.0
    clip: float = 1.0
    grid_bits: int = 8
    noise_multiplier: float = 1.0
    delta: float = 1e-5
    eps_limit: float = 1000.0
    releases_done: int = 0
    releases_max: int = 1000
    flags: int = 0
    max_chunk: int = 240
    epsilon: Callable[[float, int, float], float] = stand_in_epsilon
    boot_delay_s: float = 0.05

    last_run: int = 0
    last_round: int = 0
    last_nonce: int | None = None
    eps_spent: float = 0.0
    resends_answered: int = 0
    connections: int = 0
    received: list = field(default_factory=list)  # every decoded message, for assertions
    sent_bytes: bytearray = field(default_factory=bytearray)  # everything it wrote

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode}")
        self.eps_spent = (self.epsilon(self.noise_multiplier, self.releases_done, self.delta)
                          if self.releases_done else 0.0)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.url = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
        self._stop = threading.Event()
        self._conn: socket.socket | None = None
        self._seq = 0
        self._last_update: bytes | None = None
        self._cached: Update | None = None  # the last release, for a resend
        self._replayed: bytes | None = None
        self._lost_heads: set[tuple[int, int]] = set()
        self.refusals = [0] * len(Status)
        self._rng = random.Random(self.index)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.waiting_late = threading.Event()  # set while a late answer is being held back
        self._lateness_over = threading.Event()

    def end_lateness(self) -> None:
        """Sends any held-back answer now and answers on time from here on."""
        self.rounds = set()
        self._lateness_over.set()

    # --- server -------------------------------------------------------------------------
    def start(self) -> FakeDevice:
        thread = threading.Thread(target=self._accept_loop, daemon=True,
                                  name=f"fake-device-{self.index}")
        thread.start()
        self._threads.append(thread)
        return self

    def signal_stop(self) -> None:
        self._stop.set()
        self._lateness_over.set()

    def stop(self) -> None:
        self.signal_stop()
        for thread in self._threads:
            thread.join(timeout=2)
        self._server.close()

    def __enter__(self) -> FakeDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.connections += 1
            self._serve(conn)  # one host at a time, like a serial port

    def _out(self, conn: socket.socket, data: bytes) -> None:
        self.sent_bytes += data
        conn.sendall(data)

    def _encode(self, message: object) -> bytes:
        data = encode_message(message, self._seq, self.max_chunk)
        self._seq = (self._seq + 1) & 0xFFFF
        return data

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        decoder = FrameDecoder()
        try:
            # pyserial empties its input right after connecting: a board takes a moment to
            # boot, and a hello sent at once could be discarded before the host reads it
            if self._stop.wait(self.boot_delay_s):
                return
            self._out(conn, self._encode(self.hello()))
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except (TimeoutError, socket.timeout):
                    continue
                if not data:
                    return
                for item in decoder.feed(data):
                    self.received.append(item.message)
                    if not self._handle(conn, item.message):
                        return
        except OSError:
            return
        finally:
            conn.close()

    # --- protocol -----------------------------------------------------------------------
    def hello(self) -> Hello:
        return Hello(device_id=1000 + self.index, firmware_hash=0xF00D, model_hash=0xBEEF,
                     n_classes=self.n_classes, n_features=self.n_features, clip=self.clip,
                     noise_multiplier=self.noise_multiplier, grid_bits=self.grid_bits,
                     delta=self.delta, eps_limit=self.eps_limit, eps_spent=self.eps_spent,
                     releases_done=self.releases_done, releases_max=self.releases_max,
                     flags=self.flags, max_chunk=self.max_chunk, last_run=self.last_run,
                     last_round=self.last_round, refusals=list(self.refusals))

    def _garbage(self, length: int) -> bytes:
        return bytes(self._rng.randrange(1, 256) for _ in range(length - 1)) + b"\x00"

    def _misbehaves(self, round_number: int) -> bool:
        return self.rounds is None or round_number in self.rounds

    def _refuse(self, conn: socket.socket, code: Status, round_number: int,
                detail: int = 0) -> bool:
        self.refusals[int(code)] += 1
        self._out(conn, self._encode(Error(code=int(code), round=round_number, detail=detail)))
        return True

    def _handle(self, conn: socket.socket, message: object) -> bool:
        """Answers one message; False when the connection is to be dropped."""
        if isinstance(message, HelloRequest):
            self._out(conn, self._encode(self.hello()))
            return True
        if not isinstance(message, GlobalModel):
            return self._refuse(conn, Status.TYPE, 0)
        gm = message
        mode = self.mode if self._misbehaves(gm.round) else "ok"
        if (gm.run, gm.round, gm.nonce) == (self.last_run, self.last_round, self.last_nonce) \
                and self._cached is not None:
            self.resends_answered += 1  # the same release again: no new charge
            data = self._encode(self._cached)
            if mode == "garbage":
                data = self._garbage(len(data))
            if mode == "replay_old" and self._replayed is not None:
                data = self._replayed  # a hostile device keeps replaying
            self._out(conn, data)
            return True
        if (gm.run, gm.round) <= (self.last_run, self.last_round):
            return self._refuse(conn, Status.ROUND, gm.round, self.last_round)
        if (gm.n_classes, gm.n_features) != (self.n_classes, self.n_features):
            return self._refuse(conn, Status.SHAPE, gm.round, self.n_classes)
        if mode == "lose_head" and (gm.run, gm.round) not in self._lost_heads:
            self._lost_heads.add((gm.run, gm.round))
            return self._refuse(conn, Status.CRC, 0)
        if mode == "silent":
            return True
        if mode == "refuse":
            return self._refuse(conn, Status.CRAFTED, gm.round)
        if mode == "no_samples":
            return self._refuse(conn, Status.NO_SAMPLES, gm.round)
        if mode == "budget" or self.releases_done >= self.releases_max:
            self.refusals[int(Status.BUDGET)] += 1
            self._out(conn, self._encode(BudgetExhausted(
                round=gm.round, eps_spent=self.eps_spent, eps_limit=self.eps_limit,
                releases_done=self.releases_done)))
            return True
        self.last_run, self.last_round, self.last_nonce = gm.run, gm.round, gm.nonce
        self.releases_done += 1
        self.eps_spent = float(np.float32(
            self.epsilon(self.noise_multiplier, self.releases_done, self.delta)))
        values = deterministic_values(self.index, gm.round, gm.params)
        if mode == "bad_shape":
            values = values[:-1]
        step = self.clip / 2 ** self.grid_bits
        if mode == "big_norm":
            values = values * 1000 + 1000
        if mode == "wrong_grid":
            step *= 16
        update = Update(run=gm.run, round=gm.round, nonce=gm.nonce ^ (1 if mode == "wrong_nonce" else 0),
                        sample_count=10, grid_step=step,
                        eps_spent=self.eps_spent * (0.5 if mode == "lie_eps" else 1.0),
                        releases_done=self.releases_done, n_classes=self.n_classes,
                        n_features=self.n_features, values=values)
        self._cached = update
        data = self._encode(update)
        if mode == "lose_update":
            return True
        self._replayed = None
        if mode == "replay_old" and self._last_update is not None:
            data, self._last_update = self._last_update, data
            self._replayed = data
        else:
            self._last_update = data
        if mode == "late":
            self.waiting_late.set()
            self._lateness_over.wait(self.delay_s)
            self.waiting_late.clear()
        if mode == "garbage":
            # noise in place of the frame; its delimiter still ends it, so the next frame is
            # read cleanly
            data = self._garbage(len(data))
        if mode == "bitflip":
            corrupted = bytearray(data)
            pos = len(corrupted) // 3
            while corrupted[pos] in (0x00, 0x10):  # never add or remove a delimiter
                pos += 1
            corrupted[pos] ^= 0x10
            data = bytes(corrupted)
        if mode == "disconnect":
            self._out(conn, data[: len(data) // 2])
            return False
        self._out(conn, data)
        return True
