#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium and a font (tests/browser), and PostgreSQL (the team-log
# tests start their own throwaway server from its binaries: tests/postgres.py; no service is enabled).
# Idempotent; safe to run as root with no TTY. Python packages are not installed here
# (scripts/setup.sh and test.sh). Never downloads a Playwright browser: tests use /usr/bin/chromium.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -E"
  else
    echo "test-deps.sh: need root (or sudo) to install chromium and postgresql" >&2
    exit 1
  fi
fi

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
# A font with Latin glyphs, so screenshots show text rather than boxes.
dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "install ok installed" \
  || need+=(fonts-dejavu-core)
# The server binaries (initdb, pg_ctl) under /usr/lib/postgresql/<n>/bin, and psql.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)

if [ "${#need[@]}" -eq 0 ]; then
  echo "test-deps: chromium, fonts and postgresql already installed: $(/usr/bin/chromium --version 2>/dev/null || echo '?'), $(psql --version)"
  exit 0
fi

echo "test-deps: installing ${need[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${need[@]}"
echo "test-deps: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium missing after install'), $(psql --version 2>/dev/null || echo 'psql missing after install')"
