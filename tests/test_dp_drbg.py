"""ChaCha20 DRBG: RFC 8439 block vector, C stream == Python stream, u64/below semantics."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import dp_clib
from tinyfl.device_model import ChaCha20Drbg, chacha20_blocks

# RFC 8439 section 2.3.2: key 00..1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00, block count 1
RFC_KEY = bytes(range(32))
RFC_NONCE = bytes.fromhex("000000090000004a00000000")
RFC_BLOCK_1 = bytes.fromhex(
    "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
    "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"
)


@pytest.fixture(scope="module")
def lib() -> dp_clib.CoreLib:
    return dp_clib.CoreLib(dp_clib.build_core_library())


def seeds(count: int, rng_seed: int = 7) -> list[bytes]:
    rng = np.random.default_rng(rng_seed)
    return [rng.integers(0, 256, 44, dtype=np.uint8).tobytes() for _ in range(count)]


def test_python_block_matches_rfc8439():
    block = chacha20_blocks(RFC_KEY, RFC_NONCE, 1, 1)[0]
    assert block.astype("<u4").tobytes() == RFC_BLOCK_1


def test_c_stream_matches_rfc8439(lib):
    state = lib.drbg(RFC_KEY + RFC_NONCE)
    words = lib.u32s(state, 32)  # block 0 then block 1 (the counter starts at 0)
    assert words[16:].astype("<u4").tobytes() == RFC_BLOCK_1
    assert not np.array_equal(words[:16], words[16:])


def test_c_and_python_streams_identical(lib):
    for seed in seeds(4):
        state = lib.drbg(seed)
        drbg = ChaCha20Drbg(seed)
        # across several Python refills (64 blocks each)
        assert np.array_equal(lib.u32s(state, 3000), drbg.u32_array(3000))


def test_u64_is_low_word_first(lib):
    seed = seeds(1)[0]
    words = ChaCha20Drbg(seed).u32_array(4)
    state = lib.drbg(seed)
    assert lib.u64(state) == int(words[0]) | (int(words[1]) << 32)
    drbg = ChaCha20Drbg(seed)
    assert drbg.u64() == int(words[0]) | (int(words[1]) << 32)


def test_counter_carries_into_nonce(lib):
    seed = seeds(1)[0]
    state = lib.drbg(seed)
    # tinyfl_drbg: key[8], nonce[3], counter at byte offset 44
    ctypes.c_uint32.from_buffer(state, 44).value = 0xFFFFFFFF
    words = lib.u32s(state, 32)
    expected = chacha20_blocks(seed[:32], seed[32:], 0xFFFFFFFF, 2).reshape(-1)
    assert np.array_equal(words, expected)
    nonce_plus_one = (int.from_bytes(seed[32:36], "little") + 1).to_bytes(4, "little") + seed[36:]
    assert np.array_equal(expected[16:], chacha20_blocks(seed[:32], nonce_plus_one, 0, 1)[0])


@pytest.mark.parametrize("bound", [1, 2, 3, 6, 1000, 2**32 + 1, 2**63 + 1, 2**64 - 1])
def test_below_same_in_c_and_python(lib, bound):
    seed = seeds(1, rng_seed=bound % 1000)[0]
    c_values = lib.below(lib.drbg(seed), bound, 500)
    drbg = ChaCha20Drbg(seed)
    py_values = [drbg.below(bound) for _ in range(500)]
    assert [int(v) for v in c_values] == py_values
    assert all(v < bound for v in py_values)
    if bound == 2**63 + 1:
        # about half the u64 draws are rejected: more words consumed than 2 per value
        assert drbg.words_drawn > 2 * 500 * 1.5


def test_below_is_uniform(lib):
    values = lib.below(lib.drbg(seeds(1)[0]), 6, 60000)
    counts = np.bincount(values.astype(np.int64), minlength=6)
    chi2 = float(((counts - 10000) ** 2 / 10000).sum())
    assert chi2 < 25.7  # chi-square with 5 degrees of freedom: p = 1e-4


def test_wipe_clears_the_key(lib):
    state = lib.drbg(seeds(1)[0])
    lib.u32s(state, 5)
    lib.lib.tinyfl_drbg_wipe.argtypes = [ctypes.c_void_p]
    lib.lib.tinyfl_drbg_wipe(state)
    assert state.raw == bytes(len(state.raw))


def test_seed_must_be_44_bytes():
    with pytest.raises(ValueError):
        ChaCha20Drbg(bytes(32))


def test_bits_same_in_c_and_python_and_low_bit_first(lib):
    seed = seeds(1, rng_seed=21)[0]
    widths = np.random.default_rng(2).integers(1, 33, 3000).astype(np.uint8)
    c_values = lib.bits(lib.drbg(seed), widths)
    drbg = ChaCha20Drbg(seed)
    assert [int(v) for v in c_values] == [drbg.bits(int(w)) for w in widths]
    # the same bits as the word stream, each word low bit first
    total = int(widths.astype(np.int64).sum())
    words = ChaCha20Drbg(seed).u32_array(total // 32 + 1)
    stream = [(int(w) >> i) & 1 for w in words for i in range(32)]
    pos = 0
    for w, v in zip(widths, c_values):
        assert int(v) == sum(stream[pos + i] << i for i in range(int(w)))
        pos += int(w)
    assert drbg.bit_position() == total


def test_bit_position_and_discard_same_in_c_and_python(lib):
    seed = seeds(1, rng_seed=22)[0]
    state, drbg = lib.drbg(seed), ChaCha20Drbg(seed)
    blocks = chacha20_blocks(seed[:32], seed[32:], 0, 8)
    assert lib.bit_position(state) == drbg.bit_position() == 0
    lib.bits(state, [5, 32, 7])
    for w in (5, 32, 7):
        drbg.bits(w)
    assert lib.bit_position(state) == drbg.bit_position() == 44
    # drops the rest of block 0, computes block 1 and 2, the next word is block 3's first
    lib.discard_to_block(state, 3)
    drbg.discard_to_block(3)
    assert lib.bit_position(state) == drbg.bit_position() == 3 * 512
    assert lib.blocks_made(state) == 3
    assert int(lib.u32s(state, 1)[0]) == drbg.u32() == int(blocks[3][0])
    # already past block 2: only the rest of block 3 is dropped
    lib.discard_to_block(state, 2)
    drbg.discard_to_block(2)
    assert lib.bit_position(state) == drbg.bit_position() == 4 * 512
    assert int(lib.bits(state, [9])[0]) == drbg.bits(9) == int(blocks[4][0]) & 0x1FF
