#!/usr/bin/env bash
# Installs everything tinyfl needs on a fresh Debian machine: the ARM toolchain, QEMU and clang
# with libFuzzer (libclang-rt-dev, for tests/fuzz) from Debian, then a virtual environment (.venv) with tinyfl and its extras. Safe to run again:
# it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

# g++: the ESP32 board glue is compiled with the host C++ compiler against the Arduino API
# stand-in (tests/test_platformio.py); there is no Xtensa compiler in Debian.
# clang + libclang-rt-dev: libFuzzer for the fuzz harnesses (tests/test_fuzz.py).
debs=(gcc g++ make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc-riscv64-unknown-elf
      picolibc-riscv64-unknown-elf qemu-system-misc python3-venv clang libclang-rt-dev)
missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
else
    say "Debian packages present (ARM toolchain, QEMU, clang)"
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $($python --version)"
    $python -m venv .venv
fi
stamp=.venv/.tinyfl-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing tinyfl and its extras into .venv (numpy, tensorflow-cpu, tflite-micro, aeon, ...)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[all,dev]"
    echo "$want" > "$stamp"
else
    say "python environment up to date"
fi

# Monocypher (secure aggregation's X25519, AEAD, KDF) from the pinned pymonocypher sdist on the
# package index, hash-checked, into build/third_party/monocypher/; no download when present.
if .venv/bin/python -m tinyfl.secagg.third_party; then
    :
else
    say "warning: Monocypher not fetched (offline?); secure-aggregation builds and tests need it"
fi
