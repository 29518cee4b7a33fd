#!/usr/bin/env bash
# Create .venv in the checkout (once) and install Clip Explorer into it, editable, with the test tools.
# Sourced by demo.sh and test.sh; safe to run again (it only installs what is missing or changed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Re-install only when pyproject.toml or the review panel's sources changed since the last install.
# The install builds the review panel (extensions/) with jlpm: Node must be on PATH (a built wheel needs none).
stamp=.venv/.explorer-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] \
   || [ -n "$(find extensions/src extensions/style extensions/package.json -newer "$stamp" 2>/dev/null | head -1)" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # The CPU build of torch, pinned: the package itself asks only for a range (GPU users get their CUDA build),
  # and an unpinned install here would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet "torch==${EXPLORER_TORCH:-2.13.0}"
  .venv/bin/python -m pip install --quiet -e '.[test]'
  touch "$stamp"
fi
# Debian's chromium for the browser tests (never a browser download of Playwright's own).
bash scripts/browser-deps.sh
export PATH="$PWD/.venv/bin:$PATH"
