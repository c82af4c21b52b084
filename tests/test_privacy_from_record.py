"""privacy_from_record: one pass over the record, equal to a plain reading of the rule (an update
counts as a release when it echoes the nonce sent to that device for that round), whatever the
order of the sent and received lines."""
from __future__ import annotations

from pathlib import Path

import pytest

from fakes.fake_device import FakeDevice, stand_in_epsilon
from fakes.harness import run_fleet, running
from tinyfl.fleet import RunReader, privacy_from_record
from tinyfl.fleet.record import FRAMES
from tinyfl.wire import GlobalModel, SecaggMaskedUpdate, Update


def _releases_by_the_rule(run_dir: Path) -> dict[str, int]:
    """The reference: every sent head first, then every received update checked against it."""
    reader = RunReader(run_dir)
    sent = {(rm.device, rm.message.round): rm.message.nonce for rm in reader.messages("tx")
            if isinstance(rm.message, GlobalModel)}
    rounds: dict[str, set[int]] = {}
    for rm in reader.messages("rx"):
        if (isinstance(rm.message, (Update, SecaggMaskedUpdate))
                and sent.get((rm.device, rm.message.round)) == rm.message.nonce):
            rounds.setdefault(rm.device, set()).add(rm.message.round)
    return {device: len(r) for device, r in rounds.items()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("privacy") / "run"
    fakes = [FakeDevice(0, releases_done=3),
             FakeDevice(1, mode="late", rounds={1}, delay_s=1.3),  # released, counted late
             FakeDevice(2, mode="wrong_nonce", rounds={1}),  # not a release of a sent head
             FakeDevice(3, mode="lose_update", rounds={2})]  # lost once, sent again on request
    with running(*fakes):
        summary = run_fleet(fakes, path, fleet={"rounds": 2, "deadline_s": 1.0})
    return path, summary.privacy


def test_the_summary_equals_a_fresh_read_and_the_rule(run_dir) -> None:
    path, live = run_dir
    fresh = privacy_from_record(path, stand_in_epsilon)
    assert fresh == live
    by_rule = _releases_by_the_rule(path)
    assert {p.device: p.releases_host for p in fresh} == {
        name: by_rule.get(name, 0) for name in ("fake0", "fake1", "fake2", "fake3")}
    counts = {p.device: (p.releases_before, p.releases_host) for p in fresh}
    assert counts == {"fake0": (3, 2), "fake1": (0, 2), "fake2": (0, 1), "fake3": (0, 2)}


def test_the_record_is_read_once(run_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    path, live = run_dir
    reads: list[object] = []
    original = RunReader.frame_records

    def counted(self, *args, **kwargs):
        reads.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RunReader, "frame_records", counted)
    assert privacy_from_record(path, stand_in_epsilon) == live
    assert len(reads) == 1


def test_received_lines_before_the_sent_ones_count_the_same(run_dir, tmp_path: Path) -> None:
    """Each device's streams keep their order; only tx and rx lines are interleaved otherwise
    (as a recorder that batches them might): the releases do not depend on it."""
    path, live = run_dir
    moved = tmp_path / "run"
    moved.mkdir()
    for item in path.iterdir():
        if item.is_file():
            (moved / item.name).write_bytes(item.read_bytes())
    lines = (path / FRAMES).read_text().splitlines(keepends=True)
    rx = [line for line in lines if '"dir": "rx"' in line or '"dir":"rx"' in line]
    assert rx and len(rx) < len(lines)
    (moved / FRAMES).write_text("".join(rx + [line for line in lines if line not in rx]))
    assert privacy_from_record(moved, stand_in_epsilon) == live
