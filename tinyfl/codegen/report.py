"""What a generated backbone costs on a board: flash, RAM, arena (ours vs TFLM's), MACs, accuracy.

`build_report()` is what `tinyfl build` prints. Flash and RAM are measured, not estimated: the
generated model and the kernels it uses are compiled with arm-none-eabi-gcc for Cortex-M4F
(-O2, the flags of every tinyfl Cortex-M build), linked alone with --gc-sections from
tinyfl_model_backbone(), and sized with arm-none-eabi-size. That is the model's share of a
firmware image on every Cortex-M4F board (the QEMU AN386, the Nano 33 BLE's nRF52840). The
native board runs the same C as a host process, so its figures are given for Cortex-M4F too;
the ESP32 (Xtensa) figures are the Cortex-M4F ones, marked as such, as long as no Xtensa
toolchain is installed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..paths import FIRMWARE_DIR
from ..toolchain import CORTEX_M4F, WARNINGS, ToolchainError, cached_output, find_tool
from .generate import GeneratedModel, generate

__all__ = ["BOARD_TARGETS", "BuildReport", "build_report", "link_cortex_m4f", "measure_cortex_m4f"]

OPT = "-O2"
XTENSA_GCC = "xtensa-esp32-elf-gcc"


@dataclass(frozen=True)
class _Target:
    description: str
    flash_capacity: int | None  # bytes the board offers, None: not a constraint (host)
    ram_capacity: int | None


BOARD_TARGETS: dict[str, _Target] = {
    "qemu": _Target("Cortex-M4F, QEMU mps2-an386", 4 << 20, 4 << 20),
    "native": _Target("host process (figures: Cortex-M4F build)", None, None),
    "nano33ble": _Target("Cortex-M4F, nRF52840 (Arduino Nano 33 BLE)", 1 << 20, 256 << 10),
    "esp32": _Target("Xtensa LX6, ESP32 (figures: Cortex-M4F build)", 4 << 20, 320 << 10),
}
_BOARD_ALIASES = {"qemu-mps2-an386": "qemu"}

_LINKER_SCRIPT = """\
/* tinyfl.codegen.report: the model alone, for arm-none-eabi-size (never run). */
MEMORY
{
    FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 16M
    RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 16M
}
ENTRY(tinyfl_model_backbone)
SECTIONS
{
    .text : { *(.text .text.*) *(.rodata .rodata.*) . = ALIGN(4); } > FLASH
    .ARM.exidx : { *(.ARM.exidx* .gnu.linkonce.armexidx.*) } > FLASH
    .data : { *(.data .data.*) . = ALIGN(4); } > RAM AT > FLASH
    .bss (NOLOAD) : { *(.bss .bss.*) *(COMMON) . = ALIGN(4); } > RAM
}
"""


@dataclass(frozen=True)
class BuildReport:
    """Figures for one model on one board; sizes in bytes. Accuracies are None when unknown
    (a bare .tflite comes without data)."""

    model: str
    board: str
    target: str
    kernels: str  # "plain" or "optimized"
    compiler: str
    flash_bytes: int  # text + data of the linked model + kernels
    ram_bytes: int  # data + bss (bss holds the static arena)
    text_bytes: int
    data_bytes: int
    bss_bytes: int
    stack_bytes: int  # deepest call chain of one inference, from -fstack-usage
    weight_bytes: int  # constant weights, biases and requantization tables (inside flash)
    arena_bytes: int  # the generated static plan: int8 activations only
    io_bytes: int  # the float window + features the caller passes (4 bytes per value)
    tflm_arena_bytes: int  # the TFLM interpreter's arena for the same .tflite
    tflm_arena_head_bytes: int  # ... of which tensors: activations AND its input/output tensors
    tflm_arena_tail_bytes: int  # ... of which interpreter bookkeeping
    macs: int
    input_len: int
    feature_len: int
    model_hash: int
    float_accuracy: float | None
    int8_accuracy: float | None
    flash_capacity: int | None
    ram_capacity: int | None
    notes: tuple[str, ...] = ()

    @property
    def arena_ratio(self) -> float:
        """Activations only against TFLM's whole arena (which also holds the model's input and
        output tensors and the interpreter's bookkeeping): flatters the generated model."""
        return self.arena_bytes / self.tflm_arena_bytes if self.tflm_arena_bytes else float("nan")

    @property
    def model_ram_bytes(self) -> int:
        """Every data buffer one inference needs: arena + float window + features."""
        return self.arena_bytes + self.io_bytes

    @property
    def model_ram_ratio(self) -> float:
        """Like for like: everything TFLM's arena figure holds for the same inference (its input
        and output tensors included), against what the generated model needs."""
        return self.model_ram_bytes / self.tflm_arena_bytes if self.tflm_arena_bytes else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notes"] = list(self.notes)
        d["arena_ratio"] = round(self.arena_ratio, 4)
        d["model_ram_bytes"] = self.model_ram_bytes
        d["model_ram_ratio"] = round(self.model_ram_ratio, 4)
        d["model_hash"] = f"0x{self.model_hash:08x}"
        return d

    def to_table(self) -> Any:
        """A rich Table (rich is imported here only)."""
        from rich.table import Table

        table = Table(title=f"tinyfl build: {self.model} on {self.board} ({self.target})")
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_column("detail")

        def cap(used: int, capacity: int | None) -> str:
            return f"; {100.0 * used / capacity:.2f} % of the board's {_kib(capacity)}" if capacity else ""

        table.add_row("flash", _kib(self.flash_bytes),
                      f"text {self.text_bytes} B (weights {self.weight_bytes} B), data "
                      f"{self.data_bytes} B" + cap(self.flash_bytes, self.flash_capacity))
        table.add_row("RAM", _kib(self.ram_bytes + self.stack_bytes),
                      f"static {self.ram_bytes} B (arena {self.arena_bytes} B), stack "
                      f"~{self.stack_bytes} B; the caller's window and features not included"
                      + cap(self.ram_bytes + self.stack_bytes, self.ram_capacity))
        table.add_row("data RAM: tinyfl model", f"{self.model_ram_bytes} B",
                      f"arena {self.arena_bytes} B + float window and features {self.io_bytes} B; "
                      f"{self.model_ram_ratio:.2f} x TFLM's arena (like for like)")
        table.add_row("arena: tinyfl plan", f"{self.arena_bytes} B",
                      f"int8 activations only; {self.arena_ratio:.2f} x TFLM's arena")
        table.add_row("arena: TFLM interpreter", f"{self.tflm_arena_bytes} B",
                      f"tensors {self.tflm_arena_head_bytes} B (activations + input/output), "
                      f"bookkeeping {self.tflm_arena_tail_bytes} B")
        table.add_row("MACs per inference", f"{self.macs:,}", "")
        table.add_row("accuracy int8", _pct(self.int8_accuracy), "backbone in TFLM + float head")
        table.add_row("accuracy float", _pct(self.float_accuracy), "Keras model")
        table.add_row("input / features", f"{self.input_len} / {self.feature_len}",
                      f"model hash 0x{self.model_hash:08x}")
        table.add_row("kernels", self.kernels, self.compiler)
        if self.notes:
            table.caption = "\n".join(self.notes)
        return table

    def __rich__(self) -> Any:
        return self.to_table()


