"""A pure-numpy model of what a tinyfl device computes: the same noise generator stream, the
same discrete Gaussian integers, the same head training (float32, same operation order), the
same update protection and the same feature extractor as the C in firmware/; and what the
device answers to a global model (resend, refusal or release) and its entropy health tests.
The ledger's RDP arithmetic is tinyfl.privacy.ledger.

Used by tests (C == Python), by the host to predict what an honest device sends, and by audits.
"""
from .chacha20 import SEED_SIZE, ChaCha20Drbg, chacha20_blocks
from .device_round import device_round, fixed_seed_bytes
from .dgauss import bernoulli_exp, dgauss, dgauss_check, dgauss_samples, dgauss_variance, dlaplace
from .errors import DeviceModelError
from .features import MODEL_HASH, stats_feature_count, stats_features
from .head import head_logits, head_predict, head_train, param_count
from .protect import MAX_GRID_BITS, clip_and_round, clip_target, grid_step, protect_update
from .release_policy import DeviceState, apply, decide, entropy_health_failure

__all__ = [
    "device_round",
    "fixed_seed_bytes",
    "SEED_SIZE",
    "ChaCha20Drbg",
    "chacha20_blocks",
    "bernoulli_exp",
    "dlaplace",
    "dgauss",
    "dgauss_check",
    "dgauss_samples",
    "dgauss_variance",
    "DeviceModelError",
    "MODEL_HASH",
    "stats_feature_count",
    "stats_features",
    "param_count",
    "head_logits",
    "head_predict",
    "head_train",
    "MAX_GRID_BITS",
    "grid_step",
    "clip_target",
    "clip_and_round",
    "protect_update",
    "DeviceState",
    "decide",
    "apply",
    "entropy_health_failure",
]
