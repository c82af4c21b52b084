"""The tinyfl wire format: the single source of truth for the C and the Python codec.

`python -m tinyfl.wire.codegen` turns this module into
`firmware/generated/tinyfl_wire_gen.{h,c}` and `tinyfl/wire/_wire_gen.py`; a test regenerates
both and fails on any difference. Change the format here, bump SPEC_VERSION, regenerate.

Layout of one frame on the link (all integers little-endian):

    COBS( header | payload[length] | crc32 ) 0x00

    header  = version:u8 type:u8 seq:u16 chunk:u8 nchunks:u8 length:u16      (8 bytes)
    crc32   = IEEE CRC-32 (zlib.crc32) of header and payload                   (4 bytes)

A message longer than the sender's chunk size is split into `nchunks` frames that share `type`
and `seq`, with `chunk` = 0..nchunks-1 in order; the receiver reassembles them into one message
of at most MAX_MESSAGE bytes. The chunk size is the sender's choice (MIN_CHUNK..MAX_CHUNK), so a
BLE link with a 23-byte MTU and a UART at 115200 baud speak the same format.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PROTOCOL_VERSION = 3  # goes in every frame header; a peer rejects any other
SPEC_VERSION = 3  # guards generated files: bump on any change to this module

HEADER_SIZE = 8
CRC_SIZE = 4
MIN_CHUNK = 20  # smallest payload per frame a sender may choose (a 23-byte BLE MTU's ATT payload)
MAX_CHUNK = 240  # largest payload per frame (a frame is then at most 254 bytes before COBS)
MAX_PARAMS = 1040  # head parameters: classes * (features + 1), e.g. 16 * 64 + 16
MAX_MESSAGE = 4352  # reassembled message bound: MAX_PARAMS f32 plus the fixed fields
MAX_CHUNKS = 255  # nchunks is a u8; 255 * MIN_CHUNK >= MAX_MESSAGE
# Secure aggregation (firmware/secagg/, tinyfl/secagg/): records carried by its messages.
SECAGG_MAX_NEIGHBOURS = 32  # the wire's bound; an image compiles in its own k_max (<= 32)
SECAGG_KEY_SIZE = 32  # an X25519 public key
SECAGG_NEIGHBOUR_SIZE = 2 + 2 * SECAGG_KEY_SIZE  # id u16, c_pk, s_pk
SECAGG_CIPHER_SIZE = 85  # ChaCha20-Poly1305 of a 69-byte share plaintext plus the 16-byte tag
SECAGG_REVEAL_SIZE = 36  # owner id u16, kind u8, x u8, share (32)

# BLE transport: one GATT service carries the same frame stream as a serial link. The host
# writes its bytes to BLE_RX_UUID (write without response); the device notifies its bytes on
# BLE_TX_UUID. Chunking rule, both directions: the stream is cut into ATT values of at most
# (negotiated ATT MTU - BLE_ATT_OVERHEAD) bytes, and a value never holds bytes of two frames
# (a cut falls at every 0x00 delimiter), so one lost value costs exactly one frame.
BLE_SERVICE_UUID = "ae180001-4935-48fd-a02c-1f4e3c44a95e"  # the tinyfl service
BLE_RX_UUID = "ae180002-4935-48fd-a02c-1f4e3c44a95e"  # host -> device frames (write)
BLE_TX_UUID = "ae180003-4935-48fd-a02c-1f4e3c44a95e"  # device -> host frames (notify)
BLE_MTU_MIN = 23  # the ATT MTU every link starts with (Bluetooth Core, ATT_MTU default)
BLE_MTU_MAX = 247  # the largest MTU either side asks for (a 251-byte LL data PDU)
BLE_ATT_OVERHEAD = 3  # opcode + handle in a notification or write command

# Scalar field kinds: name -> (C type, struct format, size in bytes)
SCALARS = {
    "u8": ("uint8_t", "B", 1),
    "u16": ("uint16_t", "H", 2),
    "u32": ("uint32_t", "I", 4),
    "u64": ("uint64_t", "Q", 8),
    "i32": ("int32_t", "i", 4),
    "f32": ("float", "f", 4),
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # a SCALARS key, "bytes" (fixed length), "f32_array", "svarint_array",
    #            "u16_array", "u32_array" or "record_array" (records of `length` bytes each)
    doc: str
    length: int = 0  # for "bytes" and "record_array": exact length (of one record)
    max_count: int = 0  # for arrays: the count is a u16 on the wire, bounded by this
    finite: bool = True  # f32 values must be finite (NaN/Inf -> VALUE error)
    min: float | None = None  # inclusive range checked by the decoder
    max: float | None = None


@dataclass(frozen=True)
class Message:
    name: str
    type_id: int
    direction: str  # "device->host" or "host->device"
    doc: str
    fields: tuple[Field, ...] = field(default_factory=tuple)


MESSAGES: tuple[Message, ...] = (
    Message(
        "hello", 1, "device->host",
        "Sent by a device when it boots and when asked. Tells the host what the device enforces.",
        (
            Field("device_id", "u32", "board-unique id"),
            Field("firmware_hash", "u32", "CRC-32 of the firmware build identity"),
            Field("model_hash", "u32", "CRC-32 of the backbone weights and head shape"),
            Field("n_classes", "u16", "head rows", min=2, max=64),
            Field("n_features", "u16", "head columns (penultimate feature length)", min=1, max=1024),
            Field("clip", "f32", "L2 clip bound C of the whole update (W and b)", min=0.0),
            Field("noise_multiplier", "f32", "noise stddev / C", min=0.0),
            Field("grid_bits", "u8", "the clip bound spans 2**grid_bits grid steps", min=1, max=24),
            Field("delta", "f32", "delta of the device's (eps, delta) budget", min=0.0, max=1.0),
            Field("eps_limit", "f32", "privacy budget the device enforces", min=0.0),
            Field("eps_spent", "f32", "eps spent by all releases so far", min=0.0),
            Field("releases_done", "u16", "updates released so far"),
            Field("releases_max", "u16",
                  "updates the budget allows in all: releases_done plus what this firmware's "
                  "configuration can still release"),
            Field("flags", "u8", "HELLO_FLAGS bits: test build, entropy health failed, ledger locked"),
            Field("max_chunk", "u16", "largest frame payload the device accepts", min=20, max=240),
            Field("last_run", "u32", "run of the device's last release (0: never released)"),
            Field("last_round", "u32", "round of that release within last_run"),
            Field("refusals", "svarint_array",
                  "messages refused since boot, by cause: refusals[code] counts STATUS code",
                  max_count=32),
        ),
    ),
    Message("hello_request", 2, "host->device", "Asks a device to send its hello.", ()),
    Message(
        "global_model", 3, "host->device",
        "The head for round `round` of run `run`; the device trains on its new samples and answers "
        "with an update or an error. (run, round) must exceed the device's last release in "
        "lexicographic order; the same (run, round, nonce) as that release is a resend, answered "
        "with the same update at no new cost.",
        (
            Field("run", "u32", "run identity: a new run takes a larger run than any board's "
                  "last_run", min=1),
            Field("round", "u32", "round number within the run, strictly increasing", min=1),
            Field("nonce", "u64", "fresh random value the update must echo"),
            Field("lr", "f32", "SGD learning rate", min=0.0, max=10.0),
            Field("local_epochs", "u8", "local epochs E", min=1, max=20),
            Field("batch_size", "u8", "mini-batch size B", min=1, max=64),
            Field("n_classes", "u16", "head rows", min=2, max=64),
            Field("n_features", "u16", "head columns", min=1, max=1024),
            Field("params", "f32_array", "W row-major [n_classes][n_features], then b[n_classes]",
                  max_count=MAX_PARAMS, min=-1e6, max=1e6),
        ),
    ),
    Message(
        "update", 4, "device->host",
        "The protected update: clip(head_after - head_received, C) on the grid plus discrete "
        "Gaussian noise, as integers. The float update is values * grid_step.",
        (
            Field("run", "u32", "run of the global model this update answers", min=1),
            Field("round", "u32", "round of the global model this update answers", min=1),
            Field("nonce", "u64", "echo of that round's nonce"),
            Field("sample_count", "u16", "samples trained on this round"),
            Field("grid_step", "f32", "value of one integer step: C / 2**grid_bits", min=0.0),
            Field("eps_spent", "f32", "eps spent including this release", min=0.0),
            Field("releases_done", "u16", "releases including this one"),
            Field("n_classes", "u16", "head rows", min=2, max=64),
            Field("n_features", "u16", "head columns", min=1, max=1024),
            Field("values", "svarint_array", "noised integers, same order as params",
                  max_count=MAX_PARAMS),
        ),
    ),
    Message(
        "error", 5, "either",
        "Reports a refused or failed request; code is a status value.",
        (
            Field("code", "u16", "a STATUS value"),
            Field("round", "u32", "round it refers to, 0 if none"),
            Field("detail", "u32", "code-specific detail (e.g. the expected value)"),
        ),
    ),
    Message(
        "budget_exhausted", 6, "device->host",
        "The device refuses to train or send: one more release would pass its budget.",
        (
            Field("round", "u32", "round that was refused"),
            Field("eps_spent", "f32", "eps spent so far", min=0.0),
            Field("eps_limit", "f32", "budget the device enforces", min=0.0),
            Field("releases_done", "u16", "releases so far"),
        ),
    ),
    Message(
        "set_dp_config", 7, "host->device",
        "A request to change the device's privacy configuration or reseed its generator. Release "
        "firmware always refuses it (status REFUSED): the privacy parameters are compiled in. "
        "It is in the protocol so that a host that tries gets an explicit, logged refusal.",
        (
            Field("clip", "f32", "requested clip bound", finite=False),
            Field("noise_multiplier", "f32", "requested noise multiplier", finite=False),
            Field("eps_limit", "f32", "requested budget", finite=False),
            Field("seed", "bytes", "requested generator seed", length=32),
        ),
    ),
    Message(
        "secagg_policy", 8, "device->host",
        "Sent right after hello by an image with secure aggregation compiled in (hello flag "
        "SECAGG): its compiled-in policy, so the host can refuse a cohort the device would "
        "refuse, and the ledger's two guarantees. Such an image never sends `update`: it answers "
        "global_model with secagg_keys, since its own noise is only a share of the round's.",
        (
            Field("device_id", "u32", "as in hello; the secure-aggregation id (1..65535)"),
            Field("n_min", "u16", "smallest cohort the device masks and unmasks for", min=2),
            Field("n_max", "u16", "largest cohort its modulus is sized for", min=2),
            Field("k_max", "u8", "most neighbours it accepts", min=1, max=SECAGG_MAX_NEIGHBOURS),
            Field("noise_num", "u64", "per-device noise variance in grid steps^2: num / den "
                  "= max(sigma^2 / n_min, sigma_local^2)", min=1),
            Field("noise_den", "u64", "denominator of that variance", min=1),
            Field("local_multiplier", "f32", "sigma_local / C: the local floor", min=0.0),
            Field("central_eps_spent", "f32", "eps against an honest-but-curious server, given "
                  "n_min honest survivors per round", min=0.0),
            Field("local_eps_spent", "f32", "eps against any server (the device's own noise; "
                  "hello.eps_spent, the figure the budget is enforced on)", min=0.0),
        ),
    ),
    Message(
        "secagg_keys", 9, "device->host",
        "Answer of a secure-aggregation image to global_model: it has trained, clipped and "
        "noised its update (kept secret) and drawn this round's two X25519 key pairs.",
        (
            Field("run", "u32", "run of the global model", min=1),
            Field("round", "u32", "round of the global model", min=1),
            Field("c_pk", "bytes", "public key for the share channel", length=SECAGG_KEY_SIZE),
            Field("s_pk", "bytes", "public key for the pairwise masks", length=SECAGG_KEY_SIZE),
        ),
    ),
    Message(
        "secagg_neighbours", 10, "host->device",
        "The device's neighbours in the round's SecAgg+ graph and the Shamir threshold t.",
        (
            Field("run", "u32", "run of the round", min=1),
            Field("round", "u32", "round", min=1),
            Field("t", "u8", "threshold: k/2 < t <= k (checked by the device)", min=1),
            Field("neighbours", "record_array", "id u16, c_pk[32], s_pk[32] each; ids ascending",
                  length=SECAGG_NEIGHBOUR_SIZE, max_count=SECAGG_MAX_NEIGHBOURS),
        ),
    ),
    Message(
        "secagg_shares", 11, "device->host",
        "The device's Shamir shares of its self-mask seed and mask key, one ciphertext per "
        "neighbour in the order of secagg_neighbours.",
        (
            Field("run", "u32", "run of the round", min=1),
            Field("round", "u32", "round", min=1),
            Field("ciphers", "record_array", "ChaCha20-Poly1305 ciphertext and tag",
                  length=SECAGG_CIPHER_SIZE, max_count=SECAGG_MAX_NEIGHBOURS),
        ),
    ),
    Message(
        "secagg_share_for_you", 12, "host->device",
        "One neighbour's ciphertext for this device, routed by the host; once per neighbour.",
        (
            Field("run", "u32", "run of the round", min=1),
            Field("round", "u32", "round", min=1),
            Field("sender", "u16", "the neighbour that encrypted it", min=1),
            Field("cipher", "bytes", "ciphertext and tag", length=SECAGG_CIPHER_SIZE),
        ),
    ),
    Message(
        "secagg_mask_request", 13, "host->device",
        "The neighbours still alive and the cohort the host claims; the device charges its "
        "ledger, then answers with its masked update.",
        (
            Field("run", "u32", "run of the round", min=1),
            Field("round", "u32", "round", min=1),
            Field("cohort", "u16", "devices that shared (U2), as the host claims"),
            Field("alive", "u16_array", "live neighbours, ids ascending",
                  max_count=SECAGG_MAX_NEIGHBOURS),
        ),
    ),
    Message(
        "secagg_masked_update", 14, "device->host",
        "The noised, clipped update on the grid plus the masks, modulo 2^32: uniform to anyone "
        "who cannot remove the masks. Sent only after both guarantees are in the ledger.",
        (
            Field("run", "u32", "run of the round", min=1),
            Field("round", "u32", "round", min=1),
            Field("nonce", "u64", "echo of the global model's nonce"),
            Field("sample_count", "u16", "samples trained on this round"),
            Field("grid_step", "f32", "value of one integer step: C / 2**grid_bits", min=0.0),
            Field("central_eps_spent", "f32", "central eps including this release", min=0.0),
            Field("local_eps_spent", "f32", "local eps including this release", min=0.0),
            Field("releases_done", "u16", "releases including this one"),
            Field("n_classes", "u16", "head rows", min=2, max=64),
            Field("n_features", "u16", "head columns", min=1, max=1024),
            Field("values", "u32_array", "masked words, same order as params",
                  max_count=MAX_PARAMS),
        ),
    ),
    Message(
        "secagg_unmask_request", 15, "host->device",
        "The neighbours whose masked update arrived and the surviving cohort the host claims; "
        "refused below n_min, answered once per round.",
        (
            Field("run", "u32", "run of the round", min=1),
            Field("round", "u32", "round", min=1),
            Field("cohort", "u16", "devices whose masked update arrived (U3), as claimed"),
            Field("survived", "u16_array", "surviving neighbours, ids ascending",
                  max_count=SECAGG_MAX_NEIGHBOURS),
        ),
    ),
    Message(
        "secagg_reveal", 16, "device->host",
        "For each neighbour alive at the mask step: its self-mask share if it survived, its "
        "mask-key share if it dropped (never both). Every secret of the round is then wiped.",
        (
            Field("run", "u32", "run of the round", min=1),
            Field("round", "u32", "round", min=1),
            Field("records", "record_array", "owner u16, kind u8 (0 self mask, 1 mask key), "
                  "x u8, share[32] each", length=SECAGG_REVEAL_SIZE,
                  max_count=SECAGG_MAX_NEIGHBOURS),
        ),
    ),
)

# Bits of hello.flags.
HELLO_FLAGS: tuple[tuple[str, int, str], ...] = (
    ("TEST_BUILD", 0x01, "a test build (fixed seed or a deliberately broken mechanism): never private"),
    ("ENTROPY_FAILED", 0x02, "the entropy health tests failed at start-up: every release is refused"),
    ("LEDGER_LOCKED", 0x04, "the privacy ledger is corrupt or unreadable: every release is refused"),
    ("SECAGG", 0x08, "secure aggregation compiled in: a secagg_policy follows, rounds are secure "
     "aggregation rounds"),
)

# Status codes: the C runtime's tinyfl_status enum and the `code` of an error message.
STATUS: tuple[tuple[str, int, str], ...] = (
    ("OK", 0, "success"),
    ("AGAIN", 1, "need more input; not an error"),
    ("ARG", 2, "invalid argument from the caller"),
    ("COBS", 3, "malformed COBS encoding"),
    ("CRC", 4, "frame checksum mismatch"),
    ("TRUNCATED", 5, "frame or message shorter than stated"),
    ("OVERSIZE", 6, "frame or message longer than allowed"),
    ("VERSION", 7, "unknown protocol version"),
    ("TYPE", 8, "unknown or unexpected message type"),
    ("CHUNK", 9, "chunk out of order or inconsistent"),
    ("VALUE", 10, "field value NaN, Inf or out of range"),
    ("SHAPE", 11, "head shape differs from the device's"),
    ("ROUND", 12, "stale or replayed round"),
    ("NONCE", 13, "nonce does not match the round"),
    ("BUDGET", 14, "privacy budget exhausted"),
    ("STORAGE", 15, "persistent storage failed"),
    ("ENTROPY", 16, "entropy source failed"),
    ("NO_SAMPLES", 17, "no new samples to train on"),
    ("REFUSED", 18, "request refused by device policy"),
    ("CRAFTED", 19, "global head looks crafted to leak data"),
    ("IO", 20, "link read or write failed"),
    ("INTERNAL", 21, "internal invariant violated"),
)

MESSAGE_BY_NAME = {m.name: m for m in MESSAGES}
MESSAGE_BY_TYPE = {m.type_id: m for m in MESSAGES}
STATUS_BY_NAME = {name: code for name, code, _ in STATUS}
