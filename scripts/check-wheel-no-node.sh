#!/usr/bin/env bash
# Prove that the wheel installs with no Node: build it (Node may be used for that), then install it into a fresh
# venv with node/npm off PATH and check that JupyterLab lists the review panel and the server extension as OK.
#
#   scripts/check-wheel-no-node.sh            # build the wheel from this checkout, then check it
#   scripts/check-wheel-no-node.sh DIST.whl   # check a wheel built elsewhere
#
# Exits non-zero (saying why) when the wheel lacks the extension or either list is not "enabled ... OK".
# PYTHON picks the interpreter for the venvs (default: python3). Uses pip's cache; PyPI supplies dependencies.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/check-wheel-no-node.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
say() { printf '[check-wheel-no-node %3ss] %s\n' "$((SECONDS - start))" "$*"; }
fail() { say "FAIL: $*"; exit 1; }

# 1. The wheel.
if [ $# -ge 1 ]; then
  wheel=$1
else
  say "building the wheel (pip wheel --no-deps .)"
  "$PYTHON" -m pip wheel --quiet --no-deps -w "$work/dist" . >"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; fail "the wheel did not build"; }
  wheel=$(ls "$work"/dist/clip_explorer-*.whl)
fi
[ -f "$wheel" ] || fail "no wheel at $wheel"
say "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
# The built extension must be inside it, both in the package and as shared data.
"$PYTHON" - "$wheel" <<'EOF' || fail "the wheel does not hold the built labextension"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["explorer/labextension/package.json", "explorer/labextension/static/style.js",
        "share/jupyter/labextensions/clip-explorer/package.json",
        "share/jupyter/labextensions/clip-explorer/install.json",
        "etc/jupyter/jupyter_server_config.d/explorer.json",
        "share/jupyter/lab/settings/overrides.d/clip-explorer.json"]
missing = [n for n in need if not any(x == n or x.endswith(".data/data/" + n) for x in names)]
if missing:
    sys.exit(f"missing from the wheel: {missing}")
EOF

# 2. A PATH without Node: directories that hold node, npm, npx or yarn are replaced by a folder of links to
#    everything else in them (so sed, rm, ... stay; /usr/bin often holds node).
NODE_TOOLS=" node nodejs npm npx yarn yarnpkg corepack "
shim=$work/no-node-bin
mkdir -p "$shim"
clean_path=""
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  has_node=""
  for tool in $NODE_TOOLS; do
    if [ -x "$d/$tool" ]; then has_node=1; fi
  done
  if [ -z "$has_node" ]; then
    clean_path="${clean_path:+$clean_path:}$d"
    continue
  fi
  for f in "$d"/*; do
    name=${f##*/}
    case "$NODE_TOOLS" in *" $name "*) continue ;; esac
    [ -e "$shim/$name" ] || ln -s "$f" "$shim/$name"
  done
  clean_path="${clean_path:+$clean_path:}$shim"
done

# 3. A fresh venv (made with the normal PATH), then everything else with Node gone.
"$PYTHON" -m venv "$work/venv"
venv=$work/venv
export PATH="$venv/bin${clean_path:+:$clean_path}"
export JUPYTER_CONFIG_DIR=$work/jupyter-config JUPYTER_DATA_DIR=$work/jupyter-data JUPYTER_RUNTIME_DIR=$work/jupyter-runtime
unset JUPYTER_PATH JUPYTER_CONFIG_PATH
if command -v node >/dev/null 2>&1 || command -v npm >/dev/null 2>&1; then
  fail "node is still on PATH ($(command -v node npm | tr '\n' ' '))"
fi
say "node is off PATH; installing the wheel with JupyterLab into a fresh venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheel}[lab]" >"$work/install.log" 2>&1 \
  || { grep -v "^WARNING: Location" "$work/install.log" | tail -40; fail "pip install of the wheel failed without Node"; }

# 4. What JupyterLab and the server say (colour codes stripped).
strip() { sed 's/\x1b\[[0-9;]*m//g'; }
labext=$("$venv/bin/jupyter" labextension list 2>&1 | strip)
serverext=$("$venv/bin/jupyter" server extension list 2>&1 | strip)
echo "$labext" | grep -E "clip-explorer v[0-9][^ ]* +enabled +OK" \
  || { echo "$labext"; fail "jupyter labextension list does not show clip-explorer enabled OK"; }
echo "$serverext" | grep -E "^ *explorer +enabled" >/dev/null \
  && echo "$serverext" | grep -E "^ *explorer [0-9][^ ]* +OK" \
  || { echo "$serverext"; fail "jupyter server extension list does not show explorer enabled OK"; }
say "OK: the wheel installs and registers both extensions with no Node"
