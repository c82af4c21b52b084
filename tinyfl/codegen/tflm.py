"""The tflite-micro Python interpreter as the reference: features and arena size."""
from __future__ import annotations

import os
import re
import tempfile

import numpy as np


def _interpreter(tflite: bytes):  # noqa: ANN202 - the runtime's type is not public
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(tflite)


def tflm_outputs(tflite: bytes, inputs: np.ndarray) -> np.ndarray:
    """Run each sample of `inputs` (N, ...) through the interpreter; outputs stacked."""
    interp = _interpreter(tflite)
    detail = interp.get_input_details(0)
    shape, dtype = tuple(detail["shape"]), detail["dtype"]
    outs = []
    for sample in inputs:
        interp.set_input(np.asarray(sample, dtype=dtype).reshape(shape), 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0)).reshape(-1))
    return np.stack(outs)


def tflm_arena_bytes(tflite: bytes, sample: np.ndarray | None = None) -> dict[str, int]:
    """Arena the TFLM interpreter used, from RecordingMicroAllocator's print_allocations:
    {"total", "head" (activations, the planned part), "tail" (persistent bookkeeping)}."""
    interp = _interpreter(tflite)
    detail = interp.get_input_details(0)
    x = np.zeros(tuple(detail["shape"]), dtype=detail["dtype"]) if sample is None else sample
    interp.set_input(np.asarray(x, dtype=detail["dtype"]).reshape(tuple(detail["shape"])), 0)
    interp.invoke()
    text = _capture_stderr(interp.print_allocations)
    found = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text))
    if "total" not in found:
        raise RuntimeError(f"cannot read the arena size from print_allocations:\n{text}")
    return {k: int(v) for k, v in found.items()}


def _capture_stderr(fn) -> str:  # noqa: ANN001
    """print_allocations writes from C++ to fd 2; capture at the descriptor level."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode(errors="replace")
