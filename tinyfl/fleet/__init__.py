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
from .device import (DeviceSession, Outcome, RoundConversation, RoundResult, SessionError,
                     close_sessions, hello_all, judge)
from .exchange import Collect, Conversation, collect, exchange
from .record import Head, RecordedMessage, RunReader, RunRecorder, holds_run, recompute_globals

__all__ = [
    "Aggregator",
    "Collect",
    "ConfigError",
    "Conversation",
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
    "RoundConversation",
    "RoundReport",
    "RoundResult",
    "RoundSpec",
    "RunReader",
    "RunRecorder",
    "RunSummary",
    "SessionError",
    "close_sessions",
    "collect",
    "exchange",
    "fedavg",
    "head_problem",
    "hello_all",
    "hello_problem",
    "holds_run",
    "initial_head",
    "judge",
    "load_fleet_config",
    "next_head",
    "parse_fleet_config",
    "privacy_from_record",
    "recompute_globals",
    "update_norm_bound",
]
