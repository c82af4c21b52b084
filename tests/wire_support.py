"""Helpers shared by the tests/test_wire_*.py files: build and run the C wire driver
(tests/c/wire_vectors_main.c, with AddressSanitizer and UBSan), and put the Python decoder's
result in the driver's JSON shape so the two can be compared."""
from __future__ import annotations

import functools
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT
from tinyfl.toolchain import cached_output, compile_host, firmware_sources
from tinyfl.wire import FrameDecoder, spec, to_jsonable

TESTS_DIR = REPO_ROOT / "tests"
WIRE_C_SOURCES = firmware_sources([
    "tinyfl_frame.c", "tinyfl_cobs.c", "tinyfl_crc32.c", "tinyfl_status.c",
    "generated/tinyfl_wire_gen.c",
])
WIRE_HEADERS = sorted(FIRMWARE_DIR.glob("*.h")) + sorted((FIRMWARE_DIR / "generated").glob("*.h"))
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")
SANITIZER_ENV = {
    "ASAN_OPTIONS": "abort_on_error=1:detect_leaks=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def build(main_source: Path, tag: str) -> Path:
    """A host executable of `main_source` plus the wire runtime, with sanitizers (cached)."""
    sources = [main_source, *WIRE_C_SOURCES]
    out = cached_output(tag, [*sources, *WIRE_HEADERS, *SANITIZE])
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        compile_host(sources, tmp, opt="-O1", extra_flags=SANITIZE)
        tmp.replace(out)  # atomic: a parallel run never sees half a binary
    return out


@functools.lru_cache(maxsize=None)
def wire_driver() -> Path:
    return build(TESTS_DIR / "c" / "wire_vectors_main.c", "wire_vectors_main")


def run_driver(lines: list[str], timeout: float = 120) -> list[dict[str, Any]]:
    """One JSON result per command line; fails on a crash or any sanitizer report."""
    proc = subprocess.run(
        [str(wire_driver())], input="\n".join(lines) + "\n", capture_output=True, text=True,
        env={**os.environ, **SANITIZER_ENV}, timeout=timeout,
    )
    assert proc.returncode == 0, f"driver failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(lines)
    return results


def python_result(name: str, data: bytes) -> dict[str, Any]:
    """FrameDecoder's view of `data`, shaped like the C driver's V output."""
    decoder = FrameDecoder()
    messages = []
    for received in decoder.feed(data):
        entry: dict[str, Any] = {"type": received.name, "seq": received.seq}
        if received.message is not None:
            entry["fields"] = to_jsonable(received.message)
        else:
            assert received.error is not None
            entry["error"] = received.error.status
        messages.append(entry)
    return {
        "name": name,
        "messages": messages,
        "rejected": dict(decoder.rejected),
        "frames_ok": decoder.frames_ok,
    }


_F32_FIELDS = {
    (m.name, f.name) for m in spec.MESSAGES for f in m.fields if f.kind in ("f32", "f32_array")
}


def _canon_f32(value: Any) -> Any:
    if isinstance(value, list):
        return [_canon_f32(v) for v in value]
    if isinstance(value, str):
        return value  # "nan", "inf", "-inf"
    f = float(np.float32(value))
    return 0.0 if f == 0.0 else f  # -0.0 prints as "-0", which JSON reads as the int 0


def canonical(result: dict[str, Any]) -> dict[str, Any]:
    """Floats as their float32 value, so C's %.9g and Python's repr compare equal."""
    messages = []
    for message in result["messages"]:
        message = dict(message)
        if "fields" in message:
            message["fields"] = {
                k: _canon_f32(v) if (message["type"], k) in _F32_FIELDS else v
                for k, v in message["fields"].items()
            }
        messages.append(message)
    return {
        "messages": messages,
        "rejected": {k: v for k, v in result["rejected"].items() if v},
        "frames_ok": result["frames_ok"],
    }


def has_nan(message: Any) -> bool:
    return any(isinstance(v, float) and math.isnan(v) for v in vars(message).values())
