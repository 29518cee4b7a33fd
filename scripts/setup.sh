#!/usr/bin/env bash
# Create .venv in the checkout (once) and install Clip Explorer into it, editable, with JupyterLab.
# Sourced by demo.sh and test.sh; safe to run again (it installs only what is missing or changed).
# Needs only Python >= 3.10 with venv and the package registry: no Node, no root, no system packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup: Clip Explorer needs Python 3.10 or newer; '$PYTHON' is $("$PYTHON" --version 2>&1 || echo missing)." >&2
  echo "       Point PYTHON at one: PYTHON=python3.12 bash scripts/demo.sh" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || {
    rm -rf .venv
    echo "setup: '$PYTHON -m venv' failed. On Debian or Ubuntu the venv module is a separate package (python3-venv)." >&2
    exit 1
  }
fi
# The review panel is prebuilt and committed (explorer/labextension), so the install runs no Node build step.
export HATCH_JUPYTER_BUILDER_SKIP_NPM=1
# Re-install only when pyproject.toml or the committed review panel changed since the last install (an editable
# install copies the panel into .venv/share/jupyter/labextensions).
stamp=.venv/.explorer-installed-lab
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] \
   || ! cmp -s explorer/labextension/source.sha256 .venv/share/jupyter/labextensions/clip-explorer/source.sha256; then
  echo "setup: installing Clip Explorer and JupyterLab into .venv (first time: a minute or two)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[lab]'
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
