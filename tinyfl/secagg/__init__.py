"""Secure aggregation (SecAgg+ masking with distributed discrete Gaussian noise), host side.

- `kdf`, `shamir`, `masks`: the primitives, byte-identical to firmware/secagg/ (X25519 and
  ChaCha20-Poly1305 from `cryptography`, keyed BLAKE2b from hashlib, Shamir over GF(2^8)).
- `client.ReferenceClient`: the device's protocol steps in Python (same bytes for the same seed).
- `server.SecAggServer`: neighbour graph, share routing, dropouts, unmasking; `simulate.run_round`.
- `budget`: per-device noise, modulus bit budget, central (DDGauss) and local accounting.
- `third_party`, `build`: Monocypher from the pinned pymonocypher sdist for firmware builds.
- `image`: the policy an image compiles in (TINYFL_SECAGG) and `build_secagg_firmware`.

Submodules are imported explicitly (`from tinyfl.secagg import server`): `cryptography` loads
only when secure aggregation is used.
"""
__all__ = ["budget", "build", "client", "image", "kdf", "masks", "server", "shamir", "simulate",
           "third_party"]
