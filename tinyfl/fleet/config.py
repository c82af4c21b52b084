"""Fleet configuration: a TOML file loaded into dataclasses, overridable with "key=value".

    [fleet]                      # how rounds run
    rounds = 3
    lr = 0.05                    # device SGD learning rate
    local_epochs = 5
    batch_size = 5
    deadline_s = 30.0            # per round: updates after this are left out
    server_lr = 1.0              # global += server_lr * mean(update)
    chunk = 240                  # largest frame payload the host sends
    init_seed = 0                # initial head when no trained head is given
    resends = 3                  # global_model resends per device and round (lost frames)
    resend_after_s = 0.0         # resend when nothing usable came back for this long
                                 # (0: deadline_s / (resends + 1))

    [dp]                         # the privacy configuration the operator expects of every
    clip = 1.0                   # device (default: what the shipped firmware compiles in,
    noise_multiplier = 1.0       # tinyfl.firmware_config.DpConfig). A device whose hello
    grid_bits = 8                # says otherwise is refused, and an update whose grid step
    delta = 1e-5                 # or norm this configuration cannot produce is refused.
    eps_limit = 50.0

    [[devices]]                  # boards reached over a link
    link = "socket://127.0.0.1:5000"   # or "/dev/ttyACM0"
    name = "left-wrist"          # optional; default dev<i>

    [emulate]                    # or: let the host launch emulated boards
    board = "qemu"               # "qemu" | "native"
    n = 4
    data = "basicmotions"
    seed = 0                     # only for splitting the data into shards

Overrides name a key as "section.key=value" (or just "key=value" when only one section has
it); the value is parsed as TOML, falling back to a bare string: "fleet.rounds=5",
"deadline_s=2.5", "emulate.board=native", "devices=['socket://127.0.0.1:5000']".
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable

from ..firmware_config import DpConfig
from ..wire.spec import MAX_CHUNK, MIN_CHUNK

__all__ = [
    "ConfigError",
    "DeviceSpec",
    "DpConfig",
    "EmulateSpec",
    "FleetConfig",
    "RoundSpec",
    "load_fleet_config",
    "fleet_config_from_dict",
    "parse_fleet_config",
]

BOARDS = ("qemu", "qemu-rv32", "native")
DATASETS = ("basicmotions", "digits", "synthetic")


class ConfigError(ValueError):
    """The fleet configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class RoundSpec:
    """The [fleet] section: how every round runs."""

    rounds: int = 3
    lr: float = 0.05
    local_epochs: int = 5  # the demo's settings: one default for every command
    batch_size: int = 5
    deadline_s: float = 30.0
    server_lr: float = 1.0
    chunk: int = MAX_CHUNK
    init_seed: int = 0
    resends: int = 3
    resend_after_s: float = 0.0

    @property
    def resend_interval_s(self) -> float:
        """Quiet time after which the head is sent again (the deadline still ends the round)."""
        if self.resend_after_s > 0.0:
            return self.resend_after_s
        return self.deadline_s / (self.resends + 1)

    def validate(self) -> None:
        _check(self.rounds >= 1, "fleet.rounds", "must be at least 1")
        _check(0.0 < self.lr <= 10.0, "fleet.lr", "must be in (0, 10]")
        _check(1 <= self.local_epochs <= 20, "fleet.local_epochs", "must be in 1..20")
        _check(1 <= self.batch_size <= 64, "fleet.batch_size", "must be in 1..64")
        _check(self.deadline_s > 0.0, "fleet.deadline_s", "must be positive")
        _check(self.server_lr > 0.0, "fleet.server_lr", "must be positive")
        _check(MIN_CHUNK <= self.chunk <= MAX_CHUNK, "fleet.chunk",
               f"must be in {MIN_CHUNK}..{MAX_CHUNK}")
        _check(0 <= self.resends <= 20, "fleet.resends", "must be in 0..20")
        _check(self.resend_after_s >= 0.0, "fleet.resend_after_s", "must be >= 0")


def validate_dp(dp: DpConfig) -> None:
    """The [dp] section: what a release build can be compiled with."""
    _check(math.isfinite(dp.clip) and dp.clip > 0.0, "dp.clip", "must be a positive number")
    _check(math.isfinite(dp.noise_multiplier) and dp.noise_multiplier >= 0.0,
           "dp.noise_multiplier", "must be a number >= 0")
    _check(1 <= dp.grid_bits <= 20, "dp.grid_bits", "must be in 1..20")
    _check(0.0 < dp.delta < 1.0, "dp.delta", "must be in (0, 1)")
    _check(math.isfinite(dp.eps_limit) and dp.eps_limit > 0.0, "dp.eps_limit",
           "must be a positive number")


@dataclass(frozen=True)
class DeviceSpec:
    """One [[devices]] entry: a board the host reaches over a link."""

    link: str
    name: str = ""


@dataclass(frozen=True)
class EmulateSpec:
    """The [emulate] section: emulated boards the host launches itself."""

    board: str = "qemu"
    n: int = 4
    data: str = "basicmotions"
    seed: int = 0

    def validate(self) -> None:
        _check(self.board in BOARDS, "emulate.board", f"must be one of {', '.join(BOARDS)}")
        _check(1 <= self.n <= 256, "emulate.n", "must be in 1..256")
        _check(self.data in DATASETS, "emulate.data", f"must be one of {', '.join(DATASETS)}")


