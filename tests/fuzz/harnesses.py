"""Build and run the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan).

    python tests/fuzz/harnesses.py --seconds 600            # what `make fuzz` runs
    python tests/fuzz/harnesses.py --seconds 60 device      # one harness
    python tests/fuzz/harnesses.py --replay                 # stored corpus + regressions once

Each harness has a stored seed corpus (corpus/<name>/, made by make_corpus.py) and a folder of
regression inputs (regressions/<name>/, one file per bug found). Fuzzing writes new inputs into a
work corpus under the build folder, never into tests/; a crash leaves its input in
build/fuzz/artifacts/<name>/ and fails the run. tests/test_fuzz.py uses the same functions.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUZZ_DIR.parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tinyfl.firmware_config import DpConfig, FirmwareConfig  # noqa: E402
from tinyfl.paths import FIRMWARE_DIR, build_dir  # noqa: E402
from tinyfl.toolchain import WARNINGS, ToolchainError, find_tool  # noqa: E402

SANITIZE = ("-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer")
SANITIZER_ENV = {
    "ASAN_OPTIONS": "abort_on_error=1:detect_leaks=0:symbolize=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
MAX_LEN = 8192
INPUT_TIMEOUT_S = 10  # one input taking longer is a hang: libFuzzer reports it as a crash

WIRE_SOURCES = ("tinyfl_frame.c", "tinyfl_cobs.c", "tinyfl_crc32.c", "tinyfl_status.c",
                "generated/tinyfl_wire_gen.c")

# The device harness's firmware: small enough to train fast, a budget of a few releases (so the
# fuzzer reaches exhaustion), chunks of 20 bytes (so an update spans many frames).
DEVICE_CONFIG = FirmwareConfig(
    n_classes=3, n_features=8, input_channels=2, input_steps=8, samples_per_round=4, max_chunk=20,
    dp=DpConfig(clip=1.0, noise_multiplier=4.0, grid_bits=8, delta=1e-5, eps_limit=5.0),
)


# The secure-aggregation harness's policy: k_max 4 (the neighbours fuzz_secagg.c plays), n_min 3
# and the device config's budget (a few releases: the fuzzer reaches exhaustion).
SECAGG_POLICY = dict(n_min=3, n_max=16, k_max=4, local_multiplier=0.5)
SECAGG_STORAGE_CAP = 2048  # fuzz_board.h: the plain record plus the ledger extension


@dataclass(frozen=True)
class Harness:
    name: str
    sources: tuple[str, ...]  # under tests/fuzz
    firmware: tuple[str, ...]  # under firmware/; "*" is the whole device runtime
    needs_config: bool = False
    secagg: bool = False  # built with TINYFL_SECAGG: firmware/secagg/, Monocypher, a generated policy


# Bugs found by fuzzing whose fix belongs in firmware/ and has not landed (fuzz_oracle.h).
# name -> the oracle's message. The default build tolerates them (-DTINYFL_FUZZ_OPEN_<name>) so
# fuzzing goes on; the strict build must still crash on regressions/<harness>/<name>-*.
# When the fix lands: delete the entry, the #ifdef in fuzz_oracle.c, and keep the input.
OPEN_FINDINGS: dict[str, dict[str, str]] = {}  # none open (NO_SAMPLES_FEATURES fixed in tinyfl_device.c)


HARNESSES = {
    h.name: h
    for h in (
        Harness("payload", ("fuzz_payload.c", "wire_check.c"), WIRE_SOURCES),
        Harness("frame", ("fuzz_frame.c", "wire_check.c"), WIRE_SOURCES),
        Harness("device", ("fuzz_device.c", "fuzz_board.c", "fuzz_oracle.c", "wire_check.c"), ("*",),
                needs_config=True),
        Harness("secagg", ("fuzz_secagg.c", "fuzz_board.c", "fuzz_secagg_oracle.c"), ("*",),
                needs_config=True, secagg=True),
    )
}


def corpus_dir(name: str) -> Path:
    return FUZZ_DIR / "corpus" / name


def regressions_dir(name: str) -> Path:
    return FUZZ_DIR / "regressions" / name


def _firmware_sources(harness: Harness) -> list[Path]:
    if harness.firmware == ("*",):
        runtime = sorted(p for p in FIRMWARE_DIR.glob("*.c") if not p.name.startswith("tinyfl_model_"))
        return runtime + sorted((FIRMWARE_DIR / "generated").glob("*.c")) + [FIRMWARE_DIR / "tinyfl_model_stats.c"]
    return [FIRMWARE_DIR / s for s in harness.firmware]


def _secagg_inputs(root: Path) -> tuple[list[Path], list[Path]]:
    """(sources, include folders) a TINYFL_SECAGG device adds: firmware/secagg/ (and device/),
    Monocypher, and the policy source tinyfl.secagg.image renders for DEVICE_CONFIG."""
    from tinyfl.secagg.build import SECAGG_DIR, firmware_inputs
    from tinyfl.secagg.image import SecaggImage, render_source

    text = render_source(DEVICE_CONFIG, SecaggImage(**SECAGG_POLICY))
    policy = root / f"secagg-policy-{_digest(text)}" / "tinyfl_secagg_image_gen.c"
    if not policy.exists():
        policy.parent.mkdir(parents=True, exist_ok=True)
        policy.write_text(text)
    sources, includes = firmware_inputs()
    device = sorted((SECAGG_DIR / "device").glob("*.c"))
    return [policy, *device, *sources], [SECAGG_DIR / "device", *includes]


def clang() -> str:
    return find_tool("clang")


@dataclass(frozen=True)
class Patch:
    """A deliberately broken firmware file (a mutant), to prove an oracle catches the bug."""

    file: str  # under firmware/
    old: str
    new: str

    def apply(self, out_dir: Path) -> Path:
        text = (FIRMWARE_DIR / self.file).read_text()
        if text.count(self.old) != 1:
            raise ValueError(f"mutant anchor not found once in firmware/{self.file}: {self.old!r} "
                             "(update the mutant in tests/test_fuzz.py to the new source)")
        target = out_dir / Path(self.file).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace(self.old, self.new))
        return target


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _compile(cmd: list[str], output: Path, what: str) -> None:
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    proc = subprocess.run([*cmd, "-o", str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"building {what} failed:\n{' '.join(cmd)}\n{proc.stderr}")
    tmp.replace(output)  # atomic: a parallel run never sees half a file


def build(name: str, *, strict: bool = False, patch: Patch | None = None) -> Path:
    """The harness's executable. Each source compiles to an object cached by its content, every
    header, the flags and the config, so the strict and mutant builds recompile one file.
    strict: without the open-finding tolerances (OPEN_FINDINGS); patch: a mutant build."""
    harness = HARNESSES[name]
    root = build_dir() / "fuzz"
    compiler = clang()
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    headers = sorted(FUZZ_DIR.glob("*.h")) + sorted(FIRMWARE_DIR.rglob("*.h"))
    headers_key = _digest(*(str(h) + "\0" + h.read_text() for h in headers))
    includes = [FUZZ_DIR, FIRMWARE_DIR, FIRMWARE_DIR / "generated"]
    if harness.needs_config:
        config = DEVICE_CONFIG.render_header()
        config_dir = root / f"config-{_digest(config)}"
        DEVICE_CONFIG.write_header(config_dir)
        includes.insert(0, config_dir)
    defines = [] if strict else [f"-DTINYFL_FUZZ_OPEN_{f}" for f in OPEN_FINDINGS.get(name, {})]
    extra_sources: list[Path] = []
    secagg_defines: list[str] = []
    if harness.secagg:
        extra_sources, secagg_includes = _secagg_inputs(root)
        includes += secagg_includes
        secagg_defines = ["-DTINYFL_SECAGG", f"-DTINYFL_SECAGG_MAX_NEIGHBOURS={SECAGG_POLICY['k_max']}"]
        defines = [*defines, f"-DTINYFL_FUZZ_STORAGE_CAP={SECAGG_STORAGE_CAP}u"]
    flags = [*WARNINGS, "-O1", "-g", *SANITIZE, *secagg_defines, *(f"-I{d}" for d in includes)]

    sources = [FUZZ_DIR / s for s in harness.sources] + _firmware_sources(harness) + extra_sources
    if patch is not None:
        original = FIRMWARE_DIR / patch.file
        mutant_dir = root / f"mutant-{_digest(repr(patch))}"
        sources = [patch.apply(mutant_dir) if s == original else s for s in sources]
    objects = []
    for source in sources:
        own = defines if source.parent == FUZZ_DIR else []  # the switches are the harness's
        key = _digest(str(source), source.read_bytes(), headers_key, version, *flags, *own)
        obj = root / "obj" / f"{source.stem}-{key}.o"
        if not obj.exists():
            obj.parent.mkdir(parents=True, exist_ok=True)
            _compile([compiler, *flags, *own, "-c", str(source)], obj, f"{source.name} ({name} harness)")
        objects.append(obj)
    binary = root / f"{name}-{_digest(*map(str, objects))}" / f"fuzz_{name}"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        _compile([compiler, *SANITIZE, *map(str, objects), "-lm"], binary, f"the {name} harness")
    return binary


@dataclass
class RunResult:
    name: str
    ok: bool
    runs: int
    execs_per_second: int
    seconds: float
    inputs: int  # corpus inputs replayed (replay) or corpus size at the end (fuzz)
    output: str  # libFuzzer's whole log


def _stat(output: str, key: str) -> int:
    match = re.search(rf"stat::{key}:\s*(\d+)", output)
    return int(match.group(1)) if match else 0


def _input_dirs(name: str) -> list[Path]:
    return [d for d in (corpus_dir(name), regressions_dir(name))
            if d.is_dir() and any(p.is_file() for p in d.iterdir())]


def _run(name: str, args: list[str], timeout: float, *, strict: bool = False,
         patch: Patch | None = None) -> tuple[subprocess.CompletedProcess, float]:
    binary = build(name, strict=strict, patch=patch)
    start = time.monotonic()
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **SANITIZER_ENV})
    return proc, time.monotonic() - start


def stored_inputs(name: str) -> list[Path]:
    return [p for d in _input_dirs(name) for p in sorted(d.iterdir()) if p.is_file()]


def open_finding_inputs(name: str) -> dict[str, list[Path]]:
    """Regression inputs of each open finding (named <finding in lower case>-<hash>)."""
    folder = regressions_dir(name)
    return {f: sorted(folder.glob(f"{f.lower()}-*")) for f in OPEN_FINDINGS.get(name, {})}


def replay(name: str, files: list[Path] | None = None, *, strict: bool = False,
           patch: Patch | None = None) -> RunResult:
    """Each input once, no mutation: by default every stored corpus and regression input.
    A crash stops the replay (ok False; the output says which invariant)."""
    files = stored_inputs(name) if files is None else files
    proc, seconds = _run(name, [f"-timeout={INPUT_TIMEOUT_S}", "-print_final_stats=1", *map(str, files)],
                         timeout=300, strict=strict, patch=patch)
    output = proc.stdout + proc.stderr
    executed = len(re.findall(r"^Executed ", output, flags=re.M))
    return RunResult(name, proc.returncode == 0 and executed == len(files), executed, 0, seconds,
                     len(files), output)


def fuzz(name: str, seconds: int, *, work: Path | None = None) -> RunResult:
    """Mutate from the stored corpus for `seconds`; new inputs go to a work corpus in build/."""
    work = work or build_dir() / "fuzz" / "work" / name
    work.mkdir(parents=True, exist_ok=True)
    artifacts = build_dir() / "fuzz" / "artifacts" / name
    artifacts.mkdir(parents=True, exist_ok=True)
    args = [f"-max_total_time={seconds}", f"-timeout={INPUT_TIMEOUT_S}", f"-max_len={MAX_LEN}",
            "-print_final_stats=1", f"-artifact_prefix={artifacts}/", str(work),
            *map(str, _input_dirs(name))]
    proc, elapsed = _run(name, args, timeout=seconds + 120)
    output = proc.stdout + proc.stderr
    return RunResult(name, proc.returncode == 0, _stat(output, "number_of_executed_units"),
                     _stat(output, "average_exec_per_sec"), elapsed,
                     sum(1 for p in work.iterdir() if p.is_file()), output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"harnesses to run: {', '.join(HARNESSES)} (default: all)")
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per harness")
    parser.add_argument("--replay", action="store_true", help="only replay corpus and regressions")
    args = parser.parse_args(argv)
    names = args.names or list(HARNESSES)
    unknown = sorted(set(names) - set(HARNESSES))
    if unknown:
        parser.error(f"unknown harness {', '.join(unknown)}; harnesses: {', '.join(HARNESSES)}")
    if shutil.which("clang") is None:
        print("clang not found (scripts/bootstrap.sh installs it)", file=sys.stderr)
        return 2
    failed = False
    for name in names:
        result = replay(name) if args.replay else fuzz(name, args.seconds)
        failed |= not result.ok
        print(f"{name:8s} {'ok' if result.ok else 'FAILED':6s} runs {result.runs:>10d}  "
              f"exec/s {result.execs_per_second:>7d}  {result.seconds:6.1f} s  inputs {result.inputs}")
        if not result.ok:
            print(result.output[-8000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
