"""The tinyfl wire format: messages, COBS/CRC-32 frames, chunking.

spec.py defines it; codegen.py generates the C codec (firmware/generated/) and the message
classes (_wire_gen.py) from it. Frames: encode_message() / FrameDecoder.
"""
from .spec import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_CHUNK,
    MAX_CHUNKS,
    MAX_MESSAGE,
    MAX_PARAMS,
    MIN_CHUNK,
    PROTOCOL_VERSION,
    SPEC_VERSION,
)
from ._wire_gen import (
    MESSAGE_BY_TYPE_ID,
    TYPE_IDS,
    BudgetExhausted,
    Error,
    GlobalModel,
    Hello,
    HelloRequest,
    Message,
    SetDpConfig,
    Status,
    Update,
)
from .cobs import cobs_decode, cobs_encode
from .frame import (
    MAX_FRAME_BODY,
    FrameDecoder,
    ReceivedMessage,
    decode_frames,
    decode_payload,
    encode_frame,
    encode_message,
    encode_payload,
)
from .messages import WireError, to_jsonable

__all__ = [
    "CRC_SIZE",
    "HEADER_SIZE",
    "MAX_CHUNK",
    "MAX_CHUNKS",
    "MAX_MESSAGE",
    "MAX_PARAMS",
    "MIN_CHUNK",
    "PROTOCOL_VERSION",
    "SPEC_VERSION",
    "MESSAGE_BY_TYPE_ID",
    "TYPE_IDS",
    "BudgetExhausted",
    "Error",
    "GlobalModel",
    "Hello",
    "HelloRequest",
    "Message",
    "SetDpConfig",
    "Status",
    "Update",
    "cobs_decode",
    "cobs_encode",
    "MAX_FRAME_BODY",
    "FrameDecoder",
    "ReceivedMessage",
    "decode_frames",
    "decode_payload",
    "encode_frame",
    "encode_message",
    "encode_payload",
    "WireError",
    "to_jsonable",
]
