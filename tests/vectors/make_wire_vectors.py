"""Writes tests/vectors/wire_vectors.json: link bytes and what a receiver must make of them.

    .venv/bin/python tests/vectors/make_wire_vectors.py          # rewrite the file
    .venv/bin/python tests/vectors/make_wire_vectors.py --check  # exit 1 if it is stale

Each case is {"name", "hex", "expect": {"messages", "rejected", "frames_ok"}}; a message is
{"type", "seq", "fields"} or {"type", "seq", "error": <decode status>}. The expectations are
written from what each case was built to be (the message objects, the intended rejection),
never by running a decoder, and invalid payloads are packed by the small spec-driven packer
below, not by the generated encoder. Python (tests/test_wire_vectors.py) and C
(tests/c/wire_vectors_main.c) both have to reproduce every expectation.
"""
from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tinyfl.wire import (  # noqa: E402
    BudgetExhausted,
    Error,
    GlobalModel,
    Hello,
    HelloRequest,
    SecaggKeys,
    SecaggMaskedUpdate,
    SecaggMaskRequest,
    SecaggNeighbours,
    SecaggPolicy,
    SecaggReveal,
    SecaggShareForYou,
    SecaggShares,
    SecaggUnmaskRequest,
    SetDpConfig,
    Update,
    cobs_encode,
    encode_frame,
    encode_message,
    encode_payload,
    spec,
    to_jsonable,
)

OUTPUT = Path(__file__).resolve().parent / "wire_vectors.json"


# ---------------------------------------------------------------------------------------------
# an independent payload packer (no validation), straight from spec.py


def zigzag_varint(v: int) -> bytes:
    n = (v << 1) if v >= 0 else ((-v - 1) << 1) | 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def pack(name: str, **values: object) -> bytes:
    out = bytearray()
    for f in spec.MESSAGE_BY_NAME[name].fields:
        v = values[f.name]
        if f.kind in spec.SCALARS:
            out += struct.pack("<" + spec.SCALARS[f.kind][1], v)
        elif f.kind == "bytes":
            out += bytes(v)
        elif f.kind == "f32_array":
            out += struct.pack("<H", len(v)) + b"".join(struct.pack("<f", x) for x in v)
        elif f.kind in ("u16_array", "u32_array"):
            fmt = "<H" if f.kind == "u16_array" else "<I"
            out += struct.pack("<H", len(v)) + b"".join(struct.pack(fmt, int(x)) for x in v)
        elif f.kind == "record_array":
            out += struct.pack("<H", len(v)) + b"".join(bytes(r) for r in v)
        else:
            out += struct.pack("<H", len(v)) + b"".join(zigzag_varint(int(x)) for x in v)
    return bytes(out)


def fields_of(message: object) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
            for k, v in vars(message).items()}


def key(seed: int, size: int = 32) -> bytes:
    return bytes((seed * 37 + 11 * i) & 0xFF for i in range(size))


# ---------------------------------------------------------------------------------------------
# the messages

