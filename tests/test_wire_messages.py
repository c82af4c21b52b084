"""The Python message codec: round trips, the checks on encode, a hand-packed reference."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from tinyfl.wire import (
    MAX_MESSAGE,
    MAX_PARAMS,
    BudgetExhausted,
    Error,
    GlobalModel,
    Hello,
    HelloRequest,
    SetDpConfig,
    Status,
    Update,
    WireError,
    decode_payload,
    spec,
    to_jsonable,
)


def hello(**changes) -> Hello:
    fields = dict(device_id=7, firmware_hash=0xDEADBEEF, model_hash=1, n_classes=4, n_features=64,
                  clip=1.0, noise_multiplier=1.1, grid_bits=16, delta=1e-5, eps_limit=8.0,
                  eps_spent=0.5, releases_done=1, releases_max=30, flags=0, max_chunk=240,
                  last_run=0, last_round=0, refusals=[])
    return Hello(**{**fields, **changes})


def global_model(**changes) -> GlobalModel:
    fields = dict(run=1, round=3, nonce=2**64 - 2, lr=0.1, local_epochs=1, batch_size=16, n_classes=2,
                  n_features=3, params=np.arange(8, dtype=np.float32) - 4)
    return GlobalModel(**{**fields, **changes})


def update(**changes) -> Update:
    fields = dict(run=1, round=3, nonce=5, sample_count=12, grid_step=2.0**-16, eps_spent=0.7,
                  releases_done=2, n_classes=2, n_features=3, values=[-5, 0, 5, 2**31 - 1])
    return Update(**{**fields, **changes})


ALL = [hello(), HelloRequest(), global_model(), update(), Error(code=12, round=1, detail=2),
       BudgetExhausted(round=9, eps_spent=8.0, eps_limit=8.0, releases_done=30),
       SetDpConfig(clip=math.inf, noise_multiplier=0.0, eps_limit=1.0, seed=bytes(32))]


@pytest.mark.parametrize("message", ALL, ids=lambda m: m.NAME)
def test_round_trip(message):
    payload = message.encode()
    back = type(message).decode(payload)
    assert back == message
    assert back.encode() == payload
    assert decode_payload(message.TYPE_ID, payload) == message


def test_hello_matches_a_hand_packed_payload():
    h = hello(last_run=5, refusals=[0, 1])
    expected = struct.pack("<IIIHHffBfffHHBHIIH", 7, 0xDEADBEEF, 1, 4, 64, 1.0, 1.1, 16, 1e-5,
                           8.0, 0.5, 1, 30, 0, 240, 5, 0, 2) + bytes([0, 2])  # zigzag 0, 1
    assert h.encode() == expected


def test_update_values_are_zigzag_varints():
    payload = update(values=[0, -1, 1, -64, 64, 2**31 - 1, -(2**31)]).encode()
    varints = "00" "01" "02" "7f" "8001" "feffffff0f" "ffffffff0f"
    assert payload[32:] == bytes.fromhex("0700" + varints)  # after the 32 bytes of scalars


def test_fields_are_normalised():
    m = global_model(lr=0.1, params=[0.1, 0.2])
    assert m.lr == float(np.float32(0.1))
    assert m.params.dtype == np.float32 and not m.params.flags.writeable
    assert update().values.dtype == np.int64
    with pytest.raises(ValueError):
        global_model(params=np.zeros((2, 2)))
    with pytest.raises(TypeError):
        hello(n_classes=4.0)


def test_equality_and_hashing():
    assert global_model() == global_model()
    assert global_model() != global_model(params=[1.0])
    assert hash(HelloRequest()) == hash(HelloRequest())
    with pytest.raises(TypeError):
        hash(global_model())
    with pytest.raises(TypeError):
        hash(hello())  # it carries the refusal counters, an array


@pytest.mark.parametrize("message, status", [
    (hello(n_classes=1), "VALUE"),
    (hello(n_classes=65), "VALUE"),
    (hello(clip=-0.5), "VALUE"),
    (hello(clip=math.nan), "VALUE"),
    (hello(eps_limit=math.inf), "VALUE"),
    (hello(delta=1.01), "VALUE"),
    (hello(device_id=2**32), "VALUE"),
    (hello(flags=-1), "VALUE"),
    (global_model(round=0), "VALUE"),
    (global_model(nonce=2**64), "VALUE"),
    (global_model(params=[0.0, math.nan]), "VALUE"),
    (global_model(params=[2e6]), "VALUE"),
    (global_model(params=np.zeros(MAX_PARAMS + 1)), "OVERSIZE"),
    (update(values=[2**31]), "VALUE"),
    (update(values=[-(2**31) - 1]), "VALUE"),
    (update(values=np.zeros(MAX_PARAMS + 1)), "OVERSIZE"),
    (update(values=np.full(MAX_PARAMS, 2**27)), "OVERSIZE"),  # 5 bytes each: > MAX_MESSAGE
    (SetDpConfig(clip=1.0, noise_multiplier=1.0, eps_limit=1.0, seed=bytes(31)), "VALUE"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_encode_refuses_what_decode_would_refuse(message, status):
    with pytest.raises(WireError) as info:
        message.encode()
    assert info.value.status == status
    assert info.value.code == Status[status]


def test_largest_messages_fit():
    gm = global_model(n_classes=16, n_features=64, params=np.ones(MAX_PARAMS))
    assert len(gm.encode()) <= MAX_MESSAGE
    u = update(values=np.full(MAX_PARAMS, -(2**27)))  # |v| <= 2**27: 4 bytes each
    assert len(u.encode()) <= MAX_MESSAGE


def test_set_dp_config_carries_non_finite_values():
    m = SetDpConfig(clip=math.nan, noise_multiplier=-math.inf, eps_limit=math.inf, seed=b"x" * 32)
    back = SetDpConfig.decode(m.encode())
    assert math.isnan(back.clip) and back.noise_multiplier == -math.inf
    assert to_jsonable(back)["clip"] == "nan" and to_jsonable(back)["seed"] == (b"x" * 32).hex()


def test_wire_error():
    err = WireError("CRC", "detail")
    assert err.status == "CRC" and err.code == 4 and str(err) == "CRC: detail"
    assert isinstance(err, ValueError)
    with pytest.raises(ValueError):
        WireError("NOT_A_STATUS")
    with pytest.raises(WireError) as info:
        decode_payload(99, b"")
    assert info.value.status == "TYPE"


def test_status_is_the_spec():
    assert [(s.name, int(s)) for s in Status] == [(n, c) for n, c, _ in spec.STATUS]
