"""Differential privacy of device releases: noise as exact rationals, and accounting with
dp-accounting (imported lazily, so `import tinyfl.privacy` stays fast and never pulls in
tensorflow)."""
from .accounting import eps_table, epsilon, epsilon_composed, epsilon_pld, releases_allowed
from .noise import (
    DEFAULT_MAX_DEN,
    effective_noise_multiplier,
    max_grid_bits,
    noise_variance,
    rational_noise_multiplier,
    sigma_grid_steps,
)

__all__ = [
    "epsilon",
    "epsilon_composed",
    "epsilon_pld",
    "eps_table",
    "releases_allowed",
    "DEFAULT_MAX_DEN",
    "rational_noise_multiplier",
    "effective_noise_multiplier",
    "noise_variance",
    "sigma_grid_steps",
    "max_grid_bits",
]