HELLO = Hello(
    device_id=0xA1B2C3D4, firmware_hash=0x01020304, model_hash=0xFEDCBA98, n_classes=4,
    n_features=64, clip=1.5, noise_multiplier=1.1, grid_bits=16, delta=1e-5, eps_limit=8.0,
    eps_spent=1.25, releases_done=3, releases_max=40, flags=1, max_chunk=240,
    last_run=0xFFFFFFFF, last_round=17, refusals=[0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 2, 0, 9, 0, 0, 0, 0, 0,
                                                   0, 1, 0, 70000],
)
HELLO_REQUEST = HelloRequest()
_rng = np.random.default_rng(20240601)
GLOBAL_SMALL = GlobalModel(
    run=1, round=1, nonce=0x0123456789ABCDEF, lr=0.05, local_epochs=2, batch_size=8, n_classes=3,
    n_features=4, params=np.array([-1.5, -0.25, 0.0, -0.0, 1e-30, 3.5, 1e6, -1e6, 0.1, 0.2,
                                   0.3, 7.25, -7.25, 1 / 3, 2.0]),
)
GLOBAL_40_BYTES = GlobalModel(
    run=3, round=2, nonce=0, lr=0.0, local_epochs=1, batch_size=1, n_classes=2, n_features=1,
    params=[0.25, -0.25, 0.0],  # 3 values: the message is then exactly 40 bytes
)
GLOBAL_MAX = GlobalModel(
    run=2**32 - 1, round=4_000_000_000, nonce=2**64 - 1, lr=10.0, local_epochs=20, batch_size=64, n_classes=16,
    n_features=64, params=_rng.normal(0.0, 0.3, size=spec.MAX_PARAMS),
)
UPDATE_EDGES = Update(
    run=2, round=7, nonce=99, sample_count=31, grid_step=1.5 / 2**16, eps_spent=2.5, releases_done=4,
    n_classes=2, n_features=7,
    values=[0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, 2**20, -(2**20), 2**27 - 1, -(2**27),
            2**31 - 1, -(2**31)],
)
UPDATE_MAX = Update(
    run=2**32 - 1, round=8, nonce=2**40 + 3, sample_count=65535, grid_step=2.0**-20, eps_spent=0.0,
    releases_done=65535, n_classes=16, n_features=64,
    values=_rng.integers(-(2**24), 2**24, size=spec.MAX_PARAMS),
)
ERROR = Error(code=spec.STATUS_BY_NAME["ROUND"], round=12, detail=13)
BUDGET = BudgetExhausted(round=41, eps_spent=7.9, eps_limit=8.0, releases_done=40)
SET_DP = SetDpConfig(clip=100.0, noise_multiplier=0.0, eps_limit=1e9, seed=bytes(range(32)))
SET_DP_NONFINITE = SetDpConfig(clip=math.nan, noise_multiplier=math.inf, eps_limit=-math.inf,
                               seed=b"\xff" * 32)

SECAGG_POLICY = SecaggPolicy(
    device_id=65535, n_min=10, n_max=1000, k_max=16, noise_num=2**40 + 7, noise_den=3,
    local_multiplier=0.5, central_eps_spent=1.75, local_eps_spent=25.9,
)
SECAGG_KEYS = SecaggKeys(run=1, round=2, c_pk=key(1), s_pk=key(2))
SECAGG_NEIGHBOURS = SecaggNeighbours(
    run=1, round=2, t=3, neighbours=[struct.pack("<H", i) + key(i) + key(100 + i) for i in (2, 5, 9, 0xFFFF)],
)
SECAGG_NEIGHBOURS_MAX = SecaggNeighbours(
    run=9, round=4_000_000_000, t=17,
    neighbours=[struct.pack("<H", i + 1) + key(i, 64) for i in range(spec.SECAGG_MAX_NEIGHBOURS)],
)
SECAGG_SHARES = SecaggShares(run=1, round=2, ciphers=[key(i, spec.SECAGG_CIPHER_SIZE) for i in range(3)])
SECAGG_SHARE_FOR_YOU = SecaggShareForYou(run=1, round=2, sender=5, cipher=key(7, spec.SECAGG_CIPHER_SIZE))
SECAGG_MASK_REQUEST = SecaggMaskRequest(run=1, round=2, cohort=12, alive=[2, 5, 65535])
SECAGG_MASKED_EDGES = SecaggMaskedUpdate(
    run=1, round=2, nonce=2**63 + 1, sample_count=6, grid_step=2.0**-8, central_eps_spent=0.5,
    local_eps_spent=3.25, releases_done=1, n_classes=2, n_features=2,
    values=[0, 1, 2**31 - 1, 2**31, 2**32 - 1, 0xDEADBEEF],
)
SECAGG_MASKED_MAX = SecaggMaskedUpdate(
    run=2**32 - 1, round=5, nonce=7, sample_count=65535, grid_step=2.0**-20, central_eps_spent=0.0,
    local_eps_spent=0.0, releases_done=65535, n_classes=16, n_features=64,
    values=_rng.integers(0, 2**32, size=spec.MAX_PARAMS),
)
SECAGG_UNMASK_REQUEST = SecaggUnmaskRequest(run=1, round=2, cohort=11, survived=[])
SECAGG_REVEAL = SecaggReveal(
    run=1, round=2, records=[struct.pack("<HBB", 2, 0, 1) + key(3), struct.pack("<HBB", 9, 1, 4) + key(4)],
)
SECAGG_MESSAGES = (SECAGG_POLICY, SECAGG_KEYS, SECAGG_NEIGHBOURS, SECAGG_SHARES, SECAGG_SHARE_FOR_YOU,
                   SECAGG_MASK_REQUEST, SECAGG_MASKED_EDGES, SECAGG_UNMASK_REQUEST, SECAGG_REVEAL)


