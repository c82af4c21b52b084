"""The host side of a federated run: device sessions, the aggregator, the run record, config.

Never imports tensorflow: the aggregator and what the attacks read must stay light.
"""
from .aggregator import (
    Aggregator,
    DevicePrivacy,
    RoundReport,
    RunSummary,
    fedavg,
    initial_head,
    privacy_from_record,
)
from .config import (
    ConfigError,
    DeviceSpec,
    EmulateSpec,
    FleetConfig,
    RoundSpec,
    load_fleet_config,
    parse_fleet_config,
)
from .device import DeviceSession, Outcome, RoundResult, SessionError, close_sessions, judge
from .record import Head, RecordedMessage, RunReader, RunRecorder, recompute_globals

__all__ = [
    "Aggregator",
    "ConfigError",
    "DevicePrivacy",
    "DeviceSession",
    "DeviceSpec",
    "EmulateSpec",
    "FleetConfig",
    "Head",
    "Outcome",
    "RecordedMessage",
    "RoundReport",
    "RoundResult",
    "RoundSpec",
    "RunReader",
    "RunRecorder",
    "RunSummary",
    "SessionError",
    "close_sessions",
    "fedavg",
    "initial_head",
    "judge",
    "load_fleet_config",
    "parse_fleet_config",
    "privacy_from_record",
    "recompute_globals",
]
