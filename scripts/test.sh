#!/usr/bin/env bash
# One command: set up (first time only), lint, and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest "$@"
