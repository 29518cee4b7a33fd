#!/usr/bin/env bash
# The whole test suite: the demo's install (scripts/setup.sh), then the test tools, then pytest over tests/,
# the docstring examples and the tour notebooks. Unlike the demo, this installs system packages: Debian's
# chromium for the browser tests and postgresql for the team-log tests (scripts/test-deps.sh, apt, as root or with sudo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
stamp=.venv/.explorer-installed-test
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # The CPU build of torch, pinned: the package itself asks only for a range (GPU users get their CUDA build),
  # and an unpinned install here would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==${EXPLORER_TORCH:-2.13.0}"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi
# Debian's chromium (never a browser download of Playwright's own) and postgresql.
bash scripts/test-deps.sh
export HF_HUB_OFFLINE=1  # tests build their models; nothing comes from a hub
python -m pytest tests explorer notebooks --doctest-modules --nbval-lax -p no:cacheprovider "$@"
