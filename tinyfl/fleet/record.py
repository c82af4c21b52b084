"""The run record: everything the host sent and received, as bytes, plus what it decided.

Layout of a run directory:
    frames.jsonl          one line per frame: {"t", "device", "dir": "tx"|"rx", "round", "hex"}
    events.jsonl          rejections, timeouts, drops, refusals, resumes, with reasons
    hellos.jsonl          every hello each device sent, in order, one per line (appended: the
                          hello phase of N devices writes O(N); older runs: hellos.json)
    config.json           the fleet configuration and each device's DP configuration
    state.jsonl           the checkpoint a restarted aggregator resumes from, as a journal: a
                          "start" line, then one line per change (a round begun, a round
                          ended with its report, an evaluation), replayed on resume; a last
                          line cut short by a crash is ignored (older runs: state.json)
    rounds/NNNN/global.npz  the head sent in round N (params, n_classes, n_features)
    rounds/NNNN/result.npz  the aggregated head after round N (rounds/0000: the initial head)

Lines are written in batches: the exchange loop hands what it recorded to the OS once per
pass (one write per file, not one per line), so a crash of the host process loses at most the
lines of the pass it was in. Durability against power loss is batched per round: `sync()`
fsyncs frames.jsonl, events.jsonl, hellos.jsonl and the directory (one fsync per file per
round, not per device) before the round's result and checkpoint are written; the result (like
every JSON and head file) is written to a temporary file, fsynced, renamed, and the directory
fsynced, and each state line is fsynced once appended. An update counts as accepted only once
this is done. The reader
decodes the recorded bytes with the same FrameDecoder a live host uses: attacks and audits see
exactly what the server saw, nothing more.
"""
from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..wire import FrameDecoder, GlobalModel, ReceivedMessage, Update

__all__ = [
    "FrameRecord",
    "Head",
    "RecordedMessage",
    "RunReader",
    "RunRecorder",
    "apply_state",
    "holds_run",
    "recompute_globals",
    "split_frames",
]

FRAMES = "frames.jsonl"
EVENTS = "events.jsonl"
HELLOS = "hellos.jsonl"
HELLOS_V1 = "hellos.json"  # runs recorded before hellos were appended
CONFIG = "config.json"
STATE = "state.jsonl"
STATE_V1 = "state.json"  # runs recorded before the state became a journal
# Recorded lines wait in memory until the exchange loop flushes them, or until this many bytes
# have piled up.
FLUSH_BYTES = 1 << 20
# Bytes with no frame delimiter are still recorded once this many have piled up, so garbage
# on a link can neither grow the host's memory nor go unrecorded.
MAX_PENDING_RX = 1024


def round_dir(run_dir: Path, round_number: int) -> Path:
    return Path(run_dir) / "rounds" / f"{round_number:04d}"


@dataclass(frozen=True)
class Head:
    """A dense head as it goes on the wire: W row-major, then b."""

    params: np.ndarray  # float32, n_classes * (n_features + 1)
    n_classes: int
    n_features: int

    @property
    def weights(self) -> np.ndarray:
        return self.params[: self.n_classes * self.n_features].reshape(
            self.n_classes, self.n_features)

    @property
    def bias(self) -> np.ndarray:
        return self.params[self.n_classes * self.n_features:]


