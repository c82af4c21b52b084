"""The shared vectors (tests/vectors/wire_vectors.json): Python and C must both reproduce every
expectation, and each side must read what the other writes."""
from __future__ import annotations

import importlib.util
import json

import pytest

from tinyfl.wire import FrameDecoder, decode_frames, encode_message
from wire_support import TESTS_DIR, canonical, python_result, run_driver

VECTORS_PATH = TESTS_DIR / "vectors" / "wire_vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text())
NAMES = [case["name"] for case in VECTORS]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_wire_vectors", TESTS_DIR / "vectors" / "make_wire_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    return _generator()


@pytest.fixture(scope="module")
def c_results() -> dict[str, dict]:
    results = run_driver([f"V {case['name']} {case['hex']}" for case in VECTORS])
    return {r["name"]: r for r in results}


def test_vectors_file_is_current(generator):
    assert VECTORS_PATH.read_text() == generator.render(), "run tests/vectors/make_wire_vectors.py"


def test_vectors_cover_the_brief():
    names = set(NAMES)
    for required in ("hello", "hello_request", "global_model", "update", "error",
                     "budget_exhausted", "set_dp_config", "global_model_max_chunk20",
                     "global_model_max_chunk240", "bad_crc", "length_field_larger_than_payload",
                     "length_field_over_max_chunk", "unknown_type", "unknown_version",
                     "cobs_code_past_end", "chunk_out_of_order", "global_model_param_nan",
                     "hello_clip_inf", "hello_n_classes_below_min", "global_model_params_over_max",
                     "hello_trailing_byte", "secagg_policy", "secagg_keys", "secagg_neighbours",
                     "secagg_shares", "secagg_share_for_you", "secagg_mask_request",
                     "secagg_masked_update", "secagg_unmask_request", "secagg_reveal",
                     "secagg_masked_update_max_chunk20", "secagg_neighbours_over_max",
                     "secagg_neighbours_record_truncated", "secagg_mask_request_alive_over_max"):
        assert required in names
    statuses = {s for case in VECTORS for s in case["expect"]["rejected"]}
    statuses |= {m["error"] for case in VECTORS for m in case["expect"]["messages"] if "error" in m}
    assert statuses == {"COBS", "CRC", "TRUNCATED", "OVERSIZE", "VERSION", "TYPE", "CHUNK", "VALUE"}


@pytest.mark.parametrize("case", VECTORS, ids=NAMES)
def test_python_decodes_vector(case):
    got = python_result(case["name"], bytes.fromhex(case["hex"]))
    assert canonical(got) == canonical(case["expect"])


def test_python_decodes_vectors_byte_by_byte():
    """Feeding one byte at a time changes nothing."""
    for case in VECTORS:
        data = bytes.fromhex(case["hex"])
        decoder = FrameDecoder()
        whole = FrameDecoder().feed(data)
        pieces = [m for i in range(len(data)) for m in decoder.feed(data[i:i + 1])]
        assert [(m.type_id, m.seq, m.payload) for m in pieces] == \
            [(m.type_id, m.seq, m.payload) for m in whole], case["name"]
        assert decoder.frames_ok == case["expect"]["frames_ok"], case["name"]


def test_raw_frames_are_the_bytes_received():
    for case in VECTORS:
        data = bytes.fromhex(case["hex"])
        for received in decode_frames(data):
            recorded = b"".join(received.raw_frames)
            assert recorded in data and recorded.endswith(b"\x00")
            assert decode_frames(recorded)[0].payload == received.payload


@pytest.mark.parametrize("case", VECTORS, ids=NAMES)
def test_c_decodes_vector(case, c_results):
    assert canonical(c_results[case["name"]]) == canonical(case["expect"])


def test_c_decodes_what_python_encodes_and_back(generator):
    """Python payload -> C decode -> C encode gives the same bytes, which Python decodes to the
    same message; C's frames equal Python's for chunk 20 and 240."""
    messages = [generator.HELLO, generator.HELLO_REQUEST, generator.GLOBAL_SMALL,
                generator.GLOBAL_MAX, generator.UPDATE_EDGES, generator.UPDATE_MAX,
                generator.ERROR, generator.BUDGET, generator.SET_DP,
                generator.SECAGG_NEIGHBOURS_MAX, generator.SECAGG_MASKED_MAX,
                *generator.SECAGG_MESSAGES]
    lines = [f"R {m.TYPE_ID} {m.encode().hex()}" for m in messages]
    for chunk in (20, 240):
        lines += [f"S {m.TYPE_ID} {1000 + chunk} {chunk} {m.encode().hex()}" for m in messages]
    results = run_driver(lines)
    for message, result in zip(messages, results[:len(messages)]):
        assert result["status"] == "OK"
        c_bytes = bytes.fromhex(result["hex"])
        assert c_bytes == message.encode()
        assert type(message).decode(c_bytes) == message
    sends = results[len(messages):]
    for i, chunk in enumerate((20, 240)):
        for message, result in zip(messages, sends[i * len(messages):(i + 1) * len(messages)]):
            assert result["status"] == "OK"
            frames = bytes.fromhex(result["hex"])
            assert frames == encode_message(message, 1000 + chunk, chunk)
            (received,) = decode_frames(frames)
            assert received.message == message and received.seq == 1000 + chunk
