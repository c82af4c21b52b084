"""The MLPerf Tiny builders have one definition (tinyfl.models.mlperf_tiny), used by the kernel
benchmark and by the codegen tests, importable without TensorFlow and without tests/."""
from __future__ import annotations

import json
import subprocess
import sys

from tinyfl.paths import REPO_ROOT

PROBE = """
import json, sys
import bench.kernels_models as bench
from tinyfl.models import mlperf_tiny
print(json.dumps({
    "same_backbones": bench.BACKBONES is mlperf_tiny.BACKBONES,
    "same_conversion": bench.backbone_tflite is mlperf_tiny.backbone_tflite,
    "tests_on_path": any(p.rstrip("/").endswith("tests") for p in sys.path),
    "test_modules": sorted(m for m in sys.modules if m.startswith(("codegen_helpers", "conftest"))),
    "tensorflow_loaded": "tensorflow" in sys.modules,
}))
"""


def test_bench_uses_the_shared_builders_without_tests_or_tensorflow():
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout.splitlines()[-1])
    assert facts == {"same_backbones": True, "same_conversion": True, "tests_on_path": False,
                     "test_modules": [], "tensorflow_loaded": False}


def test_codegen_tests_use_the_shared_classifiers():
    import codegen_helpers

    from tinyfl.models import mlperf_tiny

    assert codegen_helpers.MLPERF_TINY_MODELS is mlperf_tiny.CLASSIFIERS
    assert codegen_helpers.mlperf_tiny_tflite is mlperf_tiny.classifier_tflite
    assert set(mlperf_tiny.CLASSIFIERS) == set(mlperf_tiny.BACKBONES)
