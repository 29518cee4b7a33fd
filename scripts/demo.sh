#!/usr/bin/env bash
# The demo: install into .venv, then generate a handful of sketch clips into a fresh demo/explorer.duckdb.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
explorer demo --db demo/explorer.duckdb "$@"
