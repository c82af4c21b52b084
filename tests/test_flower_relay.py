"""The relay without Flower: gateways in this process (LocalGateways) moving fake devices' bytes.

What a relayed run must keep: the same rounds and head as the Aggregator over direct links, the
server's own checks (a gateway that replays or forges is caught where the protocol can catch
it), and bounded handling of whatever a gateway answers."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pytest

from fakes.fake_device import FakeDevice, stand_in_epsilon
from fakes.harness import fleet_config, run_fleet, running
from tinyfl.fleet import Outcome, RunReader, recompute_globals
from tinyfl.flower import GatewayBoards, LocalGateways, Request, run_relayed
from tinyfl.flower.exchange import (MAX_REPLY_BYTES, BoardReply, ExchangeError, encode_request,
                                    parse_describe, parse_reply, parse_request)
from tinyfl.links import open_link
from tinyfl.wire import FrameDecoder, Update


def _gateways(fakes, split) -> dict[str, GatewayBoards]:
    return {name: GatewayBoards(name, {f"fake{fakes[i].index}": open_link(fakes[i].url)
                                       for i in members})
            for name, members in split.items()}


def _run(fakes, split, run_dir: Path, wrap=None, **fleet):
    config = fleet_config(fakes, **{"rounds": 2, "deadline_s": 3.0, **fleet})
    local = LocalGateways(_gateways(fakes, split))
    if wrap is not None:
        local.exchange = wrap(local.exchange)
    try:
        return run_relayed(config, local, run_dir, epsilon=stand_in_epsilon, window_s=0.2,
                           hello_timeout=2.0, recheck_timeout=1.0)
    finally:
        local.close()
        for gateway in local.gateways.values():
            gateway.close()


def test_relayed_run_equals_the_direct_run(tmp_path: Path) -> None:
    with running(*[FakeDevice(i) for i in range(4)]) as fakes:
        direct = run_fleet(fakes, tmp_path / "direct", fleet={"rounds": 2})
    with running(*[FakeDevice(i) for i in range(4)]) as fakes:
        relayed = _run(fakes, {"gwA": [0, 1], "gwB": [2, 3]}, tmp_path / "relay")
    names = ["gwA/fake0", "gwA/fake1", "gwB/fake2", "gwB/fake3"]
    for report in relayed.rounds:
        assert report.accepted == names
    np.testing.assert_array_equal(relayed.final.params, direct.final.params)
    np.testing.assert_array_equal(recompute_globals(tmp_path / "relay")[2], relayed.final.params)
    assert [p.eps_host for p in relayed.privacy] == [p.eps_host for p in direct.privacy]
    assert all(p.agrees for p in relayed.privacy)


def _replaying(exchange):
    """A malicious gateway: answers round 2 with its boards' round-1 update frames."""
    seen: dict[str, bytes] = {}

    def wrapped(requests: Mapping[str, Request]):
        replies = exchange(requests)
        out = {}
        for gateway, reply in replies.items():
            if isinstance(reply, BoardReply) and "gwA" == gateway:
                for board, data in list(reply.received.items()):
                    if not any(isinstance(r.message, Update)
                               for r in FrameDecoder().feed(data)):
                        continue
                    if board not in seen:
                        seen[board] = data  # the round-1 update
                    else:
                        reply.received[board] = seen[board]  # replayed instead of round 2's
            out[gateway] = reply
        return out

    return wrapped


def test_a_gateway_replaying_old_updates_is_caught(tmp_path: Path) -> None:
    with running(*[FakeDevice(i) for i in range(3)]) as fakes:
        summary = _run(fakes, {"gwA": [0], "gwB": [1, 2]}, tmp_path / "run", wrap=_replaying,
                       resends=0)
    assert summary.rounds[0].outcomes["gwA/fake0"] == Outcome.OK.value
    # round 2: only the replayed round-1 update arrived from gwA; the server's nonce check
    # refuses it, the other gateway's boards are unaffected
    assert summary.rounds[1].outcomes["gwA/fake0"] == Outcome.REPLAY.value
    assert summary.rounds[1].accepted == ["gwB/fake1", "gwB/fake2"]
    kinds = [e["kind"] for e in RunReader(tmp_path / "run").events()]
    assert "replay" in kinds


