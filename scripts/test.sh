#!/usr/bin/env bash
# The test command: set up, check the servers, then every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! bash scripts/services.sh; then
  if [ "${CI:-}" = "true" ]; then
    echo "CI=true: a database server is missing; failing the run" >&2
    exit 1
  fi
  echo "Tests that need the missing server will be skipped (see messages above)." >&2
fi
echo "== generated/ is up to date with specs/"
.venv/bin/flughafen-gen build specs/ --check
echo "== ruff (lint and format)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy --strict flughafen generator generated
echo "== pytest"
.venv/bin/python -m pytest "$@"
