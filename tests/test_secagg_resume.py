"""kill -9 of the aggregator in the middle of a secure round, then a resume (issue 12
hardening): the interrupted round is closed from the record (failed with its head kept when
the record cannot unmask it, finished when it holds the reveals), never played again; the run
goes on with the next round number and every board takes part; the heads recomputed from the
record alone are the heads the host saved; a masked update the killed host never read is
reported as a lost release."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from secagg_fleet_support import firmware, shards
from test_secagg_aggregator import TOML
from test_secagg_hostile import SMALL
from tinyfl.emulate import launch_fleet
from tinyfl.fleet.aggregator import Aggregator
from tinyfl.fleet.config import parse_fleet_config
from tinyfl.fleet.device import DeviceSession
from tinyfl.fleet.record import load_head, round_dir
from tinyfl.fleet.secagg_record import recompute_secure_globals
from tinyfl.links import open_link
from tinyfl.paths import REPO_ROOT

N = 4
# The aggregator process, stopped for good in round 2 at `stop`: "masked" (the mask requests
# are out, the boards release, the host never reads their masked updates) or "unmask" (every
# reveal is read and recorded, the sum not yet computed). Its record is flushed to the OS
# first, as every completed line would be; then the test kills it.
KILLED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tinyfl.fleet.aggregator import Aggregator
    from tinyfl.fleet.config import parse_fleet_config
    from tinyfl.fleet.device import DeviceSession
    from tinyfl.links import open_link
    import tinyfl.fleet.secagg_round as sr
    from tinyfl.secagg.server import SecAggServer

    run_dir, marker, stop, toml = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    sessions = [DeviceSession(open_link(u), f"dev{i + 1}") for i, u in enumerate(sys.argv[5:])]

    def hang():
        sessions[0].recorder.flush()
        marker.write_text("stopped")
        time.sleep(600)

    gather = sr.SecureRound._gather
    def stopping_gather(self, result, ids, want, step, run, round_number):
        if stop == "masked" and want is sr.SecaggMaskedUpdate and round_number == 2:
            hang()
        return gather(self, result, ids, want, step, run, round_number)
    sr.SecureRound._gather = stopping_gather
    unmask = SecAggServer.unmask
    def stopping_unmask(self, reveals):
        if stop == "unmask" and self.round == 2:
            hang()
        return unmask(self, reveals)
    SecAggServer.unmask = stopping_unmask
    Aggregator(parse_fleet_config(toml), sessions, run_dir, allow_test_builds=True).run()
""")


def toml(rounds: int) -> str:
    return TOML.replace("rounds = 2", f"rounds = {rounds}")