def test_a_gateway_that_drops_everything_times_its_boards_out(tmp_path: Path) -> None:
    def dropping(exchange):
        def wrapped(requests):
            replies = dict(exchange(requests))
            if "gwA" in replies:
                replies["gwA"] = BoardReply()  # says nothing came
            return replies
        return wrapped

    with running(*[FakeDevice(i) for i in range(2)]) as fakes:
        summary = _run(fakes, {"gwA": [0], "gwB": [1]}, tmp_path / "run", wrap=dropping,
                       rounds=1, deadline_s=1.0)
    assert summary.rounds[0].accepted == ["gwB/fake1"]
    devices = {d.device: d for d in summary.devices}
    assert devices["gwA/fake0"].refused == "no hello"


def test_a_malformed_reply_loses_that_gateway_only(tmp_path: Path) -> None:
    """A reply naming a board the gateway does not own is refused as a whole, in one line."""
    def forging(exchange):
        def wrapped(requests):
            replies = dict(exchange(requests))
            if "gwA" in replies:
                replies["gwA"] = "malformed reply: bytes for 'fake1', a board this gateway " \
                                 "does not own"
            return replies
        return wrapped

    with running(*[FakeDevice(i) for i in range(2)]) as fakes:
        summary = _run(fakes, {"gwA": [0], "gwB": [1]}, tmp_path / "run", wrap=forging,
                       rounds=1, deadline_s=1.0)
    assert summary.rounds[0].accepted == ["gwB/fake1"]
    events = [e for e in RunReader(tmp_path / "run").events() if e["kind"] == "gateway_no_reply"]
    assert events and all(e["gateway"] == "gwA" for e in events)
    assert "does not own" in events[0]["reason"]


def test_a_board_whose_link_fails_at_the_gateway_is_link_down(tmp_path: Path) -> None:
    with running(*[FakeDevice(i, mode="disconnect", rounds={1}) for i in range(1)],
                 FakeDevice(1)) as fakes:
        summary = _run(fakes, {"gwA": [0], "gwB": [1]}, tmp_path / "run", rounds=1,
                       deadline_s=2.0, resends=0)
    assert summary.rounds[0].outcomes["gwA/fake0"] in (Outcome.LINK_DOWN.value,
                                                       Outcome.BAD_FRAMES.value)
    assert summary.rounds[0].accepted == ["gwB/fake1"]


# --- the messages ---------------------------------------------------------------------------

def test_parse_reply_bounds_what_a_gateway_sends() -> None:
    boards = {"a", "b"}
    assert parse_reply({"in:a": b"\x01\x00", "down:b": "gone"}, boards).down == {"b": "gone"}
    for bad, why in (({"in:c": b"x"}, "does not own"),
                     ({"in:a": "text"}, "not bytes"),
                     ({"in:a": bytes(MAX_REPLY_BYTES + 1)}, "more than"),
                     ({"down:zz": "x"}, "does not own"),
                     ({"in:" + "x" * 65: b""}, "board name")):
        with pytest.raises(ExchangeError, match=why):
            parse_reply(bad, boards)
    assert len(parse_reply({"down:a": "y" * 10_000}, boards).down["a"]) == 200


