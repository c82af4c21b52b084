"""The Flower apps: a ServerApp that runs tinyfl's Aggregator over every gateway's boards, and a
ClientApp (one call per message, in a SuperNode on a gateway) that hands each request to the
long-running gateway process holding the boards' links.

Run config of the ServerApp (flwr run ... --run-config "..."):
  fleet = "host/fleets/x.toml"   [fleet] and [dp] of the run (the [[devices]] come from the
                                 gateways); "" for the defaults
  overrides = "fleet.rounds=2;fleet.deadline_s=20"   ';'-separated section.key=value
  secagg = ""                    [secagg] as "k=0;n_min=6;step_timeout_s=45.0": secure rounds
  run-dir = "runs/flower"        the run record (resumed when it holds a run and resume=true)
  resume = false
  gateways = 2                   SuperNodes to wait for before the first round
  wait-s = 60.0                  how long to wait for them
  window-s = 1.0                 how long a gateway listens to its boards per exchange
  reply-timeout-s = 30.0         how long the server waits for a gateway's reply
  allow-test-builds = false
Node config of a SuperNode: tinyfl-gateway = "127.0.0.1:PORT" (what `tinyfl flower gateway`
prints and passes itself).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from .exchange import (BoardReply, ExchangeError, Request, describe_request, encode_request,
                       parse_describe)
from .gateway import ask_gateway
from .relay import checked_reply

__all__ = ["GridGateways", "clientapp", "serverapp"]

RECORD = "tinyfl"
MESSAGE_TYPE = "query"
PULL_S = 0.25

clientapp = ClientApp()


@clientapp.query()
def relay(message: Message, context: Context) -> Message:
    address = str(context.node_config.get("tinyfl-gateway", ""))
    try:
        reply = ask_gateway(address, dict(message.content[RECORD]))
    except (ExchangeError, OSError, ValueError, KeyError) as exc:
        reply = {"error": f"gateway at {address!r} unreachable: {exc}"}
    return Message(RecordDict({RECORD: ConfigRecord(reply)}), reply_to=message)


class GridGateways:
    """The gateways behind a Flower Grid: one SuperNode each, found by a describe message."""

    def __init__(self, grid: Grid, expected: int, *, wait_s: float = 60.0,
                 reply_timeout_s: float = 30.0) -> None:
        self.grid, self.expected = grid, expected
        self.wait_s, self.reply_timeout_s = wait_s, reply_timeout_s
        self.node_of: dict[str, int] = {}
        self.boards: dict[str, set[str]] = {}

    def _send(self, records: Mapping[int, dict[str, Any]], timeout: float) -> dict[int, Any]:
        """node -> its reply record, or a one-line reason; every reply is counted here."""
        messages = [Message(RecordDict({RECORD: ConfigRecord(record)}), dst_node_id=node,
                            message_type=MESSAGE_TYPE, ttl=timeout + 30.0)
                    for node, record in records.items()]
        out: dict[int, Any] = {node: f"no reply within {timeout:g} s" for node in records}
        for reply in self._send_and_receive(messages, timeout):
            node = reply.metadata.src_node_id
            if node not in records:
                continue  # not asked: ignored
            if reply.has_error():
                out[node] = f"error {reply.error.code}: {reply.error.reason}"[:200]
            elif RECORD not in reply.content.config_records:
                out[node] = "reply without a tinyfl record"
            else:
                out[node] = dict(reply.content.config_records[RECORD])
        return out

    def _send_and_receive(self, messages: list[Message], timeout: float) -> list[Message]:
        """Grid.send_and_receive, but pulling every PULL_S instead of every 3 s: a round is
        a few exchanges, and each waits for the SuperNode's own 3 s poll already."""
        pending = set(self.grid.push_messages(messages))
        until = time.monotonic() + timeout
        replies: list[Message] = []
        while pending and time.monotonic() < until:
            got = list(self.grid.pull_messages(pending))
            replies.extend(got)
            pending -= {m.metadata.reply_to_message_id for m in got}
            if pending:
                time.sleep(PULL_S)
        return replies

    def describe(self) -> dict[str, list[str]]:
        until = time.monotonic() + self.wait_s
        while len(nodes := list(self.grid.get_node_ids())) < self.expected:
            if time.monotonic() > until:
                raise ExchangeError(f"{len(nodes)} of {self.expected} gateways connected "
                                    f"within {self.wait_s:g} s")
            time.sleep(1.0)
        replies = self._send({node: describe_request() for node in nodes}, self.reply_timeout_s)
        out: dict[str, list[str]] = {}
        for node, reply in replies.items():
            if isinstance(reply, str):
                raise ExchangeError(f"node {node}: {reply}")
            if "error" in reply:
                raise ExchangeError(f"node {node}: {reply['error']}")
            name, boards = parse_describe(reply)
            if name in out:
                raise ExchangeError(f"two SuperNodes call themselves gateway {name!r}")
            out[name] = boards
            self.node_of[name] = node
            self.boards[name] = set(boards)
        return out

    def exchange(self, requests: Mapping[str, Request]) -> dict[str, BoardReply | str]:
        window = max((r.window_s for r in requests.values()), default=0.0)
        records = {self.node_of[g]: encode_request(r) for g, r in requests.items()}
        replies = self._send(records, window + self.reply_timeout_s)
        out: dict[str, BoardReply | str] = {}
        for gateway in requests:
            reply = replies[self.node_of[gateway]]
            if isinstance(reply, str):
                out[gateway] = reply
            elif "error" in reply:
                out[gateway] = f"gateway error: {str(reply['error'])[:200]}"
            else:
                out[gateway] = checked_reply(reply, self.boards[gateway])
        return out


serverapp = ServerApp()


@serverapp.main()
def main(grid: Grid, context: Context) -> None:
    from .server import config_from_run_config, run_relayed

    rc = context.run_config
    config = config_from_run_config(rc)
    run_dir = Path(str(rc.get("run-dir", "runs/flower")))
    from ..fleet.record import holds_run

    if holds_run(run_dir) and not bool(rc.get("resume", False)):
        raise ExchangeError(f"{run_dir} already holds a run: resume it or choose another run-dir")
    gateways = GridGateways(grid, int(rc.get("gateways", 1)),
                            wait_s=float(rc.get("wait-s", 60.0)),
                            reply_timeout_s=float(rc.get("reply-timeout-s", 30.0)))

    def progress(report: Any) -> None:
        print(json.dumps({"round": report.round, "accepted": len(report.accepted),
                          "asked": len(report.outcomes), "elapsed_s": round(report.elapsed_s, 2)}),
              flush=True)

    summary = run_relayed(config, gateways, run_dir, window_s=float(rc.get("window-s", 1.0)),
                          progress=progress,
                          allow_test_builds=bool(rc.get("allow-test-builds", False)))
    (run_dir / "summary.json").write_text(json.dumps(summary.to_dict(), indent=1))
    print(f"tinyfl: {summary.rounds_completed} rounds, recorded in {run_dir}", flush=True)
