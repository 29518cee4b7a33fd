#!/usr/bin/env bash
# The demo: install into .venv (Python only: no Node, no root), make a handful of sketch clips in the default
# log (./explorer.duckdb), then open JupyterLab on the quickstart tour (from a terminal; otherwise say how).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
explorer demo
echo
if [ -t 0 ] && [ -t 1 ] && [ "${1:-}" != "--no-lab" ]; then
  exec explorer lab notebooks/quickstart.ipynb
else
  echo "To open JupyterLab on the tours and the review panel, all on this log, run (from $PWD):"
  echo "  .venv/bin/explorer lab      # then open the URL it prints"
fi
