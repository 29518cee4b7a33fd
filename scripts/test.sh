#!/usr/bin/env bash
# The whole test suite: install into .venv, then run pytest over tests/ and the docstring examples.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
export HF_HUB_OFFLINE=1  # tests build their models; nothing comes from a hub
python -m pytest tests explorer notebooks --doctest-modules --nbval-lax -p no:cacheprovider "$@"
