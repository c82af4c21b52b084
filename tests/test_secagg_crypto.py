"""The device's secure-aggregation primitives (C, Monocypher) against the host's (`cryptography`,
hashlib) on the same inputs: key pairs, key agreement + KDF, Shamir over GF(2^8), mask
expansion, and share encryption; and the C refusing bad keys, forged or misrouted shares."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import secagg_clib as sc
from tinyfl.device_model.chacha20 import ChaCha20Drbg
from tinyfl.secagg import kdf, masks, shamir
from tinyfl.secagg.client import Neighbour, Policy, ProtocolError, ReferenceClient

E_ARG, E_VALUE, E_REFUSED = 2, 10, 18
# Curve25519 points of small order: the shared secret with any scalar is zero
LOW_ORDER = [bytes(32), (1).to_bytes(32, "little")]


@pytest.fixture(scope="module")
def lib() -> sc.SecaggLib:
    return sc.SecaggLib(sc.build_library())


def seed(i: int) -> bytes:
    return bytes((i * 7 + j) & 0xFF for j in range(44))


def test_keypair_matches_cryptography(lib):
    for i in range(4):
        c_sk, c_pk = lib.keypair(lib.drbg(seed(i)))
        py_sk, py_pk = kdf.keypair(ChaCha20Drbg(seed(i)))
        assert (c_sk, c_pk) == (py_sk, py_pk)
        assert kdf.public_key(c_sk) == c_pk


def test_agreement_is_symmetric_and_matches_host(lib):
    a_sk, a_pk = kdf.keypair(ChaCha20Drbg(seed(1)))
    b_sk, b_pk = kdf.keypair(ChaCha20Drbg(seed(2)))
    keys = set()
    for label in (kdf.LABEL_MASK, kdf.LABEL_ENCRYPT):
        for round_ in (0, 1, 2**32 - 1):
            rc, c_ab = lib.agree(label, round_, 5, a_sk, a_pk, 9, b_pk)
            rc2, c_ba = lib.agree(label, round_, 9, b_sk, b_pk, 5, a_pk)
            assert rc == rc2 == 0
            assert c_ab == c_ba == kdf.agree(label, round_, 5, a_sk, a_pk, 9, b_pk)
            keys.add(c_ab)
    assert len(keys) == 6  # label and round each change the key


def test_low_order_keys_and_self_agreement_are_refused(lib):
    a_sk, a_pk = kdf.keypair(ChaCha20Drbg(seed(1)))
    for bad in LOW_ORDER:
        assert lib.agree(kdf.LABEL_MASK, 1, 5, a_sk, a_pk, 9, bad)[0] == E_VALUE
        with pytest.raises(kdf.KeyAgreementError):
            kdf.agree(kdf.LABEL_MASK, 1, 5, a_sk, a_pk, 9, bad)
    assert lib.agree(kdf.LABEL_MASK, 1, 5, a_sk, a_pk, 5, a_pk)[0] == E_VALUE


def test_gf256_multiplication(lib):
    assert lib.lib.tinyfl_gf256_mul(0x57, 0x83) == 0xC1 == shamir.gf_mul(0x57, 0x83)  # FIPS-197 4.2
    rng = np.random.default_rng(0)
    for a, b in rng.integers(0, 256, size=(2000, 2)):
        assert lib.lib.tinyfl_gf256_mul(int(a), int(b)) == shamir.gf_mul(int(a), int(b))


@pytest.mark.parametrize("t,k", [(1, 1), (2, 3), (5, 8), (9, 16)])
def test_shamir_shares_match_and_any_t_recover(lib, t, k):
    secret = bytes(range(100, 132))
    xs = list(range(1, k + 1))
    rc, c_shares = lib.shamir(lib.drbg(seed(t)), secret, t, xs)
    assert rc == 0
    assert c_shares == shamir.split(secret, t, xs, ChaCha20Drbg(seed(t)))
    rng = np.random.default_rng(t)
    for _ in range(5):
        pick = sorted(rng.choice(xs, size=t, replace=False).tolist())
        assert shamir.combine({x: c_shares[x] for x in pick}, t) == secret
    if t > 1:  # t - 1 shares and a guess do not give the secret
        some = {x: c_shares[x] for x in xs[:t - 1]}
        some[255] = bytes(32)
        assert shamir.combine(some, t) != secret


def test_shamir_rejects_bad_arguments(lib):
    assert lib.shamir(lib.drbg(seed(0)), bytes(32), 0, [1])[0] == E_ARG
    assert lib.shamir(lib.drbg(seed(0)), bytes(32), 17, [1])[0] == E_ARG  # above the bound
    assert lib.shamir(lib.drbg(seed(0)), bytes(32), 2, [0])[0] == E_ARG
    with pytest.raises(shamir.ShamirError):
        shamir.combine({1: bytes(32)}, 2)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 100, 1000])
def test_mask_expansion_matches_host_chacha20(lib, n):
    key = bytes(range(32))
    base = np.arange(n, dtype=np.uint32) * np.uint32(2654435761)
    want = masks.expand(key, n)
    assert np.array_equal(lib.mask_add(base, key, +1), base + want)
    assert np.array_equal(lib.mask_add(base, key, -1), base - want)


def test_rfc8439_keystream():
    # RFC 8439 2.4.2's key with an all-zero nonce: first words of block 0 from RFC 8439 A.1 #2
    # use key 0..0 with counter 0 -> keystream starts 76 b8 e0 ad a0 f1 3d 90
    ks = masks.expand(bytes(32), 2)
    assert ks.tobytes() == bytes.fromhex("76b8e0ada0f13d90")


def _two_clients(lib, round_=7):
    a = sc.CDevice(lib, 3, round_, seed(3))
    b = ReferenceClient(8, round_, ChaCha20Drbg(seed(8)))
    ca, sa_ = a.begin()
    cb, sb = b.begin()
    return a, b, Neighbour(3, ca, sa_), Neighbour(8, cb, sb)


def test_share_encryption_interoperates(lib):
    a, b, na, nb = _two_clients(lib)
    (to_b,) = a.share([nb], 1)
    (to_a,) = b.share([na], 1)
    b.receive(3, to_b)  # C -> cryptography
    a.receive(8, to_a)  # cryptography -> C


def test_forged_misrouted_and_replayed_shares_are_refused(lib):
    a, b, na, nb = _two_clients(lib)
    a.share([nb], 1)
    (to_a,) = b.share([na], 1)
    forged = bytearray(to_a)
    forged[10] ^= 1
    with pytest.raises(ProtocolError) as err:
        a.receive(8, bytes(forged))
    assert err.value.args[1] == E_VALUE
    with pytest.raises(ProtocolError) as err:
        a.receive(9, to_a)  # not a neighbour
    assert err.value.args[1] == E_ARG
    a.receive(8, to_a)  # the refusals left the state as it was
    with pytest.raises(ProtocolError) as err:
        a.receive(8, to_a)  # replay
    assert err.value.args[1] == E_ARG


def test_share_checks_the_neighbour_list(lib):
    def attempt(neighbours, t):
        ref = ReferenceClient(5, 1, ChaCha20Drbg(seed(5)))  # the host's copy refuses alike
        ref.begin()
        with pytest.raises(ProtocolError):
            ref.share(neighbours, t)
        dev = sc.CDevice(lib, 5, 1, seed(5))
        dev.begin()
        with pytest.raises(ProtocolError) as err:
            dev.share(neighbours, t)
        return err.value.args[1]

    pk = kdf.keypair(ChaCha20Drbg(seed(9)))[1]
    good = [Neighbour(i, pk, pk) for i in (2, 3, 4)]
    assert attempt(good, 1) == E_ARG                      # t <= k/2
    assert attempt(good, 4) == E_ARG                      # t > k
    assert attempt(good[::-1], 2) == E_ARG                # not ascending
    assert attempt([Neighbour(5, pk, pk)], 1) == E_ARG    # ourselves
    assert attempt([Neighbour(0, pk, pk)], 1) == E_ARG    # reserved id
    assert attempt([Neighbour(i, pk, pk) for i in range(6, 23)], 9) == E_ARG  # k > 16
    assert attempt([Neighbour(2, LOW_ORDER[1], pk)], 1) == E_VALUE   # bad c key
    assert attempt([Neighbour(2, pk, LOW_ORDER[0])], 1) == E_VALUE   # bad s key


def test_config_check_bounds_the_modular_sum(lib):
    from tinyfl.secagg.budget import bits_needed

    ok = Policy(n_min=10, n_max=1000, bound=256, noise=(65536, 10))
    assert lib.config_check(ok) == 0
    assert bits_needed(ok.n_max, ok.bound, ok.noise) <= 32
    too_many = Policy(n_min=10, n_max=60000, bound=2**16, noise=(65536, 10))
    assert bits_needed(too_many.n_max, too_many.bound, too_many.noise) > 32
    assert lib.config_check(too_many) == E_ARG
    for bad in (Policy(1, 10, 256, (1, 1)), Policy(10, 9, 256, (1, 1)), Policy(2, 10, 256, (0, 1)),
                Policy(2, 10, 0, (1, 1))):
        assert lib.config_check(bad) == E_ARG