def fsync_dir(path: Path) -> None:
    """Makes a directory's entries (a file created or renamed in it) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_durably(tmp: Path, path: Path, durable: bool) -> None:
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def save_head(path: Path, head: Head) -> None:
    created = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if created:
        fsync_dir(path.parent.parent)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, params=np.asarray(head.params, dtype=np.float32),
                 n_classes=np.int64(head.n_classes), n_features=np.int64(head.n_features))
        f.flush()
        os.fsync(f.fileno())
    _replace_durably(tmp, path, True)


def load_head(path: Path) -> Head:
    with np.load(path) as data:
        return Head(params=data["params"].astype(np.float32),
                    n_classes=int(data["n_classes"]), n_features=int(data["n_features"]))


def write_json_atomic(path: Path, obj: Any, durable: bool = True) -> None:
    """Writes a whole JSON file so that a reader sees the old or the new one, never a mix;
    `durable` also fsyncs it and its directory before returning."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")
        if durable:
            f.flush()
            os.fsync(f.fileno())
    _replace_durably(tmp, path, durable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def split_frames(pending: bytes) -> tuple[list[bytes], bytes]:
    """Splits a byte stream after each 0x00 delimiter: (complete frames, the unfinished rest)."""
    frames = []
    start = 0
    while True:
        end = pending.find(b"\x00", start)
        if end < 0:
            break
        frames.append(pending[start:end + 1])
        start = end + 1
    return frames, pending[start:]


class _Batch:
    """One JSONL file's lines waiting to be written together."""

    def __init__(self, path: Path) -> None:
        self.stream = _open_jsonl(path)
        self.lines: list[str] = []
        self.size = 0

    def add(self, line: str) -> bool:
        """Queues a line; True when the batch has grown big enough to be written now."""
        self.lines.append(line)
        self.size += len(line)
        return self.size >= FLUSH_BYTES

    def flush(self) -> None:
        if self.lines and not self.stream.closed:
            self.stream.write("".join(self.lines))
            self.stream.flush()
        self.lines.clear()
        self.size = 0


class RunRecorder:
    """Appends to a run directory; safe to call from many threads (an exchange loop and the
    threads of links that cannot be polled)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._frames = _Batch(self.run_dir / FRAMES)
        self._events = _Batch(self.run_dir / EVENTS)
        self._hellos = _Batch(self.run_dir / HELLOS)
        self._state: Any = None  # state.jsonl, opened at the first checkpoint
        self._names: dict[str, str] = {}  # device name -> its JSON string

    def _load(self, name: str) -> Any:
        path = self.run_dir / name
        return json.loads(path.read_text()) if path.exists() else None

    def _add(self, batch: _Batch, line: str) -> None:
        with self._lock:
            if batch.add(line):
                batch.flush()

    def _append(self, batch: _Batch, record: dict[str, Any]) -> None:
        self._add(batch, json.dumps(record, default=_jsonable) + "\n")

    def flush(self) -> None:
        """Hands every queued line to the OS (a crash of this process no longer loses them;
        power loss still may, until sync())."""
        with self._lock:
            for batch in (self._frames, self._events, self._hellos):
                batch.flush()

    def _frame_line(self, device: str, direction: str, round_number: int, hex_data: str,
                    t: float) -> str:
        # the hottest line of a fleet: built directly, in json.dumps's own format
        name = self._names.get(device)
        if name is None:
            name = self._names.setdefault(device, json.dumps(device))
        return (f'{{"t": {float(t)!r}, "device": {name}, "dir": "{direction}", '
                f'"round": {int(round_number)}, "hex": "{hex_data}"}}\n')

    def frame(self, device: str, direction: str, round_number: int, data: bytes) -> None:
        """Records one frame (or one run of undelimited bytes) exactly as sent or received."""
        if direction not in ("tx", "rx"):
            raise ValueError(f"direction must be tx or rx, not {direction!r}")
        self._add(self._frames, self._frame_line(device, direction, round_number, data.hex(),
                                                 time.time()))

    def reset(self, device: str, round_number: int) -> None:
        """Marks that the device's link was reopened: its received stream starts afresh."""
        self._append(self._frames, {"t": time.time(), "device": device, "dir": "rx",
                                    "round": round_number, "hex": "", "reset": True})

    def frames(self, device: str, direction: str, round_number: int, data: bytes) -> None:
        """Records encoded output one frame per line."""
        if direction not in ("tx", "rx"):
            raise ValueError(f"direction must be tx or rx, not {direction!r}")
        t = time.time()
        lines = "".join(self._frame_line(device, direction, round_number, h, t)
                        for h in _frame_hex(data))
        self._add(self._frames, lines)

    def event(self, kind: str, *, round_number: int | None = None, device: str | None = None,
              **detail: Any) -> None:
        self._append(self._events, {"t": time.time(), "kind": kind, "round": round_number,
                                    "device": device, **detail})

    def hello(self, device: str, hello: Any) -> None:
        """Keeps every hello a device sent (boot, on request, after a restart); made durable
        with the round (sync), not once per hello."""
        self._append(self._hellos, {"t": time.time(), "device": device, **_fields(hello)})

    def sync(self) -> None:
        """Makes everything recorded so far durable: frames, events, hellos, the directory."""
        with self._lock:
            for batch in (self._frames, self._events, self._hellos):
                batch.flush()
                if not batch.stream.closed:
                    os.fsync(batch.stream.fileno())
        fsync_dir(self.run_dir)

    def save_config(self, config: dict[str, Any]) -> None:
        write_json_atomic(self.run_dir / CONFIG, config)

    def save_head(self, round_number: int, which: str, head: Head) -> Path:
        if which not in ("global", "result"):
            raise ValueError(f"which must be global or result, not {which!r}")
        path = round_dir(self.run_dir, round_number) / f"{which}.npz"
        save_head(path, head)
        return path

    def save_state(self, state: dict[str, Any]) -> None:
        """Starts the state journal afresh from a whole state (a new run)."""
        self.append_state({"op": "start", "state": state})

    def append_state(self, entry: dict[str, Any]) -> None:
        """Appends one change to the state journal (see apply_state) and makes it durable
        before returning: one line per round, not the whole history again."""
        line = json.dumps(entry, sort_keys=True, default=_jsonable) + "\n"
        with self._lock:
            if self._state is None:
                path = self.run_dir / STATE
                created = not path.exists()
                self._state = _open_jsonl(path)
                if created:
                    fsync_dir(self.run_dir)
            self._state.write(line)
            self._state.flush()
            os.fsync(self._state.fileno())

    def load_state(self) -> dict[str, Any] | None:
        """The checkpoint: the journal replayed (an older run's state.json is carried over
        into a journal, so resuming it appends as a new run would)."""
        state = _replay_state(self.run_dir)
        if state is None and (self.run_dir / STATE_V1).exists() and \
                not (self.run_dir / STATE).exists():
            state = self._load(STATE_V1)
            self.save_state(state)
        return state

    def close(self) -> None:
        with self._lock:
            for batch in (self._frames, self._events, self._hellos):
                batch.flush()
                batch.stream.close()
            if self._state is not None:
                self._state.close()

    def __enter__(self) -> RunRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.lru_cache(maxsize=256)
def _frame_hex(data: bytes) -> tuple[str, ...]:
    """The frames of encoded output in hex, one per line; a round's head goes to the whole
    fleet as the same few byte strings, so each is converted once."""
    complete, rest = split_frames(data)
    return tuple(f.hex() for f in complete + ([rest] if rest else []))


def apply_state(state: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any] | None:
    """One journal line applied to the state (the live aggregator and the replay use it)."""
    op = entry.get("op")
    if op == "start":
        return entry["state"]
    if state is None:
        raise ValueError(f"state journal: {op!r} before the start of the run")
    if op == "fleet":
        state["fleet"] = entry["fleet"]
    elif op == "begin":
        state["in_progress"] = {"round": entry["round"], "nonce": entry["nonce"]}
    elif op == "end":
        report = entry["report"]
        state["history"].append(report)
        state["next_round"] = int(report["round"]) + 1
        state["in_progress"] = None
    elif op == "evaluation":
        metrics = entry["metrics"]
        state["evaluations"].append(metrics)
        if state["history"] and state["history"][-1]["round"] == metrics["round"]:
            state["history"][-1]["evaluation"] = metrics
    else:
        raise ValueError(f"state journal: unknown entry {op!r}")
    return state


def _replay_state(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / STATE
    if not path.exists():
        return None
    state = None
    for line in _complete_lines(path):
        state = apply_state(state, json.loads(line))
    return state


def holds_run(run_dir: str | Path) -> bool:
    """Whether a run directory holds a run's checkpoint (a run to resume)."""
    run_dir = Path(run_dir)
    journal = run_dir / STATE
    return (journal.exists() and journal.stat().st_size > 0) or (run_dir / STATE_V1).exists()


def _open_jsonl(path: Path) -> Any:
    """Opens a JSONL file for appending, first cutting off a last line that a crash left
    unfinished (it holds no complete record, and appending to it would spoil the next)."""
    if path.exists():
        with open(path, "rb+") as f:
            end = f.seek(0, os.SEEK_END)
            pos = end
            while pos > 0:
                start = max(0, pos - 4096)
                f.seek(start)
                newline = f.read(pos - start).rfind(b"\n")
                if newline >= 0:
                    pos = start + newline + 1
                    break
                pos = start
            if pos != end:
                f.truncate(pos)
    return open(path, "a", encoding="utf-8")


def _fields(message: Any) -> dict[str, Any]:
    if is_dataclass(message):
        return {f.name: getattr(message, f.name) for f in fields(message)}
    return dict(message)


@dataclass(frozen=True)
class FrameRecord:
    t: float
    device: str
    direction: str
    round: int
    data: bytes
    reset: bool = False  # the link was reopened here: decoding starts afresh


@dataclass(frozen=True)
class RecordedMessage:
    """A message decoded from the record; `round` is the round during which it was read."""

    round: int
    device: str
    direction: str
    t: float
    received: ReceivedMessage

    @property
    def message(self) -> Any:
        return self.received.message


class RunReader:
    """Reads a run directory back, decoding frames with the live host's FrameDecoder."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        if not (self.run_dir / FRAMES).exists():
            raise FileNotFoundError(f"{self.run_dir} holds no {FRAMES}: not a tinyfl run")
        # (device, direction) -> rejection counts by status, filled by a complete messages()
        self.rejected: dict[tuple[str, str], dict[str, int]] = {}

    def _json(self, name: str) -> Any:
        path = self.run_dir / name
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def config(self) -> dict[str, Any]:
        return self._json(CONFIG) or {}

    @property
    def hellos(self) -> dict[str, list[dict[str, Any]]]:
        """device -> every hello it sent, in order."""
        path = self.run_dir / HELLOS
        if not path.exists():
            return self._json(HELLOS_V1) or {}
        out: dict[str, list[dict[str, Any]]] = {}
        for line in _complete_lines(path):
            record = json.loads(line)
            out.setdefault(record.pop("device"), []).append(record)
        return out

    @property
    def state(self) -> dict[str, Any] | None:
        """The checkpoint, as a resuming aggregator would see it."""
        return _replay_state(self.run_dir) or self._json(STATE_V1)

    def events(self) -> list[dict[str, Any]]:
        path = self.run_dir / EVENTS
        if not path.exists():
            return []
        return [json.loads(line) for line in _complete_lines(path)]

    def rounds(self) -> list[int]:
        """Rounds whose global head was sent."""
        base = self.run_dir / "rounds"
        if not base.exists():
            return []
        return sorted(int(p.name) for p in base.iterdir()
                      if p.name.isdigit() and (p / "global.npz").exists())

    def global_head(self, round_number: int) -> Head:
        return load_head(round_dir(self.run_dir, round_number) / "global.npz")

    def result_head(self, round_number: int) -> Head | None:
        path = round_dir(self.run_dir, round_number) / "result.npz"
        return load_head(path) if path.exists() else None

    def frame_records(self, direction: str | None = None,
                      device: str | None = None) -> Iterator[FrameRecord]:
        for line in _complete_lines(self.run_dir / FRAMES):
            rec = json.loads(line)
            if direction is not None and rec["dir"] != direction:
                continue
            if device is not None and rec["device"] != device:
                continue
            yield FrameRecord(t=rec["t"], device=rec["device"], direction=rec["dir"],
                              round=rec["round"], data=bytes.fromhex(rec["hex"]),
                              reset=bool(rec.get("reset", False)))

    def messages(self, direction: str | None = "rx",
                 device: str | None = None) -> Iterator[RecordedMessage]:
        """Decodes each device's stream in order, one FrameDecoder per device and direction,
        exactly as the live host fed its decoder."""
        decoders: dict[tuple[str, str], FrameDecoder] = defaultdict(FrameDecoder)
        for rec in self.frame_records(direction, device):
            if rec.reset:
                decoders[(rec.device, rec.direction)] = FrameDecoder()
                continue
            for received in decoders[(rec.device, rec.direction)].feed(rec.data):
                yield RecordedMessage(round=rec.round, device=rec.device,
                                      direction=rec.direction, t=rec.t, received=received)
        self.rejected = {key: dict(dec.rejected) for key, dec in decoders.items()}

    def updates(self, round_number: int | None = None) -> Iterator[RecordedMessage]:
        """Every Update received (accepted or not), in the order received."""
        for rm in self.messages("rx"):
            if isinstance(rm.message, Update) and (round_number is None
                                                   or rm.round == round_number):
                yield rm

    def sent_globals(self) -> dict[int, dict[str, GlobalModel]]:
        """round -> device -> the GlobalModel message sent to it (decoded from tx frames)."""
        out: dict[int, dict[str, GlobalModel]] = defaultdict(dict)
        for rm in self.messages("tx"):
            if isinstance(rm.message, GlobalModel):
                out[rm.message.round][rm.device] = rm.message
        return dict(out)


def _complete_lines(path: Path) -> Iterator[str]:
    """Lines of a JSONL file, skipping a last line cut short by a crash."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                yield line


def recompute_globals(run_dir: str | Path) -> dict[int, np.ndarray]:
    """FedAvg recomputed from the recorded frames alone: round -> head after that round.

    For each round, the head and nonce come from the global_model frames sent; each device's
    update is judged with the live host's rule (tinyfl.fleet.device.judge, with the fleet's DP
    configuration from config.json) on the messages read during that round, the first answer
    that ends the round winning, as it did live; a round interrupted by a crash and finished
    on resume is one round with one nonce, so it adds up the same way. server_lr comes from
    config.json, and an average the wire could not carry leaves the head unchanged
    (tinyfl.fleet.aggregator.next_head), as it did live.
    """
    from ..firmware_config import DpConfig
    from .aggregator import next_head
    from .device import Expectation, Outcome, judge

    reader = RunReader(run_dir)
    config = reader.config
    server_lr = float(config["fleet"]["server_lr"])
    dp = DpConfig(**config["dp"]) if "dp" in config else None
    order = config.get("device_order") or [d["name"] for d in config.get("devices", [])]
    sent = reader.sent_globals()
    received: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for rm in reader.messages("rx"):
        if rm.message is not None:
            received[(rm.round, rm.device)].append(rm.message)

    results: dict[int, np.ndarray] = {}
    for round_number in sorted(sent):
        per_device = sent[round_number]
        heads = {m.params.tobytes() for m in per_device.values()}
        if len(heads) != 1:
            raise ValueError(f"round {round_number}: devices were sent different heads")
        first = next(iter(per_device.values()))
        accepted = []
        for name in order + sorted(set(per_device) - set(order)):
            if name not in per_device:
                continue
            expect = Expectation(round=round_number, nonce=per_device[name].nonce,
                                 n_classes=first.n_classes, n_features=first.n_features,
                                 run=per_device[name].run, dp=dp)
            for message in received.get((round_number, name), []):
                outcome = judge(message, expect).outcome
                if outcome is None:
                    continue
                if outcome is Outcome.OK:
                    accepted.append(message)
                break
        results[round_number], _ = next_head(first.params, accepted, server_lr)
    return results
