"""Functional tests: real Salt over the built bundle and the fakes (see saltcall.py)."""

import pytest

from saltcall import BUNDLE, SALT_CALL, Minion


@pytest.fixture(scope="session", autouse=True)
def bundle_built():
    if not BUNDLE.is_file():
        raise AssertionError(f"{BUNDLE} is missing: run `npm run build` first")
    if not SALT_CALL.is_file():
        raise AssertionError(f"{SALT_CALL} is missing: run the tests with scripts/test-salt.sh")


@pytest.fixture(scope="session")
def synced(tmp_path_factory):
    """One saltutil.sync_all for the session; its extension-module dir is shared."""
    first = Minion(tmp_path_factory.mktemp("sync"))
    first.call("test.ping")
    return first


@pytest.fixture
def minion(tmp_path, synced):
    return Minion(tmp_path, extmods=synced.root / "root" / "var" / "cache" / "salt" / "minion" / "extmods")