@pytest.mark.parametrize("stop", ["masked", "unmask"])
def test_kill_9_in_a_secure_round_then_resume(tmp_path, stop):
    run_dir, marker = tmp_path / "run", tmp_path / "stopped"
    with launch_fleet("native", N, firmware("native", SMALL), shards(tmp_path, N), tmp_path / "boards") as fleet:
        urls = [b.url for b in fleet]
        proc = subprocess.Popen([sys.executable, "-c", KILLED, str(run_dir), str(marker), stop, toml(3), *urls],
                                cwd=REPO_ROOT / "tests", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while not marker.exists():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the aggregator never reached round 2"
                time.sleep(0.05)
            time.sleep(1.0)  # the boards answer the requests already sent
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        sessions = [DeviceSession(open_link(u), f"dev{i + 1}") for i, u in enumerate(urls)]
        try:
            summary = Aggregator(parse_fleet_config(toml(3)), sessions, run_dir, allow_test_builds=True).run()
        finally:
            for s in sessions:
                s.close()
    names = [f"dev{i}" for i in range(1, N + 1)]
    assert summary.resumed_at == 2 and summary.rounds_completed == 3 and not summary.failure
    assert [(r.round, r.interrupted) for r in summary.rounds] == [(1, False), (2, True), (3, False)]
    second = summary.rounds[1]
    if stop == "masked":  # no masked update in the record: no sum, the head is kept
        assert second.accepted == [] and second.head_kept.startswith("secure round failed: the aggregator stopped")
        assert set(second.outcomes.values()) == {"round_failed"}
        assert all(second.details[n].endswith("the record cannot unmask it: no device was asked to unmask") for n in names)
    else:  # every reveal recorded: the round is finished from the record
        assert sorted(second.accepted) == names and not second.head_kept
    # the next round: every board accepts it and takes part
    assert sorted(summary.rounds[2].accepted) == names and set(summary.rounds[2].outcomes.values()) == {"ok"}
    # the heads recomputed from the record are the heads the host saved (and used)
    recomputed = recompute_secure_globals(run_dir)
    assert sorted(recomputed) == [1, 2, 3]
    for r in (1, 2, 3):
        assert np.array_equal(recomputed[r], load_head(round_dir(run_dir, r) / "result.npz").params), r
    head2 = load_head(round_dir(run_dir, 2) / "global.npz").params
    assert np.array_equal(recomputed[2], head2) == (stop == "masked")
    # no device was asked anything about round 2 after the resume (it was closed, not replayed)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    results = [e for e in events if e["kind"] == "secagg_round_result"]
    assert [(e["round"], e["ok"], e.get("interrupted", False)) for e in results] == [
        (1, True, False), (2, stop == "unmask", True), (3, True, False)]
    # every board released in all three rounds; a release the killed host never read is lost
    privacy = {p.device: p for p in summary.privacy}
    for n in names:
        assert privacy[n].releases_device == 3, privacy[n]
        if stop == "masked":
            assert (privacy[n].releases_host, privacy[n].releases_lost) == (2, 1), privacy[n]
            assert "host counts 2 releases, device reports 3" in privacy[n].note
        else:
            assert (privacy[n].releases_host, privacy[n].releases_lost) == (3, 0) and privacy[n].agrees, privacy[n]


def test_a_record_that_cannot_unmask_gives_a_one_line_failure():
    """The replay reads device bytes from the record: a masked update of the wrong size, a
    missing reveal or a forged reveal record end in a failure line, never an exception."""
    from tinyfl.fleet.secagg_record import secure_round_from_record
    from tinyfl.wire import (GlobalModel, SecaggMaskedUpdate, SecaggMaskRequest, SecaggNeighbours, SecaggReveal,
                             SecaggUnmaskRequest)

    params = np.zeros(6, dtype=np.float32)
    ids = {"a": 1, "b": 2}
    head = GlobalModel(run=1, round=4, nonce=9, lr=0.1, local_epochs=1, batch_size=1, n_classes=2, n_features=2,
                       params=params)

    def sent_for(d: int):
        other = 3 - d
        record = other.to_bytes(2, "little") + bytes(range(1, 65))
        return [head, SecaggNeighbours(run=1, round=4, t=1, neighbours=[record]),
                SecaggMaskRequest(run=1, round=4, cohort=2, alive=[other]),
                SecaggUnmaskRequest(run=1, round=4, cohort=2, survived=[other])]

    def masked(n: int):
        return SecaggMaskedUpdate(run=1, round=4, nonce=9, sample_count=1, grid_step=0.01, central_eps_spent=1.0,
                                  local_eps_spent=2.0, releases_done=1, n_classes=2, n_features=2,
                                  values=np.zeros(n, dtype=np.uint32))

    sent = {4: {"a": sent_for(1), "b": sent_for(2)}}
    cases = [
        ({"a": [masked(5)], "b": [masked(6)]}, "no masked update of device 1 in the record"),
        ({"a": [masked(6)], "b": [masked(6)]}, "shares for device"),  # no reveals
        ({"a": [masked(6), SecaggReveal(run=1, round=4, records=[bytes(36)])], "b": [masked(6)]},
         "reveal for 0, not a neighbour in U2"),
    ]
    for received, failure in cases:
        result, names = secure_round_from_record(sent, {4: received}, ids, 4)
        assert not result.ok and failure in result.failure, result.failure
        assert names == {1: "a", 2: "b"}
