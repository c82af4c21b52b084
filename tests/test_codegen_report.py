"""`build_report`: measured Cortex-M4F flash/RAM of the generated model, planned arena next to
the TFLM interpreter's, MACs, accuracies; dict and rich renderings; every board."""
from __future__ import annotations

import io
import json
import subprocess

import pytest

from codegen_helpers import reference_artifacts
from tinyfl.codegen import generate
from tinyfl.codegen.report import BOARD_TARGETS, build_report, link_cortex_m4f, measure_cortex_m4f
from tinyfl.codegen.tflm import tflm_arena_bytes

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def artifacts():
    return reference_artifacts("basic_motions")[0]


def test_report_figures_for_basic_motions(arm_toolchain, artifacts) -> None:
    report = build_report(artifacts, "qemu")
    gen = generate(artifacts.tflite, name=artifacts.name)
    assert (report.board, report.kernels, report.macs) == ("qemu", "plain", gen.macs)
    assert report.macs == 88_320  # conv1 46080 + conv2 42240 (Conv1D 16x5x6 over 96, 24x5x16 over 22)
    assert report.arena_bytes == gen.arena_bytes
    assert report.tflm_arena_bytes == tflm_arena_bytes(artifacts.tflite)["total"]
    assert report.arena_ratio <= 0.7
    # Like for like: TFLM's arena holds its float input tensor (the window) among its tensors,
    # so the generated model's figure counts the caller's float window and features too.
    assert report.tflm_arena_head_bytes >= 4 * report.input_len
    assert report.io_bytes == 4 * (600 + 24)
    assert report.model_ram_bytes == report.arena_bytes + report.io_bytes == gen.ram_bytes
    assert report.model_ram_ratio == pytest.approx(report.model_ram_bytes / report.tflm_arena_bytes)
    assert report.arena_ratio < report.model_ram_ratio < 1.0
    assert f"#define TINYFL_MODEL_RAM_BYTES {gen.ram_bytes}u" in gen.h_source
    # Weights are const: in flash (text), never copied to RAM; the arena is the static RAM.
    assert report.data_bytes == 0
    assert report.weight_bytes < report.text_bytes < report.weight_bytes + 8192
    assert report.arena_bytes <= report.bss_bytes < report.arena_bytes + 64
    assert report.flash_bytes == report.text_bytes + report.data_bytes
    assert 64 <= report.stack_bytes <= 1024
    assert report.int8_accuracy == artifacts.int8_accuracy
    assert report.float_accuracy == artifacts.float_accuracy


def test_report_of_the_optimized_kernels(arm_toolchain, artifacts) -> None:
    plain = build_report(artifacts, "nano33ble")
    fast = build_report(artifacts, "nano33ble", optimized=True)
    assert fast.kernels == "optimized" and fast.arena_bytes == plain.arena_bytes
    assert fast.weight_bytes == plain.weight_bytes and fast.macs == plain.macs
    # Layer-specialized copies of the fast kernels cost some code, not kilobytes more.
    assert plain.text_bytes - 2048 < fast.text_bytes < plain.text_bytes + 4096


def test_size_agrees_with_the_symbols(arm_toolchain, artifacts) -> None:
    """Independent check: the linked text holds at least every const array the generator emitted
    plus each kernel function that the model calls (sizes from arm-none-eabi-nm)."""
    gen = generate(artifacts.tflite, name=artifacts.name)
    size = measure_cortex_m4f(gen)
    nm = subprocess.run(["arm-none-eabi-nm", "-S", "--size-sort", str(link_cortex_m4f(gen))],
                        capture_output=True, text=True, check=True).stdout
    symbols = {line.split()[3]: int(line.split()[1], 16) for line in nm.splitlines() if len(line.split()) == 4}
    consts = sum(v for k, v in symbols.items() if k.startswith("tinyfl_op"))
    assert consts >= gen.weight_bytes
    for kernel in ("tinyfl_conv_2d_s8", "tinyfl_max_pool_2d_s8", "tinyfl_mean_s8"):
        assert kernel in symbols
    assert sum(symbols.values()) <= size["text"] + size["bss"]


@pytest.mark.parametrize("board", sorted(BOARD_TARGETS))
def test_report_renders_for_every_board(arm_toolchain, artifacts, board) -> None:
    from rich.console import Console

    report = build_report(artifacts, board)
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["arena_ratio"] == pytest.approx(report.arena_bytes / report.tflm_arena_bytes, abs=1e-4)
    assert d["model_ram_ratio"] == pytest.approx(report.model_ram_bytes / report.tflm_arena_bytes, abs=1e-4)
    assert d["model_ram_bytes"] == report.arena_bytes + report.io_bytes
    out = io.StringIO()
    Console(file=out, width=120).print(report)
    text = out.getvalue()
    for label in ("flash", "RAM", "TFLM interpreter", "MACs per inference", "accuracy int8",
                  "data RAM: tinyfl model", f"{report.model_ram_bytes} B"):
        assert label in text
    assert f"{report.macs:,}" in text
    if board == "esp32":
        assert any("Xtensa" in n and "Cortex-M4F" in n for n in report.notes)
        assert "Xtensa" in text
    if board == "nano33ble":
        assert report.ram_capacity == 256 * 1024


def test_report_from_a_bare_tflite_has_no_accuracy(arm_toolchain, artifacts, tmp_path) -> None:
    path = tmp_path / "bm.tflite"
    path.write_bytes(artifacts.tflite)
    report = build_report(path, "native")
    assert report.model == "bm" and report.int8_accuracy is None and report.float_accuracy is None
    assert report.macs == 88_320


def test_report_rejects_unknown_board_and_model(artifacts, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown board"):
        build_report(artifacts, "arduino-uno")
    with pytest.raises(ValueError, match="neither a reference model"):
        build_report(tmp_path / "missing.tflite", "qemu")
