#!/usr/bin/env bash
# One command: set up (first time only) and run the chat page. Extra arguments go to app.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
