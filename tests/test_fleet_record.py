"""The run record: complete (every byte received is in it), decodable with the live decoder,
readable after a crash cut a line short."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from fakes.fake_device import FakeDevice
from fakes.harness import run_fleet, running
from tinyfl.fleet import RunReader, RunRecorder
from tinyfl.fleet.record import split_frames
from tinyfl.wire import GlobalModel, Hello, Update, decode_frames


def test_split_frames_keeps_every_byte() -> None:
    frames, rest = split_frames(b"ab\x00\x00cd\x00ef")
    assert frames == [b"ab\x00", b"\x00", b"cd\x00"] and rest == b"ef"
    assert b"".join(frames) + rest == b"ab\x00\x00cd\x00ef"


def test_record_holds_every_byte_and_decodes_like_the_host(tmp_path: Path) -> None:
    # boot hellos come late enough that pyserial's flush on connect cannot discard them
    fakes = [FakeDevice(0, max_chunk=20, boot_delay_s=0.3),
             FakeDevice(1, mode="garbage", rounds={1}, boot_delay_s=0.3),
             FakeDevice(2, mode="disconnect", rounds={2}, boot_delay_s=0.3)]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 1.0})

    lines = [json.loads(line) for line in (tmp_path / "frames.jsonl").read_text().splitlines()]
    assert {k for line in lines for k in line} <= {"t", "device", "dir", "round", "hex", "reset"}
    assert {line["dir"] for line in lines} == {"tx", "rx"}

    reader = RunReader(tmp_path)
    for fake in fakes:
        name = f"fake{fake.index}"
        rx = b"".join(r.data for r in reader.frame_records("rx", name))
        assert rx == bytes(fake.sent_bytes), name  # nothing lost, nothing added
        tx_messages = [m.message for m in reader.messages("tx", name)]
        assert tx_messages == fake.received, name  # what the host sent, the device read

    # the host honoured fake0's max_chunk: every frame it sent fake0 is small
    for rec in reader.frame_records("tx", "fake0"):
        assert len(rec.data) <= 8 + 20 + 4 + 2 + 1
    # the global heads in the record are the ones sent over the wire
    sent = reader.sent_globals()
    for r in (1, 2):
        head = reader.global_head(r)
        for message in sent[r].values():
            assert isinstance(message, GlobalModel)
            assert np.array_equal(message.params, head.params)
            assert (message.n_classes, message.n_features) == (head.n_classes, head.n_features)
        assert {m.nonce for m in sent[r].values()} == {summary.rounds[r - 1].nonce}

    updates = list(reader.updates(1))
    assert sorted(u.device for u in updates) == ["fake0", "fake2"]
    assert all(isinstance(u.message, Update) and u.round == 1 for u in updates)
    assert reader.rejected[("fake1", "rx")]  # the garbage frame, counted on replay too
    hellos = reader.hellos
    assert set(hellos) == {"fake0", "fake1", "fake2"} and len(hellos["fake2"]) == 2
    dp = reader.config["devices_dp"]["fake0"]
    assert dp["noise_multiplier"] == 1.0 and dp["grid_bits"] == 8 and not dp["test_build"]
    assert reader.config["device_order"] == ["fake0", "fake1", "fake2"]
    with np.load(tmp_path / "rounds" / "0001" / "global.npz") as npz:
        assert set(npz.files) == {"params", "n_classes", "n_features"}
        assert npz["params"].dtype == np.float32


def test_reader_skips_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    recorder = RunRecorder(tmp_path)
    hello = Hello(device_id=1, firmware_hash=2, model_hash=3, n_classes=2, n_features=3,
                  clip=1.0, noise_multiplier=1.0, grid_bits=8, delta=1e-5, eps_limit=10.0,
                  eps_spent=0.0, releases_done=0, releases_max=10, flags=0, max_chunk=240,
                  last_run=0, last_round=0, refusals=[])
    from tinyfl.wire import encode_message

    data = encode_message(hello, 7)
    recorder.frames("d", "rx", 0, data)
    recorder.event("timeout", round_number=1, device="d", detail="x")
    recorder.close()
    with open(tmp_path / "frames.jsonl", "a") as f:
        f.write('{"t": 1.0, "device": "d", "dir": "rx", "ro')  # the crash
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write('{"kind": "resu')
    reader = RunReader(tmp_path)
    messages = list(reader.messages())
    assert [m.message for m in messages] == [hello] == [r.message for r in decode_frames(data)]
    assert messages[0].received.raw_frames == [data]
    assert [e["kind"] for e in reader.events()] == ["timeout"]
    # a recorder reopened on the same directory appends after the torn line
    again = RunRecorder(tmp_path)
    again.frames("d", "rx", 0, data)
    again.close()
    assert len(list(RunReader(tmp_path).messages())) == 2


def test_the_record_is_durable_before_a_round_result_or_checkpoint(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """Durability policy (docs/protocol.md): an update counts as accepted only once its
    frames are fsynced; the round's result head and the checkpoint come after."""
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        log.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    run_dir = tmp_path / "run"
    with running(FakeDevice(0), FakeDevice(1)) as fakes:
        run_fleet(fakes, run_dir, fleet={"rounds": 2})
    run = str(run_dir.resolve())
    for r in (1, 2):
        result = str(run_dir / "rounds" / f"{r:04d}" / "result.npz")
        i_result = log.index(("replace", result))
        # the frames of the round were fsynced before its result was put in place
        synced = [i for i, e in enumerate(log[:i_result]) if e == ("fsync", f"{run}/frames.jsonl")]
        assert synced, f"round {r}: frames.jsonl not fsynced before result.npz"
        assert ("fsync", run) in log[synced[-1]:i_result]  # and the directory
        # the result file itself was fsynced (as its .tmp) before the rename, then its folder
        assert ("fsync", f"{result}.tmp") in log[synced[-1]:i_result]
        assert log[i_result + 1] == ("fsync", str((run_dir / "rounds" / f"{r:04d}").resolve()))
        # the checkpoint that moves past round r (a line appended to the state journal, then
        # fsynced) comes after the result
        assert ("fsync", f"{run}/state.jsonl") in log[i_result:]
    assert RunReader(run_dir).state["next_round"] == 3


