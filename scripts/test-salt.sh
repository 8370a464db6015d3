#!/usr/bin/env bash
# Tests of the Salt modules (salt/): unit tests with __salt__ patched, and functional tests
# that run real Salt 3007 (salt-call --local; and a salt-master with two salt-minions on
# 127.0.0.1 for the fleet test, test_fleet.py) against the built bundle and the test fakes.
# Sets up .venv-salt/ first (scripts/salt-venv.sh); builds the bundle if it is missing.
# Extra arguments go to pytest (e.g. -k restored). Exit status: pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/salt-venv.sh
if [[ ! -f dist/wyng-qubes.mjs ]]; then
  npm run --silent build
fi
exec .venv-salt/bin/python -m pytest -c salt/tests/pytest.ini --rootdir=salt/tests salt/tests -p no:cacheprovider "$@"
