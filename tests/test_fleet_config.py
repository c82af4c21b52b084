"""Fleet TOML loading, overrides and validation."""
from __future__ import annotations

from pathlib import Path

import pytest

from tinyfl.fleet.config import (
    ConfigError,
    DeviceSpec,
    EmulateSpec,
    RoundSpec,
    load_fleet_config,
    parse_fleet_config,
)
from tinyfl.paths import HOST_DIR

BASIC = """
[fleet]
rounds = 2
lr = 0.1
deadline_s = 5

[[devices]]
link = "socket://127.0.0.1:5000"

[[devices]]
name = "wrist"
link = "/dev/ttyACM0"
"""


def test_parse_defaults_and_device_names() -> None:
    config = parse_fleet_config(BASIC)
    assert config.fleet == RoundSpec(rounds=2, lr=0.1, deadline_s=5.0)
    assert isinstance(config.fleet.deadline_s, float)
    assert config.devices == (DeviceSpec("socket://127.0.0.1:5000", "dev0"),
                              DeviceSpec("/dev/ttyACM0", "wrist"))
    assert config.emulate is None
    assert config.to_dict()["fleet"]["rounds"] == 2


def test_overrides_sectioned_short_and_devices() -> None:
    config = parse_fleet_config(BASIC, ["fleet.rounds=7", "deadline_s=2.5", "server_lr=0.5",
                                        "devices=['socket://127.0.0.1:6000']"])
    assert (config.fleet.rounds, config.fleet.deadline_s, config.fleet.server_lr) == (7, 2.5, 0.5)
    assert config.devices == (DeviceSpec("socket://127.0.0.1:6000", "dev0"),)
    again = config.with_overrides(["emulate.board=native", "emulate.n=8"])
    assert again.emulate == EmulateSpec(board="native", n=8)
    assert again.fleet == config.fleet


@pytest.mark.parametrize("override, message", [
    ("fleet.rounds=0", "fleet.rounds"),
    ("fleet.chunk=10", "fleet.chunk"),
    ("fleet.local_epochs=1.5", "expected an integer"),
    ("fleet.lr='fast'", "expected a number"),
    ("fleet.bogus=1", "unknown key"),
    ("roundz=1", "unknown or ambiguous"),
    ("nothing", "key=value"),
    ("emulate.board=esp32", "emulate.board"),
    ("emulate.data=mnist", "emulate.data"),
    ("dp.clip=0", "dp.clip"),
    ("clip=nan", "dp.clip"),
    ("dp.noise_multiplier=-1", "dp.noise_multiplier"),
    ("dp.grid_bits=21", "dp.grid_bits"),
    ("delta=1.0", "dp.delta"),
    ("dp.eps_limit=inf", "dp.eps_limit"),
    ("dp.sigma=1", "unknown key"),
    ("fleet.resends=-1", "fleet.resends"),
    ("fleet.resend_after_s=-0.5", "fleet.resend_after_s"),
])
def test_invalid_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_fleet_config(BASIC, [override])


def test_structure_errors() -> None:
    # devices may come later (the command line's --link, or launched boards)
    assert parse_fleet_config("[fleet]\nrounds = 1\n").devices == ()
    with pytest.raises(ConfigError, match="unique"):
        parse_fleet_config('[[devices]]\nlink="a"\nname="x"\n[[devices]]\nlink="b"\nname="x"\n')
    with pytest.raises(ConfigError, match="needs a link"):
        parse_fleet_config('[[devices]]\nname="x"\n')
    with pytest.raises(ConfigError, match="unknown section"):
        parse_fleet_config('[fleat]\nrounds=1\n')
    with pytest.raises(ConfigError, match="invalid TOML"):
        parse_fleet_config('[fleet\n')


def test_shipped_fleets_load(tmp_path: Path) -> None:
    demo = load_fleet_config(HOST_DIR / "fleets" / "emulated-demo.toml")
    assert demo.emulate == EmulateSpec(board="qemu", n=4, data="basicmotions", seed=0)
    assert demo.fleet.rounds == 6 and not demo.devices
    boards = load_fleet_config(HOST_DIR / "fleets" / "serial-boards.toml")
    assert [d.link for d in boards.devices] == ["/dev/ttyACM0", "/dev/ttyACM1"]
    with pytest.raises(ConfigError, match="missing.toml"):
        load_fleet_config(tmp_path / "missing.toml")


def test_the_fleet_dp_config_defaults_to_the_firmware_default() -> None:
    from tinyfl.firmware_config import DpConfig

    assert parse_fleet_config(BASIC).dp == DpConfig()
    for name in ("emulated-demo.toml", "serial-boards.toml"):
        assert load_fleet_config(HOST_DIR / "fleets" / name).dp == DpConfig()
    config = parse_fleet_config(BASIC, ["dp.clip=2.0", "noise_multiplier=0.5"])
    assert (config.dp.clip, config.dp.noise_multiplier) == (2.0, 0.5)
    assert config.to_dict()["dp"]["clip"] == 2.0
    # resend after a quarter of the deadline by default (3 resends), or as configured
    assert config.fleet.resend_interval_s == 5.0 / 4
    assert config.with_overrides(["fleet.resend_after_s=0.5"]).fleet.resend_interval_s == 0.5
