"""Untrusted bytes against a native secure-aggregation board (built with ASan and UBSan):
random and mutated payloads of
every host -> device secure-aggregation message, idle and in the middle of a round, framed
correctly so they reach the decoders and the round logic. The board answers each with at most
an error, never crashes, never releases (its ledger is unchanged), and still serves an honest
round afterwards."""
from __future__ import annotations

import random
import struct

import pytest

from secagg_fleet_support import shards
from test_secagg_hostile import SMALL, answer, head, masked_round
from tinyfl.emulate import launch_fleet
from tinyfl.fleet.device import DeviceSession
from tinyfl.fleet.secagg_round import hello_and_policy
from tinyfl.links import open_link
from tinyfl.wire import SecaggKeys, encode_payload, spec

HOST_TO_DEVICE = [m for m in spec.MESSAGES if m.name.startswith("secagg_") and m.direction == "host->device"]
CASES = 400


def mutated(rng: random.Random, m: spec.Message, run: int, round_number: int) -> bytes:
    """A payload near a valid one: the right (run, round) most of the time, random fields,
    array counts and lengths off by a little or a lot."""
    out = bytearray(struct.pack("<II", run if rng.random() < 0.8 else rng.randrange(4),
                                round_number if rng.random() < 0.8 else rng.randrange(4)))
    for f in m.fields[2:]:
        if f.kind in spec.SCALARS:
            out += rng.randbytes(spec.SCALARS[f.kind][2])
        elif f.kind == "bytes":
            out += rng.randbytes(f.length)
        else:
            count = rng.choice((0, 1, 3, 16, 17, 32, 33, rng.randrange(65536)))
            size = {"u16_array": 2, "u32_array": 4}.get(f.kind, f.length)
            out += struct.pack("<H", count) + rng.randbytes(size * min(count, 40))
    cut = rng.random()
    if cut < 0.15:
        return bytes(out[:rng.randrange(len(out) + 1)])
    if cut < 0.25:
        return bytes(out) + rng.randbytes(rng.randrange(1, 8))
    return bytes(out)


@pytest.fixture(scope="module")
def image():
    """The native secure-aggregation board built again with ASan and UBSan (the build's own
    command plus the sanitizers): a memory or UB error kills the board, which the test sees."""
    import json
    import subprocess

    from secagg_fleet_support import firmware

    plain = firmware("native", SMALL)
    command = json.loads((plain.parent / "build.json").read_text())["command"]
    out = plain.parent / "tinyfl-native-sanitized"
    if not out.exists():
        flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
        tmp = out.with_suffix(".tmp")
        subprocess.run([*command, *flags, "-o", str(tmp)], check=True, capture_output=True)
        tmp.replace(out)
    return out


def test_random_secagg_messages_never_crash_or_release(image, tmp_path):
    rng = random.Random(20261202)
    with launch_fleet("native", 1, image, shards(tmp_path, 1), tmp_path / "boards") as fleet:
        board = fleet[0]
        session = DeviceSession(open_link(board.url), "dev1")
        try:
            before, _ = hello_and_policy(session)
            round_number = 1
            for case in range(CASES):
                if case % 20 == 0:  # a round under way for the next cases
                    round_number += 1
                    session.send(head(round_number))
                    assert isinstance(answer(session), SecaggKeys)
                m = rng.choice(HOST_TO_DEVICE)
                session.link.write(encode_payload(m.type_id, case, mutated(rng, m, 1, round_number), 64))
                session.receive(0.01)
                assert board.alive, board.log_text()[-4000:]
            after, policy = hello_and_policy(session)
            assert board.alive and "runtime error" not in board.log_text(), board.log_text()[-4000:]
            assert after.releases_done == before.releases_done == 0
            assert policy.central_eps_spent == 0.0 and after.eps_spent == 0.0
            assert sum(after.refusals) > 0
            masked_round(session, round_number + 1)  # an honest round is still served
        finally:
            session.close()
