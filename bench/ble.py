"""BLE bytes and ATT values per federated round, at the smallest and largest ATT MTU.

Native boards behind bumble GATT peripherals (tinyfl.emulate.ble_bridge), the host's bumble
central on another virtual controller, the "stats" backbone's head. Per device and round
(rounds 2.., so the start-up hellos are left out): host writes and their bytes, device
notifications and their bytes, and the wall time of a round (Python's bumble on this machine,
not radio time: a real link's connection interval decides that).
"""
from __future__ import annotations

import math
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from tinyfl.demo import DemoOptions, prepare, split_shards
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.emulate.ble_bridge import BleBridge
from tinyfl.fleet import (Aggregator, DeviceSession, DeviceSpec, FleetConfig, RoundSpec,
                          RunReader, initial_head)
from tinyfl.links import open_link
from tinyfl.links.ble_bumble import close_radios
from tinyfl.wire import BLE_ATT_OVERHEAD

FIELDS = ("values_tx", "bytes_tx", "values_rx", "bytes_rx")


def expected_values(frames: list[bytes], mtu: int) -> int:
    """ATT values the chunking rule makes of whole frames: ceil(len / (MTU - 3)) each."""
    return sum(math.ceil(len(f) / (mtu - BLE_ATT_OVERHEAD)) for f in frames)


def measure(mtu: int, n: int = 2, rounds: int = 4, workdir: Path | None = None,
            backbone: str = "stats", chunk: int = 240) -> dict:
    options = DemoOptions(board="native", n=n, rounds=rounds, backbone=backbone)
    data, _, config = prepare(options, lambda _m: None)
    firmware = build_firmware("native", config)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(workdir or scratch)
        shards = [write_shard(tmp / f"s{i}.bin", data.x_train[idx], data.y_train[idx])
                  for i, idx in enumerate(split_shards(data.y_train, n, 0))]
        with launch_fleet("native", n, firmware, shards, tmp / "boards") as fleet, \
                BleBridge([b.port for b in fleet]) as bridge:
            urls = [f"{u};mtu={mtu}" for u in bridge.urls]
            sessions = [DeviceSession(open_link(u), f"dev{i + 1}") for i, u in enumerate(urls)]
            snapshots: list[tuple[float, list[dict]]] = []

            def snapshot(_report=None) -> None:
                snapshots.append((time.monotonic(),
                                  [{k: asdict(s.link.stats)[k] for k in FIELDS}
                                   for s in sessions]))
            fleet_config = FleetConfig(
                fleet=RoundSpec(rounds=rounds, lr=options.lr, local_epochs=options.local_epochs,
                                batch_size=options.batch_size, deadline_s=10.0,
                                chunk=chunk),
                devices=tuple(DeviceSpec(link=u, name=s.name) for u, s in zip(urls, sessions)))
            aggregator = Aggregator(fleet_config, sessions, tmp / "run",
                                    initial=initial_head(config.n_classes, config.n_features, 0),
                                    progress=snapshot)
            try:
                summary = aggregator.run()
            finally:
                totals = [asdict(s.link.stats) for s in sessions]
                for s in sessions:
                    s.close()
                close_radios()
            peripherals = [asdict(bridge.stats(i)) for i in range(n)]
        reader = RunReader(tmp / "run")
        frames = {d: list(reader.frame_records(device=d)) for d in (s.name for s in sessions)}
    per_round = {k: [] for k in FIELDS}
    seconds = []
    for (t0, before), (t1, after) in zip(snapshots[:-1], snapshots[1:]):
        seconds.append(t1 - t0)
        for k in FIELDS:
            per_round[k] += [a[k] - b[k] for a, b in zip(after, before)]
    return {
        "mtu": mtu,
        "backbone": backbone,
        "chunk": chunk,
        "devices": n,
        "rounds_completed": summary.rounds_completed,
        "head_params": config.n_classes * (config.n_features + 1),
        "per_device_round": {k: statistics.mean(v) for k, v in per_round.items()},
        "seconds_per_round": statistics.mean(seconds),
        "totals": totals,
        "peripherals": peripherals,
        "frames": frames,
    }


def main() -> None:
    print("| backbone (head parameters) | ATT MTU | host chunk | host writes | bytes host->device "
          "| notifications | bytes device->host | largest value | s/round (bumble, Python) |")
    print("|---|---|---|---|---|---|---|---|---|")
    # chunk 230: a whole frame (230 + 14 bytes) is one ATT value at MTU 247
    for backbone, mtu, chunk in (("stats", 23, 240), ("stats", 247, 240), ("stats", 247, 230)):
        r = measure(mtu, backbone=backbone, chunk=chunk)
        p = r["per_device_round"]
        largest = max(max(t["largest_tx"], t["largest_rx"]) for t in r["totals"])
        print(f"| {backbone} ({r['head_params']}) | {mtu} | {chunk} | {p['values_tx']:.0f} "
              f"| {p['bytes_tx']:.0f} | {p['values_rx']:.0f} | {p['bytes_rx']:.0f} "
              f"| {largest} | {r['seconds_per_round']:.2f} |")
    print(f"(per device and round, {r['devices']} native boards, rounds 2..{r['rounds_completed']})")


if __name__ == "__main__":
    main()
