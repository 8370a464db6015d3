#!/usr/bin/env bash
# Creates .venv-salt/ with the pinned Salt 3007.x and pytest of salt/requirements-test.txt,
# for the Salt module tests (scripts/test-salt.sh). Idempotent: when the venv already holds
# exactly these pins (a stamp of the requirements file) it does nothing.
# Python: $PYTHON, else python3.11, else python3 (>= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-salt
REQ=salt/requirements-test.txt
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum "$REQ" | cut -d' ' -f1)

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && "$VENV/bin/python" -c 'import salt, pytest' 2>/dev/null; then
  exit 0
fi

pick_python() {
  local c
  for c in "${PYTHON:-}" python3.11 python3; do
    [[ -n "$c" ]] || continue
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if ! py=$(pick_python); then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    py=$(pick_python) || { echo "salt-venv: no usable Python >= 3.10 with venv" >&2; exit 1; }
  else
    echo "salt-venv: no Python >= 3.10 with venv found (set PYTHON=...)" >&2
    exit 1
  fi
fi

echo "salt-venv: creating $VENV with $("$py" --version 2>&1)" >&2
rm -rf "$VENV"
"$py" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQ"
"$VENV/bin/python" -c 'import salt.version, pytest; print("salt-venv: Salt", salt.version.__version__, "pytest", pytest.__version__)' >&2
echo "$want" >"$STAMP"