def _kib(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100.0 * v:.1f} %"


def _compiler_version(cc: str) -> str:
    proc = subprocess.run([cc, "-dumpversion"], capture_output=True, text=True)
    return f"arm-none-eabi-gcc {proc.stdout.strip()} {OPT}"


def link_cortex_m4f(gen: GeneratedModel, *, optimized: bool = False) -> Path:
    """The generated model + its kernels compiled for Cortex-M4F (-O2) and linked alone with
    --gc-sections from tinyfl_model_backbone(); cached by content. Returns the ELF (never run);
    the compiler's -fstack-usage files sit next to it."""
    cc = find_tool("arm-none-eabi-gcc")
    defines = ["-DTINYFL_KERNELS_OPTIMIZED=1"] if optimized else []
    flags = [*WARNINGS, *CORTEX_M4F, OPT, "-ffunction-sections", "-fdata-sections",
             "-fstack-usage", *defines]
    headers = sorted((FIRMWARE_DIR / "kernels").glob("*.h"))
    key = [json.dumps(flags), _compiler_version(cc), gen.c_source, gen.h_source, _LINKER_SCRIPT,
           *gen.kernel_sources, *headers, FIRMWARE_DIR / "tinyfl_status.h",
           FIRMWARE_DIR / "generated" / "tinyfl_wire_gen.h"]
    out_dir = cached_output("size_m4f", key)
    elf = out_dir / "model_only.elf"
    if elf.exists():
        return elf
    out_dir.mkdir(parents=True, exist_ok=True)
    c_path, _ = gen.write(out_dir)
    script = out_dir / "model_only.ld"
    script.write_text(_LINKER_SCRIPT)
    objects = []
    for src in [c_path, *gen.kernel_sources]:
        obj = out_dir / f"{src.stem}.o"
        _run([cc, *flags, f"-I{FIRMWARE_DIR}", f"-I{out_dir}", "-c", str(src), "-o", str(obj)])
        objects.append(obj)
    tmp = out_dir / f".model_only.{os.getpid()}.elf"
    _run([cc, *CORTEX_M4F, "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
          "-T", str(script), *map(str, objects), "-lm", "-o", str(tmp)])
    os.replace(tmp, elf)
    return elf


def measure_cortex_m4f(gen: GeneratedModel, *, optimized: bool = False) -> dict[str, int]:
    """Flash and RAM of link_cortex_m4f()'s ELF: text, data, bss, flash (= text + data),
    ram (= data + bss) and stack (the deepest chain extract -> run -> kernel, -fstack-usage)."""
    elf = link_cortex_m4f(gen, optimized=optimized)
    size_tool = find_tool("arm-none-eabi-size")
    berkeley = subprocess.run([size_tool, "-B", str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in berkeley.stdout.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss,
            "stack": _stack_estimate(elf.parent)}


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"command failed: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")


