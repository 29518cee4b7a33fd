#!/usr/bin/env bash
# The demo: install into .venv, generate a handful of sketch clips into a fresh demo/explorer.duckdb,
# then open JupyterLab on the quickstart notebook (when run from a terminal; otherwise say how).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
explorer demo --db demo/explorer.duckdb
echo
if [ -t 0 ] && [ -t 1 ] && [ "${1:-}" != "--no-lab" ]; then
  exec explorer lab notebooks/quickstart.ipynb
else
  echo "To open JupyterLab on the quickstart notebook (sketch backend), run:"
  echo "  .venv/bin/explorer lab notebooks/quickstart.ipynb      # then open the URL it prints"
fi
