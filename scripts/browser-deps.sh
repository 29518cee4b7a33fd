#!/usr/bin/env bash
# System packages the browser tests (tests/browser) need: Debian's Chromium and a font.
# Idempotent; safe to run as root with no TTY. Python packages are not installed here
# (scripts/setup.sh and test.sh). Never downloads a Playwright browser: tests use /usr/bin/chromium.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -E"
  else
    echo "browser-deps.sh: need root (or sudo) to install chromium" >&2
    exit 1
  fi
fi

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
# A font with Latin glyphs, so screenshots show text rather than boxes.
dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "install ok installed" \
  || need+=(fonts-dejavu-core)

if [ "${#need[@]}" -eq 0 ]; then
  echo "browser-deps: chromium and fonts already installed: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
  exit 0
fi

echo "browser-deps: installing ${need[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${need[@]}"
echo "browser-deps: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium missing after install')"