def test_hellos_are_appended_once_each_and_old_records_still_read(tmp_path: Path) -> None:
    """The hello phase of N devices writes O(N) bytes (it used to rewrite every hello so far
    on each one: O(N^2))."""
    fields = dict(device_id=1, firmware_hash=2, model_hash=3, n_classes=2, n_features=3,
                  clip=1.0, noise_multiplier=1.0, grid_bits=8, delta=1e-5, eps_limit=10.0,
                  eps_spent=0.0, releases_done=0, releases_max=10, flags=0, max_chunk=240,
                  last_run=0, last_round=0, refusals=[0, 1, 2])
    with RunRecorder(tmp_path / "run") as recorder:
        recorder.hello("d0", Hello(**fields))
        recorder.flush()
        one = (tmp_path / "run" / "hellos.jsonl").stat().st_size
        for i in range(1, 300):
            recorder.hello(f"d{i % 50}", Hello(**{**fields, "releases_done": i}))
    assert (tmp_path / "run" / "hellos.jsonl").stat().st_size < 300 * one * 1.1
    hellos = RunReader(tmp_path / "run").hellos
    assert len(hellos) == 50 and [h["releases_done"] for h in hellos["d1"]][:3] == [1, 51, 101]
    assert hellos["d0"][0]["refusals"] == [0, 1, 2] and "device" not in hellos["d0"][0]
    # a run recorded before: hellos.json, one object
    old = tmp_path / "old"
    old.mkdir()
    (old / "frames.jsonl").write_text("")
    (old / "hellos.json").write_text(json.dumps({"d": [{"t": 1.0, "releases_done": 4}]}))
    assert RunReader(old).hellos == {"d": [{"t": 1.0, "releases_done": 4}]}


def test_the_global_head_is_encoded_once_per_round(tmp_path: Path, monkeypatch) -> None:
    calls = []
    real = GlobalModel.encode

    def counting(self):
        calls.append(self.round)
        return real(self)

    monkeypatch.setattr(GlobalModel, "encode", counting)
    with running(*(FakeDevice(i) for i in range(6))) as fakes:
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2})
    assert all(len(r.accepted) == 6 for r in summary.rounds)
    assert calls == [1, 2]