def test_parse_describe_and_request_refuse_nonsense() -> None:
    assert parse_describe({"gateway": "g", "boards": "a,b"}) == ("g", ["a", "b"])
    for bad in ({"gateway": "", "boards": "a"}, {"gateway": "g", "boards": ""},
                {"gateway": "g", "boards": "a,a"}, {"gateway": "g/h", "boards": "a"},
                {"gateway": "g", "boards": 3}, {"boards": "a"}):
        with pytest.raises(ExchangeError):
            parse_describe(bad)
    op, request = parse_request(encode_request(Request(out={"a": b"\x02\x00"}, reopen=["b"],
                                                       window_s=0.5)))
    assert (op, request.out, request.reopen, request.window_s) == ("exchange", {"a": b"\x02\x00"},
                                                                   ["b"], 0.5)
    for bad in ({"op": "rm -rf"}, {"op": "exchange", "window_s": 1e9},
                {"op": "exchange", "out:a": "str"}):
        with pytest.raises(ExchangeError):
            parse_request(bad)


def test_gateway_answers_a_malformed_request_in_one_line() -> None:
    with running(FakeDevice(0)) as fakes:
        gateway = GatewayBoards("g", {"a": open_link(fakes[0].url)})
        try:
            assert gateway.handle({"op": "exchange", "window_s": -1})["error"].startswith(
                "window_s")
            assert gateway.handle({"op": "describe"}) == {"gateway": "g", "boards": "a"}
        finally:
            gateway.close()


def test_a_round_is_one_batched_exchange(tmp_path: Path) -> None:
    """Every board's frames for a step travel in one request per gateway: hellos, one exchange
    per round, the closing hellos."""
    calls: list[dict[str, int]] = []

    def counting(exchange):
        def wrapped(requests):
            calls.append({g: len(r.out) for g, r in requests.items()})
            return exchange(requests)
        return wrapped

    with running(*[FakeDevice(i) for i in range(6)]) as fakes:
        summary = _run(fakes, {"gwA": [0, 1, 2], "gwB": [3, 4, 5]}, tmp_path / "run",
                       wrap=counting, rounds=3)
    assert all(len(r.accepted) == 6 for r in summary.rounds)
    # hellos, 3 rounds, closing hellos; a thread that stalls past the gathering time may
    # split one step in two, not more
    assert len(calls) <= 1 + 3 + 1 + 1, calls
    assert sum(c == {"gwA": 3, "gwB": 3} for c in calls) >= 4, calls


def test_the_local_socket_to_the_gateway_is_loopback_and_bounded() -> None:
    from tinyfl.flower import BoardServer, ask_gateway
    from tinyfl.flower.gateway import _from_json

    with running(FakeDevice(0)) as fakes:
        server = BoardServer(GatewayBoards("g", {"a": open_link(fakes[0].url)})).start()
        try:
            assert ask_gateway(server.address, {"op": "describe"}) == {"gateway": "g",
                                                                        "boards": "a"}
            reply = ask_gateway(server.address, encode_request(
                Request(out={"a": b""}, window_s=0.3)))
            assert set(reply) <= {"in:a"}
        finally:
            server.close()
            server.boards.close()
    with pytest.raises(ExchangeError, match="loopback"):
        ask_gateway("10.1.2.3:9000", {"op": "describe"})
    for bad in (b"[1]", b'{"in:a": {"b": "zz"}}', b'{"in:a": [1]}', b'{"x": {"c": 1}}'):
        with pytest.raises(ExchangeError):
            _from_json(bad)


def test_a_relayed_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    with running(*[FakeDevice(i) for i in range(2)]) as fakes:
        first = _run(fakes, {"gwA": [0], "gwB": [1]}, tmp_path / "run", rounds=1)
        second = _run(fakes, {"gwA": [0], "gwB": [1]}, tmp_path / "run", rounds=3)
    assert first.rounds_completed == 1 and second.resumed_at == 2
    assert second.rounds_completed == 3
    assert [len(r.accepted) for r in second.rounds] == [2, 2, 2]
    np.testing.assert_array_equal(recompute_globals(tmp_path / "run")[3], second.final.params)
    assert all(p.releases_host == 3 and p.agrees for p in second.privacy)
