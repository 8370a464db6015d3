import stat

import pytest

from helpers import RunAll, load  # salt/tests/helpers.py (pytest.ini puts salt/tests on sys.path)


@pytest.fixture
def bundle(tmp_path):
    path = tmp_path / "wyng-qubes.mjs"
    path.write_text("#!/usr/bin/env node\n")
    return str(path)


@pytest.fixture
def node(tmp_path):
    path = tmp_path / "node"
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def config(bundle, node):
    """What config.get sees; tests change it in place."""
    return {
        "wyng_qubes:bin": bundle,
        "wyng_qubes:node": node,
        "wyng_qubes:env": {"WYNG_QUBES_STATE_DIR": "/var/lib/wq-state-test"},
    }


@pytest.fixture
def run_all():
    return RunAll()


@pytest.fixture
def mod(config, run_all):
    """The execution module with __salt__ patched: config.get and cmd.run_all."""
    module = load("_modules", "wyng_qubes")
    module.__salt__ = {
        "config.get": lambda key, default=None: config.get(key, default),
        "cmd.run_all": run_all,
    }
    module.__opts__ = {"test": False}
    return module


@pytest.fixture
def state_mod():
    module = load("_states", "wyng_qubes")
    module.__opts__ = {"test": False}
    module.__salt__ = {}
    return module
