"""Shared pytest fixtures. In CI (CI set), tests that need the ARM toolchain or QEMU fail when
the tools are missing instead of skipping: a green run must have exercised the emulator."""
from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    message = f"missing {', '.join(missing)} (run scripts/bootstrap.sh)"
    if os.environ.get("CI"):
        pytest.fail(f"CI requires {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def arm_toolchain() -> None:
    _require_tools("arm-none-eabi-gcc", "arm-none-eabi-size")


@pytest.fixture(scope="session")
def qemu() -> None:
    _require_tools("arm-none-eabi-gcc", "qemu-system-arm")


@pytest.fixture(scope="session")
def qemu_rv32() -> None:
    _require_tools("riscv64-unknown-elf-gcc", "riscv64-unknown-elf-size", "qemu-system-riscv32")
