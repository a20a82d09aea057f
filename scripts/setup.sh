#!/usr/bin/env bash
# Idempotent setup: system packages (bubblewrap; chromium with --dev), the app's venv, the sandbox's venv.
# Usage: bash scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 is needed (apt-get install python3 python3-venv)"; exit 1; }

# --- Debian packages -------------------------------------------------------------------------
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if [ "$DEV" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
"$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install these system packages yourself: ${need[*]}"
  fi
fi

# --- Python environments -----------------------------------------------------------------------
stamp() { cat "$@" | sha256sum | cut -c1-16; }

make_venv() {  # dir requirements...   (.installed lists the stamps of every requirement set installed)
  local dir=$1; shift
  local want; want=$(stamp "$@")
  if [ -f "$dir/.installed" ] && grep -qx "$want" "$dir/.installed"; then return 0; fi
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  local args=()
  for r in "$@"; do args+=(-r "$r"); done
  echo "setup: installing Python packages into $dir (pip shows its progress below)"
  "$dir/bin/python" -m pip install --disable-pip-version-check --progress-bar on "${args[@]}"
  echo "$want" >> "$dir/.installed"
}

if [ "$DEV" = 1 ]; then
  make_venv .venv requirements.txt requirements-dev.txt
  app=$(stamp requirements.txt)  # the test setup covers the app's too: no reinstall for run.sh afterwards
  grep -qx "$app" .venv/.installed || echo "$app" >> .venv/.installed
else
  make_venv .venv requirements.txt
fi
# The local sandbox's own Python (ipykernel + data stack), mounted read-only into every jail.
make_venv .venv-sandbox requirements-sandbox.txt
