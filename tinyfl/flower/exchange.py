"""The relay's messages: what the server asks a gateway and what a gateway answers, as flat
dicts of str -> bytes | str | float | bool (what a Flower ConfigRecord carries).

A request names the boards it writes to ("out:BOARD" -> bytes), the boards whose link the
gateway should open again ("reopen:BOARD" -> True) and how long the gateway listens after
writing ("window_s"). A reply carries each board's received bytes ("in:BOARD" -> bytes) and the
boards whose link failed ("down:BOARD" -> reason). A describe request ("op" = "describe") is
answered with the gateway's name and its boards ("gateway", "boards": "a,b,c").

Everything in a reply comes from a gateway the server does not trust: parse_reply bounds it
and turns anything malformed into a one-line error (the boards then get nothing this time).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "BoardReply",
    "ExchangeError",
    "MAX_BOARD_NAME",
    "MAX_BOARDS",
    "MAX_REPLY_BYTES",
    "Request",
    "describe_request",
    "encode_reply",
    "encode_request",
    "parse_describe",
    "parse_reply",
    "parse_request",
]

MAX_BOARDS = 4096  # boards one gateway may own
MAX_BOARD_NAME = 64
MAX_REPLY_BYTES = 1 << 20  # bytes one board may return in one exchange
MAX_REASON = 200  # characters kept of a gateway's "down" reason
MAX_WINDOW_S = 60.0


class ExchangeError(ValueError):
    """A request or reply that does not follow the relay's format."""


@dataclass
class Request:
    out: dict[str, bytes] = field(default_factory=dict)
    reopen: list[str] = field(default_factory=list)
    window_s: float = 1.0


@dataclass
class BoardReply:
    received: dict[str, bytes] = field(default_factory=dict)
    down: dict[str, str] = field(default_factory=dict)


def describe_request() -> dict[str, Any]:
    return {"op": "describe"}


def encode_request(request: Request) -> dict[str, Any]:
    out: dict[str, Any] = {"op": "exchange", "window_s": float(request.window_s)}
    for board, data in request.out.items():
        out[f"out:{board}"] = bytes(data)
    for board in request.reopen:
        out[f"reopen:{board}"] = True
    return out


def _board(key: str, prefix: str) -> str:
    name = key[len(prefix):]
    if not 0 < len(name) <= MAX_BOARD_NAME:
        raise ExchangeError(f"board name of {len(name)} characters in {prefix!r}")
    return name


def parse_request(record: Mapping[str, Any]) -> tuple[str, Request]:
    """(op, request) from what the server sent; the gateway checks it too (bounded)."""
    op = record.get("op")
    if op not in ("describe", "exchange"):
        raise ExchangeError(f"unknown op {op!r}")
    request = Request()
    window = record.get("window_s", 1.0)
    if not isinstance(window, (int, float)) or not 0.0 <= float(window) <= MAX_WINDOW_S:
        raise ExchangeError(f"window_s {window!r} is not in 0..{MAX_WINDOW_S:g}")
    request.window_s = float(window)
    for key, value in record.items():
        if key.startswith("out:"):
            if not isinstance(value, bytes):
                raise ExchangeError(f"{key}: {type(value).__name__}, not bytes")
            request.out[_board(key, "out:")] = value
        elif key.startswith("reopen:"):
            request.reopen.append(_board(key, "reopen:"))
    return op, request


def encode_reply(reply: BoardReply) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for board, data in reply.received.items():
        out[f"in:{board}"] = bytes(data)
    for board, reason in reply.down.items():
        out[f"down:{board}"] = str(reason)[:MAX_REASON]
    return out


def parse_reply(record: Mapping[str, Any], boards: set[str]) -> BoardReply:
    """A gateway's reply, checked: only its own boards, bytes within bounds."""
    reply = BoardReply()
    for key, value in record.items():
        if key.startswith("in:"):
            name = _board(key, "in:")
            if name not in boards:
                raise ExchangeError(f"bytes for {name!r}, a board this gateway does not own")
            if not isinstance(value, bytes):
                raise ExchangeError(f"{key}: {type(value).__name__}, not bytes")
            if len(value) > MAX_REPLY_BYTES:
                raise ExchangeError(f"{len(value)} bytes for {name!r}, more than "
                                    f"{MAX_REPLY_BYTES}")
            reply.received[name] = value
        elif key.startswith("down:"):
            name = _board(key, "down:")
            if name not in boards:
                raise ExchangeError(f"a failure for {name!r}, a board this gateway does "
                                    "not own")
            reply.down[name] = str(value)[:MAX_REASON]
    return reply


def parse_describe(record: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(gateway name, its boards) from a describe reply, checked."""
    gateway, boards = record.get("gateway"), record.get("boards")
    if not isinstance(gateway, str) or not 0 < len(gateway) <= MAX_BOARD_NAME:
        raise ExchangeError(f"gateway name {gateway!r} is not a short string")
    if not isinstance(boards, str):
        raise ExchangeError(f"boards {type(boards).__name__}, not a comma-separated string")
    names = [b for b in boards.split(",") if b]
    if not names or len(names) > MAX_BOARDS:
        raise ExchangeError(f"{len(names)} boards, expected 1..{MAX_BOARDS}")
    if len(set(names)) != len(names) or any(len(n) > MAX_BOARD_NAME for n in names):
        raise ExchangeError("board names must be unique and at most "
                            f"{MAX_BOARD_NAME} characters")
    if "/" in gateway or any("/" in n for n in names):
        raise ExchangeError("names must not contain '/'")
    return gateway, names
