#!/bin/sh
# The README's two commands on a machine as it comes (no make needed):
#   ./run.sh demo   # the emulated fleet demo
#   ./run.sh test   # the whole test suite
# Both first run scripts/bootstrap.sh, which installs what is missing (Debian packages, .venv).
set -eu
cd "$(dirname "$0")"
command -v bash >/dev/null 2>&1 || { echo "run.sh: bash is needed (apt-get install bash)" >&2; exit 2; }
case "${1:-}" in
    demo) shift; bash scripts/bootstrap.sh; exec .venv/bin/tinyfl demo "$@" ;;
    test) shift; bash scripts/bootstrap.sh; exec .venv/bin/python -m pytest -q "$@" ;;
    bench) shift; bash scripts/bootstrap.sh; exec .venv/bin/python -m bench "$@" ;;
    *) echo "usage: ./run.sh demo|test|bench [args...]" >&2; exit 2 ;;
esac