@dataclass(frozen=True)
class SecaggSpec:
    """The [secagg] section: every round is a secure-aggregation round (tinyfl.fleet.
    secagg_round); the devices must be built with secure aggregation (TINYFL_SECAGG)."""

    k: int = 0  # neighbours per device: 0 (or >= n - 1) for the complete graph, else even >= 2
    n_min: int = 0  # the host's own floor on survivors; 0: the largest n_min of the devices
    step_timeout_s: float = 10.0  # wait per protocol step; a device silent that long dropped
    # the policy of the images the host builds itself ([emulate]); real boards report theirs
    n_max: int = 1000  # the largest cohort the image's modulus is sized for
    local_multiplier: float = 0.5  # sigma_local / C, the noise floor each device keeps alone

    def validate(self) -> None:
        _check(self.k == 0 or (self.k >= 2 and self.k % 2 == 0), "secagg.k",
               "must be 0 (complete graph) or an even number >= 2")
        _check(self.k <= 32, "secagg.k", "must be at most 32 (the wire's bound)")
        _check(self.n_min == 0 or 2 <= self.n_min <= 65535, "secagg.n_min", "must be 0 or 2..65535")
        _check(math.isfinite(self.step_timeout_s) and self.step_timeout_s > 0,
               "secagg.step_timeout_s", "must be a positive number")
        _check(max(2, self.n_min) <= self.n_max <= 65535, "secagg.n_max", "must be in max(2, n_min)..65535")
        _check(math.isfinite(self.local_multiplier) and self.local_multiplier >= 0,
               "secagg.local_multiplier", "must be a number >= 0")


@dataclass(frozen=True)
class FleetConfig:
    fleet: RoundSpec = field(default_factory=RoundSpec)
    devices: tuple[DeviceSpec, ...] = ()
    emulate: EmulateSpec | None = None
    dp: DpConfig = field(default_factory=DpConfig)
    secagg: SecaggSpec | None = None

    def validate(self) -> None:
        self.fleet.validate()
        validate_dp(self.dp)
        if self.emulate is not None:
            self.emulate.validate()
        if self.secagg is not None:
            self.secagg.validate()
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise ConfigError(f"devices: names must be unique, got {names}")

    def device_names(self) -> list[str]:
        return [d.name for d in self.devices]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fleet": asdict(self.fleet), "dp": asdict(self.dp),
                               "devices": [asdict(d) for d in self.devices]}
        if self.emulate is not None:
            out["emulate"] = asdict(self.emulate)
        if self.secagg is not None:
            out["secagg"] = asdict(self.secagg)
        return out

    def with_overrides(self, overrides: Iterable[str]) -> FleetConfig:
        raw = self.to_dict()
        for item in overrides:
            _apply_override(raw, item)
        return _from_dict(raw)


def _check(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {why}")


def _build(cls: type, section: str, values: Any) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{section}: expected a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{section}: unknown key(s) {', '.join(unknown)}")
    converted = {}
    for key, value in values.items():
        kind = known[key].type
        converted[key] = _convert(f"{section}.{key}", value, kind)
    try:
        return cls(**converted)
    except TypeError as exc:
        raise ConfigError(f"{section}: {exc}") from exc


def _convert(key: str, value: Any, kind: Any) -> Any:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _from_dict(raw: dict[str, Any]) -> FleetConfig:
    unknown = sorted(set(raw) - {"fleet", "devices", "emulate", "dp", "secagg"})
    if unknown:
        raise ConfigError(f"unknown section(s) {', '.join(unknown)}")
    fleet = _build(RoundSpec, "fleet", raw.get("fleet", {}))
    devices_raw = raw.get("devices", [])
    if not isinstance(devices_raw, list):
        raise ConfigError("devices: expected an array of tables ([[devices]])")
    devices = []
    for i, entry in enumerate(devices_raw):
        if isinstance(entry, str):  # "devices=['socket://...']" override shorthand
            entry = {"link": entry}
        if not isinstance(entry, dict) or "link" not in entry:
            raise ConfigError(f"devices[{i}]: needs a link")
        spec = _build(DeviceSpec, f"devices[{i}]", entry)
        devices.append(spec if spec.name else replace(spec, name=f"dev{i}"))
    emulate = _build(EmulateSpec, "emulate", raw["emulate"]) if "emulate" in raw else None
    dp = _build(DpConfig, "dp", raw.get("dp", {}))
    secagg = _build(SecaggSpec, "secagg", raw["secagg"]) if "secagg" in raw else None
    config = FleetConfig(fleet=fleet, devices=tuple(devices), emulate=emulate, dp=dp, secagg=secagg)
    config.validate()
    return config


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: emulate.board=native


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {item!r}: expected key=value")
    value = _parse_value(text.strip())
    if key == "devices":
        raw["devices"] = value
        return
    section, dot, name = key.rpartition(".")
    if not dot:
        holders = [s for s, cls in (("fleet", RoundSpec), ("emulate", EmulateSpec),
                                    ("dp", DpConfig))
                   if name in {f.name for f in fields(cls)}]
        if len(holders) != 1:
            raise ConfigError(f"override {item!r}: unknown or ambiguous key {name!r}; "
                              "write section.key")
        section = holders[0]
    if section not in ("fleet", "emulate", "dp"):
        raise ConfigError(f"override {item!r}: unknown section {section!r}")
    raw.setdefault(section, {})[name] = value


def fleet_config_from_dict(raw: dict[str, Any]) -> FleetConfig:
    """A validated FleetConfig from already-parsed TOML tables (a project file's fleet part)."""
    return _from_dict(dict(raw))


def parse_fleet_config(text: str, overrides: Iterable[str] = ()) -> FleetConfig:
    """Parses TOML text, applies the overrides, validates."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from exc
    for item in overrides:
        _apply_override(raw, item)
    return _from_dict(raw)


def load_fleet_config(path: str | Path, overrides: Iterable[str] = ()) -> FleetConfig:
    """Loads a fleet TOML file (see the module doc for the keys)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    try:
        return parse_fleet_config(text, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
