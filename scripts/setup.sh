#!/usr/bin/env bash
# Creates .venv and installs flughafen-gen with its test tools. Installs again only when
# pyproject.toml changed since the last install (its hash is kept in .venv/.installed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# stunnel4 puts a real TLS endpoint in front of the embedded Valkey (whose
# binary has no TLS) for the TLS tests; install it where we may.
if ! command -v stunnel4 >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -q stunnel4 >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q stunnel4 >/dev/null 2>&1; } || echo "stunnel4 could not be installed: the TLS tests will skip (or fail under CI=true)" >&2
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
wanted=$(.venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing flughafen-gen[dev] into .venv (pyproject.toml is new or changed)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$wanted" > "$stamp"
fi
