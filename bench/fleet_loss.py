"""Device-rounds lost to a link that corrupts 1% of the frames, without and with resends.

Native boards (the firmware in this tree) and the same aggregator; each board's link goes
through tinyfl.links.LossyLink (one bit flipped in 1% of the frames, both directions, seeded).
A device-round is lost when no update from that device was accepted in that round.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from tinyfl.demo import DemoOptions, prepare, split_shards
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.firmware_config import DpConfig
from tinyfl.fleet import Aggregator, DeviceSession, DeviceSpec, FleetConfig, RoundSpec, initial_head
from tinyfl.links import open_link
from tinyfl.links.lossy import LossyLink


def measure(resends: int, n: int = 4, rounds: int = 40, rate: float = 0.01,
            chunk: int = 20) -> dict[str, float]:
    options = DemoOptions(board="native", n=n, backbone="stats", dp=DpConfig(eps_limit=400.0))
    data, _, config = prepare(options, lambda _m: None)
    firmware = build_firmware("native", config)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shards = [write_shard(tmp / f"s{i}.bin", data.x_train[idx], data.y_train[idx])
                  for i, idx in enumerate(split_shards(data.y_train, n, 0))]
        with launch_fleet("native", n, firmware, shards, tmp / "boards") as fleet:
            links = [LossyLink(open_link(u), rate, seed=i) for i, u in enumerate(fleet.urls)]
            sessions = [DeviceSession(link, f"dev{i + 1}") for i, link in enumerate(links)]
            fleet_config = FleetConfig(
                fleet=RoundSpec(rounds=rounds, lr=options.lr, local_epochs=options.local_epochs,
                                batch_size=options.batch_size, deadline_s=1.0, chunk=chunk,
                                resends=resends, resend_after_s=0.25),
                devices=tuple(DeviceSpec(link=u, name=s.name) for u, s in zip(fleet.urls, sessions)),
                dp=options.dp)
            try:
                summary = Aggregator(fleet_config, sessions, tmp / "run",
                                     initial=initial_head(config.n_classes, config.n_features, 0)).run()
            finally:
                for s in sessions:
                    s.close()
    accepted = sum(len(r.accepted) for r in summary.rounds)
    return {"lost": 1.0 - accepted / (n * rounds), "device_rounds": n * rounds,
            "frames_hit": sum(link.corrupted for link in links),
            "frames": sum(link.pieces for link in links),
            "releases_lost": sum(p.releases_lost for p in summary.privacy)}


def main() -> None:
    for resends in (0, 3):
        m = measure(resends)
        print(f"native boards, 1% of frames corrupted, {resends} resends: "
              f"{m['lost']:.3f} of {m['device_rounds']} device-rounds lost "
              f"({m['frames_hit']} of {m['frames']} frames hit, {m['releases_lost']} releases lost)")


if __name__ == "__main__":
    main()
