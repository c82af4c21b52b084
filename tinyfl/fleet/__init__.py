"""The host side of a federated run: device sessions, the aggregator, the run record, config.

Never imports tensorflow: the aggregator and what the attacks read must stay light.
"""
from .admission import head_problem, hello_problem, update_norm_bound
from .aggregator import (
    Aggregator,
    DevicePrivacy,
    DeviceReport,
    RoundReport,
    RunSummary,
    fedavg,
    initial_head,
    next_head,
    privacy_from_record,
)
from .config import (
    ConfigError,
    DeviceSpec,
    DpConfig,
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
    "DeviceReport",
    "DeviceSession",
    "DeviceSpec",
    "DpConfig",
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
    "head_problem",
    "hello_problem",
    "initial_head",
    "judge",
    "load_fleet_config",
    "next_head",
    "parse_fleet_config",
    "privacy_from_record",
    "recompute_globals",
    "update_norm_bound",
]
