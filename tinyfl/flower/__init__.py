"""tinyfl on Flower: gateways (SuperNodes) relay their boards' frames to one server (ServerApp)
that runs the unchanged tinyfl Aggregator; a simulation of large fleets of modelled devices.

Nothing here imports flwr at import time except tinyfl.flower.apps (the Flower apps).
"""
from .exchange import BoardReply, ExchangeError, Request
from .gateway import BoardServer, GatewayBoards, ask_gateway
from .relay import RelayHub, RelayLink
from .server import Gateways, LocalGateways, run_relayed

__all__ = [
    "BoardReply",
    "BoardServer",
    "ExchangeError",
    "GatewayBoards",
    "Gateways",
    "LocalGateways",
    "RelayHub",
    "RelayLink",
    "Request",
    "ask_gateway",
    "run_relayed",
]
