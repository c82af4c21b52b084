"""The event-loop exchange: one stalled board delays nobody, descriptors past 1024 work, the
threaded fallback for links that cannot be polled, the head's frames built once, a fleet of
fakes served by one loop, and the state journal replayed after a torn last line."""
from __future__ import annotations

import os
import resource
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from fakes.fake_device import FakeDevice
from fakes.fake_fleet import FakeFleet
from fakes.harness import close_aggregator, fleet_config, make_aggregator, run_fleet, running
from tinyfl.fleet import (
    DeviceSession,
    Outcome,
    RunReader,
    RunRecorder,
    collect,
    recompute_globals,
)
from tinyfl.fleet import device as device_module
from tinyfl.links import LinkError, open_link, pollable
from tinyfl.links.serial import MAX_PENDING_OUTPUT
from tinyfl.wire import Hello, HelloRequest


class Stalled(FakeDevice):
    """Says hello when the host connects, then never reads again: the host's bytes pile up
    in the socket buffers until the OS takes no more (a small receive buffer, fixed, as a
    board's UART has: the kernel does not grow it)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def _serve(self, conn) -> None:  # noqa: ANN001 - a socket
        try:
            if not self._stop.wait(0.3):  # booted after the host's flush on connect
                self._out(conn, self._encode(self.hello()))
            self._stop.wait()
        finally:
            conn.close()


def fill(link) -> int:
    """Writes idle delimiters (0x00, ignored by a device) until the OS takes no more, even
    after a pause (Linux grows a socket's send buffer for a while: up to tcp_wmem's max)."""
    written = 0
    while link.flush_nowait() == 0:
        while link.pending_output() == 0:
            link.write_nowait(b"\x00" * 65536)
            written += 65536
        time.sleep(0.3)
    return written


def test_a_stalled_board_delays_nobody(tmp_path: Path) -> None:
    fakes = [FakeDevice(0), Stalled(1), FakeDevice(2)]
    with running(*fakes):
        config = fleet_config(fakes, rounds=1, deadline_s=1.0)
        # the hello at the end of the run waits recheck_timeout for the stalled board
        queued: list[int] = []
        aggregator = make_aggregator(config, tmp_path, recheck_timeout=0.5,
                                     progress=lambda _r: queued.append(
                                         aggregator.sessions[1].link.pending_output()))
        stalled = aggregator.sessions[1]
        assert pollable(stalled.link)
        fill(stalled.link)  # the board's socket is full before the run starts
        started = time.monotonic()
        try:
            summary = aggregator.run()
        finally:
            close_aggregator(aggregator)
        elapsed = time.monotonic() - started
    (report,) = summary.rounds
    assert report.outcomes == {"fake0": "ok", "fake1": "timeout", "fake2": "ok"}
    # its boot hello admitted it; nothing it did (or did not do) held the others past the
    # round's deadline (a blocking write would have waited 5 s per message)
    # (slack for a loaded machine; a blocking write would have taken 5 s)
    assert report.elapsed_s < 1.0 + 1.0, report.elapsed_s
    assert elapsed < 1.0 + 0.5 + 2.0, elapsed
    assert queued[0] > 0  # the head still waited in its queue when the round ended
    # each device's time is its own: the answering ones did not wait for the stalled one
    results = {e["device"]: e for e in RunReader(tmp_path).events() if e["kind"] == "round_result"}
    assert results["fake0"]["elapsed_s"] < 0.5 and results["fake2"]["elapsed_s"] < 0.5
    assert results["fake1"]["elapsed_s"] >= 1.0 - 0.05


def test_a_link_that_never_drains_fails_at_its_bound() -> None:
    with running(Stalled(0)) as (fake,):
        link = open_link(fake.url)
        try:
            fill(link)
            with pytest.raises(LinkError, match="took none"):
                for _ in range(MAX_PENDING_OUTPUT // 4096 + 2):
                    link.write_nowait(b"\x00" * 4096)
            assert link.pending_output() <= MAX_PENDING_OUTPUT
        finally:
            link.close()


@pytest.fixture()
def many_descriptors():
    """Pushes this process's descriptors past 1024 (select() cannot wait on those)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2048
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.fail(f"RLIMIT_NOFILE hard limit {hard} < {want}: cannot test fds past 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    dummies = [os.open(os.devnull, os.O_RDONLY)]
    while dummies[-1] < 1100:  # every free number below is taken: new ones come above
        dummies.append(os.open(os.devnull, os.O_RDONLY))
    try:
        yield dummies
    finally:
        for fd in dummies:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_round_completes_with_descriptors_past_1024(tmp_path: Path, many_descriptors) -> None:
    assert max(many_descriptors) >= 1024
    fakes = [FakeDevice(i) for i in range(3)]
    with running(*fakes):
        config = fleet_config(fakes, rounds=2)
        aggregator = make_aggregator(config, tmp_path)
        assert all(s.link.fileno() >= 1024 for s in aggregator.sessions)
        try:
            summary = aggregator.run()
        finally:
            close_aggregator(aggregator)
    assert [len(r.accepted) for r in summary.rounds] == [3, 3]
    # the blocking path (hello, a lone session's round) waits with poll() too
    with running(FakeDevice(9)) as (fake,):
        session = DeviceSession(open_link(fake.url), "lone")
        try:
            assert session.link.fileno() >= 1024
            assert session.hello(2.0).device_id == 1009
        finally:
            session.close()


class Unpolled:
    """A link without the non-blocking capability (as a BLE or relayed link): the exchange
    gives it a thread."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.url = inner, inner.url

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        return self.inner.read(max_bytes, timeout)

    def close(self) -> None:
        self.inner.close()


def test_links_that_cannot_be_polled_run_beside_the_loop(tmp_path: Path) -> None:
    fakes = [FakeDevice(i, mode="lose_update" if i == 1 else "ok", rounds={2})
             for i in range(4)]
    with running(*fakes):
        config = fleet_config(fakes, rounds=2, deadline_s=2.0, resend_after_s=0.3)
        aggregator = make_aggregator(config, tmp_path)
        for session in aggregator.sessions[:2]:
            session.link = Unpolled(session.link)
        assert [pollable(s.link) for s in aggregator.sessions] == [False, False, True, True]
        try:
            summary = aggregator.run()
        finally:
            close_aggregator(aggregator)
    assert [len(r.accepted) for r in summary.rounds] == [4, 4]
    # the threaded fake1 lost its update in round 2 and was asked again, like a polled one
    assert fakes[1].resends_answered == 1
    final = recompute_globals(tmp_path)[2]
    assert np.array_equal(final, summary.final.params)


def test_collect_sends_once_and_gathers_answers(tmp_path: Path) -> None:
    with running(*(FakeDevice(i) for i in range(3))) as fakes:
        recorder = RunRecorder(tmp_path)
        sessions = [DeviceSession(open_link(f.url), f"d{f.index}", recorder) for f in fakes]
        sessions[2].link.close()
        sessions[2].alive = False
        try:
            got = collect(sessions, HelloRequest(), time.monotonic() + 2.0,
                          until=lambda m: isinstance(m, Hello))
        finally:
            for s in sessions:
                s.close()
            recorder.close()
    for i in (0, 1):
        assert got[f"d{i}"].done
        assert any(isinstance(r.message, Hello) and r.message.device_id == 1000 + i
                   for r in got[f"d{i}"].received)
    assert not got["d2"].done or got["d2"].failure == "link is down"
    assert got["d2"].failure == "link is down" and not got["d2"].received
    # what was sent and received is in the record, flushed when the exchange returned
    assert {m.device for m in RunReader(tmp_path).messages("rx")} == {"d0", "d1"}


def test_the_head_frames_are_built_once_per_sequence_number(tmp_path: Path,
                                                             monkeypatch) -> None:
    built = []
    real = device_module.encode_payload

    def counting(type_id, seq, payload, chunk=240):  # noqa: ANN001
        built.append((type_id, seq))
        return real(type_id, seq, payload, chunk)

    device_module._shared_frames.cache_clear()
    monkeypatch.setattr(device_module, "encode_payload", counting)
    with running(*(FakeDevice(i) for i in range(8))) as fakes:
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2})
    assert all(len(r.accepted) == 8 for r in summary.rounds)
    heads = [b for b in built if b[0] == 3]  # global_model
    # every device is at the same sequence number in a round: one build per round
    assert len(heads) == 2, heads
    # and each device still got well-formed frames with its own headers: recompute agrees
    assert np.array_equal(recompute_globals(tmp_path)[2], summary.final.params)


def test_a_fake_fleet_in_one_thread_serves_a_hundred_devices(tmp_path: Path) -> None:
    fakes = [FakeDevice(i, n_classes=4, n_features=24, boot_delay_s=0.0) for i in range(100)]
    with FakeFleet(fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 10.0})
    assert [len(r.accepted) for r in summary.rounds] == [100, 100]
    assert all(p.agrees for p in summary.privacy)
    assert max(r.elapsed_s for r in summary.rounds) < 5.0


def test_the_state_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    fakes = [FakeDevice(i) for i in range(2)]
    with running(*fakes):
        config = fleet_config(fakes, rounds=3)
        run_fleet(fakes, tmp_path, fleet={"rounds": 2})
        journal = tmp_path / "state.jsonl"
        lines = journal.read_text().splitlines(keepends=True)
        # start, then (begin, end) per round: the file grows by a line or two per round
        assert [__import__("json").loads(x)["op"] for x in lines] == [
            "start", "begin", "end", "begin", "end"]
        with open(journal, "a") as f:
            f.write('{"op": "begin", "round": 3, "nonce"')  # a crash in mid-line
        assert RunReader(tmp_path).state["next_round"] == 3
        assert RunReader(tmp_path).state["in_progress"] is None
        aggregator = make_aggregator(config, tmp_path)
        try:
            summary = aggregator.run()
        finally:
            close_aggregator(aggregator)
    assert summary.resumed_at == 3 and [r.round for r in summary.rounds] == [1, 2, 3]
    assert RunReader(tmp_path).state["next_round"] == 4
    assert all(line.endswith("\n") for line in journal.read_text().splitlines(keepends=True))
    assert [p.releases_host for p in summary.privacy] == [3, 3]


def test_a_lone_session_round_still_works_without_a_fleet(tmp_path: Path) -> None:
    with running(FakeDevice(0)) as (fake,):
        session = DeviceSession(open_link(fake.url), "d0", RunRecorder(tmp_path))
        try:
            hello = session.hello(2.0)
            params = np.zeros(hello.n_classes * (hello.n_features + 1), np.float32) + 0.1
            result = session.run_round(params, hello.n_classes, hello.n_features, 1, 77, 0.1,
                                       1, 8, time.monotonic() + 2.0)
        finally:
            session.close()
    assert result.outcome is Outcome.OK and result.update.nonce == 77


def test_a_thousand_devices_complete_rounds_on_one_host(tmp_path: Path) -> None:
    """The issue's target fleet: 1,000 devices (fakes served by one loop in this process, so
    3,000 descriptors: most past 1024) complete two rounds, and the record adds up."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 3500
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.fail(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        fakes = [FakeDevice(i, n_classes=4, n_features=24, boot_delay_s=0.0)
                 for i in range(1000)]
        with FakeFleet(fakes):  # closes the fakes' sockets when done
            summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 30.0},
                                hello_timeout=30.0)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert [len(r.accepted) for r in summary.rounds] == [1000, 1000]
    assert max(r.elapsed_s for r in summary.rounds) < 10.0
    assert np.array_equal(recompute_globals(tmp_path)[2], summary.final.params)
