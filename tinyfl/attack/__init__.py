"""Attacks an honest-but-curious (or malicious) server can run on the updates it receives.

Threat model (breaching's rule: an attack consumes only what the server really has): for each
update, the received integers and grid step, the head the server sent, the round settings it
sent (lr, local epochs E, batch B), the device's announced privacy settings (clip C, noise
multiplier z, grid bits) and the sample count; optionally public knowledge: the backbone's
feature function and auxiliary labelled data from the same distribution. Ground truth is used
only to score. See docs/attacks.md for the formulas, their sources and measured figures.

Stages, each usable on its own:
- threat model: `AttackInput` (one update as the server has it), `updates_from_run(run_dir)`
  (read from a recorded run, never a live link), `simulate_input` (an honest device modelled by
  tinyfl.device_model, for experiments), `Auxiliary` (public labelled data);
- labels: `label_sign` (iDLG), `label_matched_filter`, `label_posterior` (the device model
  linearized around each class mean), `label_counts_bias` (LLG-style),
  `label_counts_nnls` (whole update);
- features: `features_analytic` (exact for one sample at z = 0), `features_least_squares`,
  `features_likelihood` (noise-aware MAP fit through a model of the device's E local steps and
  clipping; also infers the label);
- raw input: `invert_inputs` (Keras float backbone, TensorFlow imported only there; or a direct
  solve for the statistics backbone);
- malicious server: `craft_head`, `guard_check`, `recover_rows`, `counts_zero_head`;
- baselines needing no update and metrics with confidence intervals: `compare` says whether an
  attack beats a baseline beyond the interval;
- `attack_run(run_dir, ...) -> AttackReport`: what `tinyfl attack RUN_DIR` prints.

Importing this package never imports TensorFlow.
"""
from .baselines import (
    class_mean_baseline,
    global_mean_baseline,
    label_count_baselines,
    label_mixture_baseline,
    majority_label_baseline,
    random_same_class_baseline,
    spread_counts_baseline,
)
from .features import FeatureEstimate, features_analytic, features_least_squares, features_likelihood
from .inputs import invert_inputs, invert_stats_features
from .labels import (
    label_counts_bias,
    label_counts_nnls,
    label_matched_filter,
    label_posterior,
    label_sign,
    labels_from_counts,
)
from .malicious import (
    CRAFTED_KINDS,
    GUARD_LIMITS,
    CraftedHead,
    counts_zero_head,
    craft_head,
    exact_recovery,
    guard_check,
    recover_rows,
)
from .metrics import (
    Interval,
    Verdict,
    bootstrap_ci,
    centered_cosine,
    clopper_pearson,
    compare,
    cosine,
    count_overlap,
    match_rows,
    mse,
    pearson,
    phase_aligned_correlation,
    psnr,
    ssim,
    standardized_mse,
    summarize,
)
from .report import AttackReport, UpdateAttack, attack_run, attack_update, samples_of_updates, truth_from_shards
from .threat import AttackInput, Auxiliary, median_update_norm, simulate_input, updates_from_run

__all__ = [
    # threat model
    "AttackInput",
    "Auxiliary",
    "updates_from_run",
    "simulate_input",
    "median_update_norm",
    # labels
    "label_sign",
    "label_matched_filter",
    "label_posterior",
    "label_counts_bias",
    "label_counts_nnls",
    "labels_from_counts",
    # features
    "FeatureEstimate",
    "features_analytic",
    "features_least_squares",
    "features_likelihood",
    # raw input
    "invert_inputs",
    "invert_stats_features",
    # malicious server
    "CRAFTED_KINDS",
    "GUARD_LIMITS",
    "CraftedHead",
    "craft_head",
    "guard_check",
    "recover_rows",
    "counts_zero_head",
    "exact_recovery",
    # baselines
    "class_mean_baseline",
    "global_mean_baseline",
    "random_same_class_baseline",
    "majority_label_baseline",
    "label_mixture_baseline",
    "spread_counts_baseline",
    "label_count_baselines",
    # metrics
    "Interval",
    "Verdict",
    "bootstrap_ci",
    "clopper_pearson",
    "summarize",
    "compare",
    "cosine",
    "centered_cosine",
    "standardized_mse",
    "count_overlap",
    "match_rows",
    "mse",
    "psnr",
    "pearson",
    "phase_aligned_correlation",
    "ssim",
    # whole runs
    "AttackReport",
    "UpdateAttack",
    "attack_update",
    "attack_run",
    "samples_of_updates",
    "truth_from_shards",
]
