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

# The sandbox's Python is Debian's own python3: it, its standard library and every library it links to live in
# /usr, which every jail sees read-only (docs/localbox.md). SANDBOX_PYTHON=/path/to/python3 picks another build.
SPY=${SANDBOX_PYTHON:-/usr/bin/python3}

# --- Debian packages -------------------------------------------------------------------------
# in_sandbox PROGRAM: whether a local sandbox finds PROGRAM. A jail sees only the host's /usr (and the /bin, /lib
# links into it), with /usr/local/bin:/usr/bin:/bin on its PATH, so a node from nvm or /opt does not count.
in_sandbox() {
  local dir
  for dir in /usr/local/bin /usr/bin /bin; do
    if [ -x "$dir/$1" ]; then
      case "$(readlink -f "$dir/$1")" in /usr/*|/bin/*) return 0;; esac
    fi
  done
  return 1
}
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
# what a local sandbox offers besides Python, as E2B's code-interpreter template does
in_sandbox node || need+=(nodejs)
in_sandbox npm || need+=(npm)
in_sandbox git || need+=(git)
if [ "$DEV" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ -z "$PY" ]; then
  need+=(python3 python3-venv)
elif ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if [ ! -x "$SPY" ]; then
  need+=(python3 python3-venv)
elif ! "$SPY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "setup: please install these system packages as root, then run this again: ${need[*]}"
    exit 1
  elif command -v apt-get >/dev/null 2>&1; then
    mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
    echo "setup: installing Debian packages: ${need[*]} (apt shows its progress below)"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need[@]}"
  else
    echo "setup: please install these system packages yourself: ${need[*]}"
  fi
fi

[ -n "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "setup: Python 3 is needed (apt-get install python3 python3-venv)"; exit 1; }

# --- Python environments -----------------------------------------------------------------------
stamp() { cat "$@" | sha256sum | cut -c1-16; }

make_venv() {  # dir python requirements...   (.installed lists the stamps of every requirement set installed)
  local dir=$1 py=$2; shift 2
  local base made
  base=$("$py" -c 'import os, sys; print(os.path.realpath(sys.executable))')
  made=$(sed -n 's/^executable *= *//p' "$dir/pyvenv.cfg" 2>/dev/null || true)
  if [ -n "$made" ] && [ "$made" != "$base" ]; then
    echo "setup: $dir was made from $made; making it again from $base"
    rm -rf "$dir"
  fi
  local want; want=$(stamp "$@")
  if [ -f "$dir/.installed" ] && grep -qx "$want" "$dir/.installed"; then return 0; fi
  [ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  local args=()
  for r in "$@"; do args+=(-r "$r"); done
  echo "setup: installing Python packages into $dir (pip shows its progress below)"
  "$dir/bin/python" -m pip install --disable-pip-version-check --progress-bar on "${args[@]}"
  echo "$want" >> "$dir/.installed"
}

if [ "$DEV" = 1 ]; then
  make_venv .venv "$PY" requirements.txt requirements-dev.txt
  app=$(stamp requirements.txt)  # the test setup covers the app's too: no reinstall for run.sh afterwards
  grep -qx "$app" .venv/.installed || echo "$app" >> .venv/.installed
else
  make_venv .venv "$PY" requirements.txt
fi
# The local sandbox's own Python (ipykernel + data stack), mounted read-only into every jail.
make_venv .venv-sandbox "$SPY" requirements-sandbox.txt
