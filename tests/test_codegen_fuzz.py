"""A .tflite file is untrusted input: damaged or hostile files end in ModelFormatError or
UnsupportedModelError (one line naming what is wrong), never in another exception."""
from __future__ import annotations

import numpy as np
import pytest

from codegen_helpers import TfliteBuilder, backbone_ops_chain
from tinyfl.codegen import ModelFormatError, UnsupportedModelError, generate


def _mutations(data: bytes, n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(8, len(b)))] = int(rng.integers(0, 256))
        yield bytes(b)


def test_damaged_models_fail_cleanly() -> None:
    outcomes = {"ok": 0, "format": 0, "unsupported": 0}
    for data in _mutations(backbone_ops_chain(0)[0], 1500, seed=1):
        try:
            generate(data)
            outcomes["ok"] += 1
        except ModelFormatError as exc:
            assert "\n" not in str(exc)
            outcomes["format"] += 1
        except UnsupportedModelError as exc:
            assert "\n" not in str(exc)
            outcomes["unsupported"] += 1
    # The mutations reach every outcome (the test exercises the checks, not only the parser).
    assert min(outcomes.values()) > 20, outcomes


def test_operator_referring_to_a_missing_tensor() -> None:
    b = TfliteBuilder()
    x = b.tensor([1, 4], "INT8", 0.1, 0)
    y = b.tensor([1, 4], "INT8", 1.0 / 256, -128)
    b.op("LOGISTIC", [x], [y])
    b.ops[0].inputs = [7]
    with pytest.raises(ModelFormatError, match="operator #0's input refers to tensor 7 of 2"):
        generate(b.finish([x], [y]))


@pytest.mark.parametrize("inputs", [[], [0, 0]])
def test_operator_with_the_wrong_number_of_inputs(inputs) -> None:
    b = TfliteBuilder()
    x = b.tensor([1, 4], "INT8", 0.1, 0)
    y = b.tensor([1, 4], "INT8", 1.0 / 256, -128)
    b.op("SOFTMAX", inputs, [y], b.options("Softmax", beta=1.0))
    with pytest.raises(UnsupportedModelError, match=r"op #0 SOFTMAX .*expected 1\.\.1 inputs"):
        generate(b.finish([x], [y]))