def ok(message: object, seq: int) -> dict:
    return {"type": type(message).NAME, "seq": seq, "fields": to_jsonable(message)}


def bad(name: str, seq: int, status: str) -> dict:
    return {"type": name, "seq": seq, "error": status}


def expect(messages: list | None = None, rejected: dict | None = None, frames_ok: int = 0) -> dict:
    return {"messages": messages or [], "rejected": rejected or {}, "frames_ok": frames_ok}


def nframes(payload_len: int, chunk: int) -> int:
    return max(1, -(-payload_len // chunk))


def frames_of(type_id: int, seq: int, payload: bytes, chunk: int) -> list[bytes]:
    n = nframes(len(payload), chunk)
    return [encode_frame(type_id, seq, i, n, payload[i * chunk:(i + 1) * chunk]) for i in range(n)]


def raw_frame(raw: bytes) -> bytes:
    """Any raw bytes as one COBS frame (no header or CRC added)."""
    return cobs_encode(raw) + b"\x00"


# ---------------------------------------------------------------------------------------------


def cases() -> list[dict]:
    out: list[dict] = []

    def add(name: str, data: bytes, exp: dict) -> None:
        out.append({"name": name, "hex": data.hex(), "expect": exp})

    # the independent packer and the generated encoder agree on every valid message
    for message in (HELLO, HELLO_REQUEST, GLOBAL_SMALL, GLOBAL_40_BYTES, GLOBAL_MAX,
                    UPDATE_EDGES, UPDATE_MAX, ERROR, BUDGET, SET_DP, SET_DP_NONFINITE,
                    SECAGG_NEIGHBOURS_MAX, SECAGG_MASKED_MAX, *SECAGG_MESSAGES):
        assert pack(type(message).NAME, **fields_of(message)) == message.encode(), message

    # --- every message type, whole
    for seq, message in enumerate((HELLO, HELLO_REQUEST, GLOBAL_SMALL, UPDATE_EDGES, ERROR,
                                   BUDGET, SET_DP, SET_DP_NONFINITE), start=1):
        add(f"{type(message).NAME}{'_nonfinite' if message is SET_DP_NONFINITE else ''}",
            encode_message(message, seq), expect([ok(message, seq)], frames_ok=1))

    for seq, message in enumerate(SECAGG_MESSAGES, start=20):
        add(type(message).NAME, encode_message(message, seq),
            expect([ok(message, seq)], frames_ok=nframes(len(message.encode()), 240)))

    # --- chunked
    for message, chunk in ((GLOBAL_MAX, 240), (GLOBAL_MAX, 20), (UPDATE_MAX, 240),
                           (UPDATE_MAX, 20), (UPDATE_EDGES, 20), (SECAGG_MASKED_MAX, 240),
                           (SECAGG_MASKED_MAX, 20), (SECAGG_NEIGHBOURS_MAX, 20)):
        n = nframes(len(message.encode()), chunk)
        size = "edges" if message is UPDATE_EDGES else "max"
        add(f"{type(message).NAME}_{size}_chunk{chunk}",
            encode_message(message, 300 + chunk, chunk),
            expect([ok(message, 300 + chunk)], frames_ok=n))
    assert len(GLOBAL_40_BYTES.encode()) == 40
    add("chunk_exact_multiple", encode_message(GLOBAL_40_BYTES, 9, 20),
        expect([ok(GLOBAL_40_BYTES, 9)], frames_ok=2))

    # --- streams: several messages, idle delimiters, garbage before a message
    stream = b"\x00\x00" + encode_message(HELLO, 1) + b"\x00" + encode_message(GLOBAL_SMALL, 2, 20)
    stream += b"\x00\x00\x00" + encode_message(ERROR, 3)
    add("stream_idle_delimiters", stream, expect(
        [ok(HELLO, 1), ok(GLOBAL_SMALL, 2), ok(ERROR, 3)],
        frames_ok=2 + nframes(len(GLOBAL_SMALL.encode()), 20)))
    # 0x11 claims 16 more bytes, only 4 follow: COBS
    add("garbage_then_message", bytes.fromhex("1122334455") + b"\x00" + encode_message(HELLO, 4),
        expect([ok(HELLO, 4)], {"COBS": 1}, 1))
    add("empty_input", b"", expect())
    add("only_delimiters", b"\x00" * 5, expect())
    add("unterminated_frame_at_end", encode_message(HELLO, 5)[:-1], expect())
    hello_frame = encode_message(HELLO, 6)
    add("frame_too_long_on_link", b"\x01" * 300 + b"\x00" + hello_frame,
        expect([ok(HELLO, 6)], {"OVERSIZE": 1}, 1))
    add("frame_longest_body_plus_one", b"\x02" * 254 + b"\x00" + hello_frame,
        expect([ok(HELLO, 6)], {"OVERSIZE": 1}, 1))

    # --- frame-level rejections
    payload = HELLO.encode()
    body = struct.pack("<BBHBBH", 1, 1, 7, 0, 1, len(payload)) + payload
    crc = zlib.crc32(body)
    add("bad_crc", encode_frame(1, 7, 0, 1, payload, crc=crc ^ 1) + hello_frame,
        expect([ok(HELLO, 6)], {"CRC": 1}, 1))
    flipped = bytearray(body + struct.pack("<I", crc))
    flipped[20] ^= 0x10
    add("bit_flip_in_payload", raw_frame(bytes(flipped)), expect(rejected={"CRC": 1}))
    add("frame_shorter_than_header_and_crc", raw_frame(bytes.fromhex("0101000000010000000000")),
        expect(rejected={"TRUNCATED": 1}))
    add("length_field_larger_than_payload",
        encode_frame(1, 7, 0, 1, payload, length=len(payload) + 5),
        expect(rejected={"TRUNCATED": 1}))
    add("length_field_smaller_than_payload",
        encode_frame(1, 7, 0, 1, payload, length=len(payload) - 1),
        expect(rejected={"OVERSIZE": 1}))
    add("length_field_over_max_chunk",
        encode_frame(3, 7, 0, 1, bytes(240), length=300), expect(rejected={"OVERSIZE": 1}))
    add("unknown_type", encode_frame(99, 7, 0, 1, payload), expect(rejected={"TYPE": 1}))
    add("type_zero", encode_frame(0, 7, 0, 1, b""), expect(rejected={"TYPE": 1}))
    add("unknown_version", encode_frame(1, 7, 0, 1, payload, version=spec.PROTOCOL_VERSION + 1),
        expect(rejected={"VERSION": 1}))
    add("cobs_code_past_end", bytes.fromhex("0501020300"), expect(rejected={"COBS": 1}))
    add("cobs_error_then_message", bytes.fromhex("ff0100") + hello_frame,
        expect([ok(HELLO, 6)], {"COBS": 1}, 1))

    # --- reassembly
    gm = GLOBAL_SMALL.encode()  # 88 bytes: 5 frames of 20
    f = frames_of(3, 40, gm, 20)
    nf = len(f)
    add("chunk_out_of_order", f[0] + f[2] + f[1] + b"".join(f),
        # f2 abandons the message (CHUNK) and is refused (CHUNK); f1 starts nothing (CHUNK)
        expect([ok(GLOBAL_SMALL, 40)], {"CHUNK": 3}, 1 + nf))
    g = frames_of(3, 41, gm, 20)
    add("chunk_from_another_seq", f[0] + g[1], expect(rejected={"CHUNK": 2}, frames_ok=1))
    u = frames_of(4, 40, UPDATE_EDGES.encode(), 20)
    add("chunk_from_another_type", f[0] + u[1], expect(rejected={"CHUNK": 2}, frames_ok=1))
    other_n = encode_frame(3, 40, 1, nf + 1, gm[20:40])
    add("chunk_with_another_nchunks", f[0] + other_n, expect(rejected={"CHUNK": 2}, frames_ok=1))
    add("chunks_without_the_first", b"".join(f[1:]), expect(rejected={"CHUNK": nf - 1}))
    add("message_restarted", f[0] + f[1] + b"".join(f),
        expect([ok(GLOBAL_SMALL, 40)], {"CHUNK": 1}, 2 + nf))
    add("last_chunk_missing", b"".join(f[:-1]), expect(frames_ok=nf - 1))
    add("nchunks_zero", encode_frame(2, 1, 0, 0, b""), expect(rejected={"CHUNK": 1}))
    add("chunk_index_past_nchunks", encode_frame(2, 1, 3, 2, b""), expect(rejected={"CHUNK": 1}))
    big = [encode_frame(3, 50, i, 20, bytes([i + 1]) * 240) for i in range(20)]
    # chunks 0..17 fit (4320 bytes); chunk 18 would pass MAX_MESSAGE: OVERSIZE, the message is
    # abandoned (CHUNK); chunk 19 continues nothing (CHUNK)
    add("message_over_max_message", b"".join(big) + hello_frame,
        expect([ok(HELLO, 6)], {"OVERSIZE": 1, "CHUNK": 2}, 18 + 1))

    # --- payloads that break the spec (framed correctly): decode errors
    def msg_case(name: str, type_name: str, raw_payload: bytes, status: str,
                 chunk: int = 240) -> None:
        type_id = spec.MESSAGE_BY_NAME[type_name].type_id
        add(name, encode_payload(type_id, 77, raw_payload, chunk),
            expect([bad(type_name, 77, status)], frames_ok=nframes(len(raw_payload), chunk)))

    h = fields_of(HELLO)
    g_small = fields_of(GLOBAL_SMALL)
    upd = fields_of(UPDATE_EDGES)
    msg_case("hello_clip_nan", "hello", pack("hello", **{**h, "clip": math.nan}), "VALUE")
    msg_case("hello_clip_inf", "hello", pack("hello", **{**h, "clip": math.inf}), "VALUE")
    msg_case("hello_clip_negative", "hello", pack("hello", **{**h, "clip": -1.0}), "VALUE")
    msg_case("hello_n_classes_below_min", "hello", pack("hello", **{**h, "n_classes": 1}), "VALUE")
    msg_case("hello_n_features_above_max", "hello", pack("hello", **{**h, "n_features": 1025}),
             "VALUE")
    msg_case("hello_delta_above_max", "hello", pack("hello", **{**h, "delta": 1.5}), "VALUE")
    msg_case("hello_max_chunk_above_max", "hello", pack("hello", **{**h, "max_chunk": 241}),
             "VALUE")
    msg_case("hello_trailing_byte", "hello", pack("hello", **h) + b"\x00", "OVERSIZE")
    msg_case("hello_truncated", "hello", pack("hello", **h)[:-1], "TRUNCATED")
    msg_case("hello_request_trailing_byte", "hello_request", b"\x01", "OVERSIZE")
    msg_case("global_model_param_nan", "global_model",
             pack("global_model", **{**g_small, "params": [0.5, math.nan, 1.0]}), "VALUE")
    msg_case("global_model_param_inf", "global_model",
             pack("global_model", **{**g_small, "params": [0.5, -math.inf]}), "VALUE")
    msg_case("global_model_param_out_of_range", "global_model",
             pack("global_model", **{**g_small, "params": [2e6]}), "VALUE")
    msg_case("global_model_lr_above_max", "global_model",
             pack("global_model", **{**g_small, "lr": 10.5}), "VALUE")
    msg_case("global_model_round_zero", "global_model",
             pack("global_model", **{**g_small, "round": 0}), "VALUE")
    msg_case("global_model_epochs_zero", "global_model",
             pack("global_model", **{**g_small, "local_epochs": 0}), "VALUE")
    msg_case("global_model_params_over_max", "global_model",
             pack("global_model", **{**g_small, "params": [0.0] * (spec.MAX_PARAMS + 1)}),
             "OVERSIZE")
    over_count = pack("global_model", **{**g_small, "params": []})[:-2] + struct.pack("<H", 2000)
    msg_case("global_model_count_over_max_no_data", "global_model", over_count, "OVERSIZE")
    short = pack("global_model", **{**g_small, "params": [1.0] * 10})[:-4]
    msg_case("global_model_params_truncated", "global_model", short, "TRUNCATED")
    msg_case("global_model_nan_before_truncation", "global_model",
             pack("global_model", **{**g_small, "params": [math.nan] * 10})[:-4], "TRUNCATED")
    head = pack("update", **{**upd, "values": []})[:-2]
    msg_case("update_varint_six_bytes", "update",
             head + struct.pack("<H", 1) + bytes.fromhex("808080808000"), "VALUE")
    msg_case("update_varint_over_32_bits", "update",
             head + struct.pack("<H", 1) + bytes.fromhex("8080808010"), "VALUE")
    msg_case("update_varint_not_minimal", "update",
             head + struct.pack("<H", 2) + bytes.fromhex("018000"), "VALUE")
    msg_case("update_varint_truncated", "update",
             head + struct.pack("<H", 2) + bytes.fromhex("0180"), "TRUNCATED")
    msg_case("update_count_larger_than_values", "update",
             head + struct.pack("<H", 3) + bytes.fromhex("0102"), "TRUNCATED")
    msg_case("update_values_over_max", "update",
             head + struct.pack("<H", spec.MAX_PARAMS + 1) + b"\x00" * (spec.MAX_PARAMS + 1),
             "OVERSIZE", chunk=20)
    msg_case("update_trailing_byte", "update", pack("update", **upd) + b"\x01", "OVERSIZE")
    msg_case("set_dp_config_short_seed", "set_dp_config",
             pack("set_dp_config", **fields_of(SET_DP))[:-1], "TRUNCATED")
    msg_case("budget_exhausted_eps_negative", "budget_exhausted",
             pack("budget_exhausted", **{**fields_of(BUDGET), "eps_spent": -0.5}), "VALUE")

    # --- the secure-aggregation field kinds: u16/u32 arrays and fixed-size record arrays
    pol = fields_of(SECAGG_POLICY)
    nbs = fields_of(SECAGG_NEIGHBOURS)
    msk = fields_of(SECAGG_MASKED_EDGES)
    req = fields_of(SECAGG_MASK_REQUEST)
    rev = fields_of(SECAGG_REVEAL)
    msg_case("secagg_policy_n_min_below_min", "secagg_policy",
             pack("secagg_policy", **{**pol, "n_min": 1}), "VALUE")
    msg_case("secagg_policy_k_max_above_max", "secagg_policy",
             pack("secagg_policy", **{**pol, "k_max": spec.SECAGG_MAX_NEIGHBOURS + 1}), "VALUE")
    msg_case("secagg_policy_noise_den_zero", "secagg_policy",
             pack("secagg_policy", **{**pol, "noise_den": 0}), "VALUE")
    msg_case("secagg_keys_round_zero", "secagg_keys",
             pack("secagg_keys", **{**fields_of(SECAGG_KEYS), "round": 0}), "VALUE")
    msg_case("secagg_keys_truncated", "secagg_keys",
             pack("secagg_keys", **fields_of(SECAGG_KEYS))[:-1], "TRUNCATED")
    msg_case("secagg_neighbours_over_max", "secagg_neighbours",
             pack("secagg_neighbours", **{**nbs, "neighbours": [bytes(66)] * (spec.SECAGG_MAX_NEIGHBOURS + 1)}),
             "OVERSIZE", chunk=20)
    msg_case("secagg_neighbours_count_over_max_no_data", "secagg_neighbours",
             pack("secagg_neighbours", **{**nbs, "neighbours": []})[:-2] + struct.pack("<H", 33), "OVERSIZE")
    msg_case("secagg_neighbours_record_truncated", "secagg_neighbours",
             pack("secagg_neighbours", **nbs)[:-1], "TRUNCATED")
    msg_case("secagg_neighbours_trailing_byte", "secagg_neighbours",
             pack("secagg_neighbours", **nbs) + b"\x00", "OVERSIZE")
    msg_case("secagg_share_for_you_sender_zero", "secagg_share_for_you",
             pack("secagg_share_for_you", **{**fields_of(SECAGG_SHARE_FOR_YOU), "sender": 0}), "VALUE")
    msg_case("secagg_mask_request_alive_over_max", "secagg_mask_request",
             pack("secagg_mask_request", **{**req, "alive": list(range(1, 34))}), "OVERSIZE")
    msg_case("secagg_mask_request_alive_truncated", "secagg_mask_request",
             pack("secagg_mask_request", **req)[:-1], "TRUNCATED")
    msg_case("secagg_masked_update_values_over_max", "secagg_masked_update",
             pack("secagg_masked_update", **{**msk, "values": [0] * (spec.MAX_PARAMS + 1)})[:-4 * 10],
             "OVERSIZE", chunk=20)
    msg_case("secagg_masked_update_word_truncated", "secagg_masked_update",
             pack("secagg_masked_update", **msk)[:-2], "TRUNCATED")
    msg_case("secagg_masked_update_grid_step_nan", "secagg_masked_update",
             pack("secagg_masked_update", **{**msk, "grid_step": math.nan}), "VALUE")
    msg_case("secagg_reveal_record_truncated", "secagg_reveal",
             pack("secagg_reveal", **rev)[:-5], "TRUNCATED")
    return out


def render() -> str:
    """One case per line, so a diff shows which cases changed."""
    return "[\n" + ",\n".join(json.dumps(case) for case in cases()) + "\n]\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
