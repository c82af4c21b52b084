"""host/fleets/emulated-secagg.toml runs as documented: the host builds secure-aggregation
images, launches the native boards and plays secure rounds through the ordinary Aggregator;
the devices report both guarantees and the host's account of the record agrees."""
from __future__ import annotations

from tinyfl.demo import options_from_fleet, run_emulated
from tinyfl.fleet.config import load_fleet_config
from tinyfl.fleet.record import RunReader
from tinyfl.paths import REPO_ROOT
from tinyfl.secagg.image import emulated_image
from tinyfl.wire import SecaggMaskedUpdate

TOML = REPO_ROOT / "host" / "fleets" / "emulated-secagg.toml"


def test_emulated_secagg_fleet_toml(tmp_path):
    config = load_fleet_config(TOML, ["fleet.rounds=2"])
    assert config.secagg is not None and config.emulate.board == "native"
    policy = emulated_image(config.secagg, config.emulate.n)
    assert (policy.n_min, policy.k_max) == (5, 16)  # 8 boards, complete graph, t = 4
    result = run_emulated(options_from_fleet(config), tmp_path / "run")
    summary = result.summary
    assert summary.rounds_completed == 2 and not summary.failure
    assert all(len(r.accepted) == 8 for r in summary.rounds)
    assert not summary.eps_disagreements
    masked = [m.message for m in RunReader(tmp_path / "run").messages("rx")
              if isinstance(m.message, SecaggMaskedUpdate)]
    assert len(masked) == 16
    last = max(masked, key=lambda m: m.releases_done)
    assert 0 < last.central_eps_spent < last.local_eps_spent <= config.dp.eps_limit