_SU_LINE = re.compile(r"^.*:\d+:\d+:(?P<fn>[A-Za-z_][A-Za-z0-9_.]*)\s+(?P<size>\d+)\s+(?P<kind>\S+)")


def _stack_estimate(out_dir: Path) -> int:
    """extract + run + the deepest kernel frame (kernels call only inline helpers and libm
    leaves, whose few words are covered by the 32-byte margin)."""
    frames: dict[str, int] = {}
    for su in out_dir.glob("*.su"):
        for line in su.read_text().splitlines():
            m = _SU_LINE.match(line)
            if m:
                frames[m["fn"]] = max(frames.get(m["fn"], 0), int(m["size"]))
    top = frames.get("tinyfl_model_extract", 0) + frames.get("tinyfl_model_run", 0)
    inner = max((v for k, v in frames.items() if k not in ("tinyfl_model_extract", "tinyfl_model_run",
                                                         "tinyfl_model_backbone")), default=0)
    return top + inner + 32


def _resolve(model: Any) -> tuple[str, bytes, float | None, float | None]:
    """(name, tflite, float accuracy, int8 accuracy) from a reference name, a .tflite path, an
    Artifacts directory or an Artifacts object."""
    from ..models import REFERENCE_MODELS, Artifacts

    if isinstance(model, Artifacts):
        return model.name, model.tflite, model.float_accuracy, model.int8_accuracy
    if isinstance(model, str) and model in REFERENCE_MODELS:
        from ..models import build_reference

        artifacts, _ = build_reference(model)
        return artifacts.name, artifacts.tflite, artifacts.float_accuracy, artifacts.int8_accuracy
    path = Path(model)
    if path.is_dir() and (path / "meta.json").exists():
        return _resolve(Artifacts.load(path))
    if path.is_file():
        return path.stem, path.read_bytes(), None, None
    raise ValueError(
        f"model {model!r} is neither a reference model ({', '.join(REFERENCE_MODELS)}), a .tflite "
        "file nor a saved Artifacts directory"
    )


def build_report(model: Any = "basic_motions", board: str = "qemu", *, optimized: bool = False) -> BuildReport:
    """Build figures for `model` ("basic_motions" | "digits" | path.tflite | Artifacts dir or
    object) on `board` ("qemu" | "native" | "nano33ble" | "esp32").

    A reference name pretrains the model first (seconds). optimized measures the Cortex-M4 DSP
    kernel path (TINYFL_KERNELS_OPTIMIZED) instead of the plain reference kernels.
    """
    from .tflm import tflm_arena_bytes

    board_key = _BOARD_ALIASES.get(board, board)
    if board_key not in BOARD_TARGETS:
        raise ValueError(f"unknown board {board!r}; choose from {', '.join(BOARD_TARGETS)}")
    target = BOARD_TARGETS[board_key]
    name, tflite, float_acc, int8_acc = _resolve(model)
    gen = generate(tflite, name=name)
    size = measure_cortex_m4f(gen, optimized=optimized)
    tflm = tflm_arena_bytes(tflite)
    notes = []
    if board_key == "esp32":
        have = shutil.which(XTENSA_GCC) is not None
        notes.append(
            "ESP32: flash/RAM are the Cortex-M4F figures: "
            + ("the Xtensa build is not measured yet." if have else
               f"the Xtensa toolchain ({XTENSA_GCC}) is not available here.")
        )
    if board_key == "native":
        notes.append("native: the host process runs the same C; flash/RAM shown for a Cortex-M4F build.")
    notes.append("Flash/RAM: generated model + kernels only (the runtime and board add their own).")
    notes.append("Data RAM = arena + the float window and features the caller owns (TFLM keeps "
                 "its input/output tensors inside its arena); the stack comes on top.")
    return BuildReport(
        model=name,
        board=board_key,
        target=target.description,
        kernels="optimized" if optimized else "plain",
        compiler=_compiler_version(find_tool("arm-none-eabi-gcc")),
        flash_bytes=size["flash"],
        ram_bytes=size["ram"],
        text_bytes=size["text"],
        data_bytes=size["data"],
        bss_bytes=size["bss"],
        stack_bytes=size["stack"],
        weight_bytes=gen.weight_bytes,
        arena_bytes=gen.arena_bytes,
        io_bytes=gen.io_bytes,
        tflm_arena_bytes=tflm["total"],
        tflm_arena_head_bytes=tflm.get("head", 0),
        tflm_arena_tail_bytes=tflm.get("tail", 0),
        macs=gen.macs,
        input_len=gen.input_len,
        feature_len=gen.feature_len,
        model_hash=gen.model_hash,
        float_accuracy=float_acc,
        int8_accuracy=int8_acc,
        flash_capacity=target.flash_capacity,
        ram_capacity=target.ram_capacity,
        notes=tuple(notes),
    )
