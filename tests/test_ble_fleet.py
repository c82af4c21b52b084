"""Federated rounds over BLE: native boards behind bumble GATT peripherals (the tinyfl service
of the wire spec), the host's bumble central on another virtual controller, at the smallest
and the largest ATT MTU, with the radio dropping in the middle of a device's update."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


from tinyfl.demo import DemoOptions, prepare, split_shards
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.emulate.ble_bridge import BleBridge
from tinyfl.fleet import (Aggregator, DeviceSession, DeviceSpec, FleetConfig,
                          RoundSpec, RunReader, initial_head, recompute_globals)
from tinyfl.links import open_link
from tinyfl.links.ble import BleLink
from tinyfl.links.ble_bumble import close_radios
from tinyfl.wire import BLE_ATT_OVERHEAD


def expected_values(frames: list[bytes], mtu: int) -> int:
    """ATT values the chunking rule makes of whole frames: ceil(len / (MTU - 3)) each."""
    return sum(-(-len(f) // (mtu - BLE_ATT_OVERHEAD)) for f in frames)

N, ROUNDS = 2, 2


@pytest.fixture(scope="module")
def native_setup(tmp_path_factory):
    options = DemoOptions(board="native", n=N, rounds=ROUNDS, backbone="stats", deadline_s=15.0)
    data, _backbone, config = prepare(options, lambda _m: None)
    firmware = build_firmware("native", config)
    shards_dir = tmp_path_factory.mktemp("shards")
    shards = [write_shard(shards_dir / f"s{i}.bin", data.x_train[idx], data.y_train[idx])
              for i, idx in enumerate(split_shards(data.y_train, options.n, 0))]
    return options, config, firmware, shards


def run_ble_fleet(native_setup, workdir: Path, mtu: int, drop_in_round: int | None = None,
                  drop_at: int = 1, on_write: bool = False):
    """Runs the fleet over BLE; with `drop_in_round`, dev1's connection drops instead of its
    `drop_at`-th notification in that round (`on_write`: of the host's writes to it)."""
    options, config, firmware, shards = native_setup
    with launch_fleet("native", N, firmware, shards, workdir / "boards") as fleet, \
            BleBridge([b.port for b in fleet]) as bridge:
        urls = [f"{u};mtu={mtu}" for u in bridge.urls]
        sessions = [DeviceSession(open_link(u), f"dev{i + 1}") for i, u in enumerate(urls)]
        fleet_config = FleetConfig(
            fleet=RoundSpec(rounds=ROUNDS, lr=options.lr, local_epochs=options.local_epochs,
                            batch_size=options.batch_size, deadline_s=options.deadline_s),
            devices=tuple(DeviceSpec(link=u, name=s.name) for u, s in zip(urls, sessions)))
        aggregator = Aggregator(fleet_config, sessions, workdir / "run",
                                initial=initial_head(config.n_classes, config.n_features, 0))
        if drop_in_round is not None:
            def arm(report) -> None:
                if report.round == drop_in_round - 1:
                    (bridge.drop_at_write if on_write else bridge.drop_at)(0, drop_at)
            aggregator.progress = arm
        try:
            summary = aggregator.run()
        finally:
            links = [s.link for s in sessions]
            for s in sessions:
                s.close()
            close_radios()
        peripherals = [bridge.stats(i) for i in range(N)]
    return summary, links, peripherals


# MTU 23: the update spans many notifications and the drop tears it after the first one;
# MTU 247: the update is one notification, lost whole with the connection.
@pytest.mark.parametrize("mtu, drop_at", [(23, 2), (247, 1)])
def test_round_over_ble_survives_a_disconnect(native_setup, tmp_path: Path, mtu: int,
                                              drop_at: int) -> None:
    summary, links, peripherals = run_ble_fleet(native_setup, tmp_path, mtu, drop_in_round=2,
                                                drop_at=drop_at)
    run_dir = tmp_path / "run"
    assert summary.rounds_completed == ROUNDS
    for report in summary.rounds:
        assert sorted(report.accepted) == ["dev1", "dev2"], report.outcomes
    # the right head: FedAvg recomputed from the recorded frames alone
    np.testing.assert_array_equal(recompute_globals(run_dir)[ROUNDS], summary.final.params)
    # every release is accounted for: the torn update was resent at no new cost
    for p in summary.privacy:
        assert p.agrees, p
        assert p.releases_host == ROUNDS
    # the drop happened, inside the link: the same BleLink reconnected and carried on
    dev1 = links[0]
    assert isinstance(dev1, BleLink)
    assert peripherals[0].disconnects_forced == 1
    assert dev1.stats.disconnects == 1 and dev1.stats.connects == 2
    assert dev1.stats.mtus == [mtu, mtu]
    assert peripherals[0].connections == 2 and peripherals[1].connections == 1
    kinds = [e["kind"] for e in RunReader(run_dir).events() if e.get("device") == "dev1"]
    assert "resend" in kinds, kinds
    # chunking: never more than MTU - 3 per ATT value, either direction
    for link, per in zip(links, peripherals):
        assert per.oversize == 0
        assert 0 < per.largest_notification <= mtu - BLE_ATT_OVERHEAD
        assert 0 < link.stats.largest_tx <= mtu - BLE_ATT_OVERHEAD
        assert link.stats.largest_rx == per.largest_notification
    if mtu == 23:
        assert all(per.largest_notification == 20 for per in peripherals)


def test_a_head_torn_on_its_way_to_the_board_is_sent_again(native_setup, tmp_path: Path) -> None:
    """The connection drops in the middle of round 2's head (MTU 23: the head is many writes):
    the board rejects the torn message, the host sends the head again on the new connection."""
    summary, links, peripherals = run_ble_fleet(native_setup, tmp_path, 23, drop_in_round=2,
                                                drop_at=5, on_write=True)
    assert summary.rounds_completed == ROUNDS
    for report in summary.rounds:
        assert sorted(report.accepted) == ["dev1", "dev2"], report.outcomes
    np.testing.assert_array_equal(recompute_globals(tmp_path / "run")[ROUNDS],
                                  summary.final.params)
    assert all(p.agrees and p.releases_host == ROUNDS for p in summary.privacy)
    assert peripherals[0].disconnects_forced == 1
    assert links[0].stats.disconnects == 1 and links[0].stats.connects == 2
    kinds = [e["kind"] for e in RunReader(tmp_path / "run").events() if e.get("device") == "dev1"]
    assert "resend" in kinds, kinds


def test_ble_traffic_is_what_the_chunking_rule_makes_of_the_recorded_frames(
        native_setup, tmp_path: Path) -> None:
    """Independent accounting: the values and bytes the link counted equal what the rule
    gives for the frames the run recorded (host writes whole frames, so exactly)."""
    mtu = 23
    _summary, links, peripherals = run_ble_fleet(native_setup, tmp_path, mtu)
    reader = RunReader(tmp_path / "run")
    for i, link in enumerate(links):
        tx = [r.data for r in reader.frame_records("tx", f"dev{i + 1}")]
        rx = [r.data for r in reader.frame_records("rx", f"dev{i + 1}")]
        assert link.stats.bytes_tx == sum(map(len, tx)) == peripherals[i].written_bytes
        assert link.stats.values_tx == expected_values(tx, mtu) == peripherals[i].writes
        assert link.stats.bytes_rx == sum(map(len, rx))
        # the board's output arrives in socket reads that may end inside a frame: at least as
        # many notifications as whole frames need, each full unless it ends a frame or a read
        assert link.stats.values_rx >= expected_values(rx, mtu)
        assert link.stats.values_rx == peripherals[i].notifications


def test_qemu_board_over_ble(qemu, tmp_path: Path) -> None:
    """The firmware built for the Cortex-M4F under QEMU, behind the same BLE peripheral: a
    round at MTU 23, its update in 20-byte notifications."""
    options = DemoOptions(board="qemu", n=1, rounds=1, backbone="stats", deadline_s=30.0)
    data, _backbone, config = prepare(options, lambda _m: None)
    firmware = build_firmware("qemu", config)
    shards = [write_shard(tmp_path / "s0.bin", data.x_train[idx], data.y_train[idx])
              for idx in split_shards(data.y_train, 1, 0)]
    with launch_fleet("qemu", 1, firmware, shards, tmp_path / "boards") as fleet, \
            BleBridge([fleet[0].port]) as bridge:
        url = f"{bridge.urls[0]};mtu=23"
        session = DeviceSession(open_link(url), "dev1")
        fleet_config = FleetConfig(
            fleet=RoundSpec(rounds=1, lr=options.lr, local_epochs=options.local_epochs,
                            batch_size=options.batch_size, deadline_s=options.deadline_s),
            devices=(DeviceSpec(link=url, name="dev1"),))
        try:
            summary = Aggregator(fleet_config, [session], tmp_path / "run",
                                 initial=initial_head(config.n_classes, config.n_features, 0)).run()
        finally:
            session.close()
            close_radios()
        stats = bridge.stats(0)
    assert summary.rounds_completed == 1 and summary.rounds[0].accepted == ["dev1"]
    np.testing.assert_array_equal(recompute_globals(tmp_path / "run")[1], summary.final.params)
    assert stats.oversize == 0 and stats.largest_notification == 20 and stats.notifications > 10
