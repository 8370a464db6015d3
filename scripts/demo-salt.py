#!/usr/bin/env python3
"""Calls the Salt execution module salt/_modules/wyng_qubes.py the way Salt's loader would:
module globals __salt__/__opts__/__pillar__ injected, `cmd.run_all` running the argv list.
Used by `npm run demo` so the demo needs only python3, not a Salt installation (the test
suite runs the same module under real `salt-call --local`).

usage: demo-salt.py BUNDLE FUNCTION [key=value ...]   (env: the WYNG_QUBES_* locations)
"""
import importlib.util
import json
import shutil
import os
import subprocess
import sys


def run_all(cmd, python_shell=False, env=None, timeout=None, **_ignored):
    assert isinstance(cmd, (list, tuple)) and not python_shell, "the module must pass an argv list"
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    return {"retcode": p.returncode, "stdout": p.stdout, "stderr": p.stderr, "pid": 0}


def provide_salt_api():
    """When Salt itself is not installed, the two Salt APIs the module imports."""
    try:
        import salt.exceptions  # noqa: F401
        import salt.utils.path  # noqa: F401
        return
    except ImportError:
        pass
    import shutil
    import types

    salt = types.ModuleType("salt")
    utils = types.ModuleType("salt.utils")
    path = types.ModuleType("salt.utils.path")
    path.which = shutil.which
    exceptions = types.ModuleType("salt.exceptions")

    class CommandExecutionError(Exception):
        pass

    class SaltInvocationError(Exception):
        pass

    exceptions.CommandExecutionError = CommandExecutionError
    exceptions.SaltInvocationError = SaltInvocationError
    salt.utils, utils.path, salt.exceptions = utils, path, exceptions
    sys.modules.update({"salt": salt, "salt.utils": utils, "salt.utils.path": path, "salt.exceptions": exceptions})


def main():
    provide_salt_api()
    bundle, function = sys.argv[1], sys.argv[2]
    kwargs = dict(a.split("=", 1) for a in sys.argv[3:])
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "salt", "_modules", "wyng_qubes.py")
    spec = importlib.util.spec_from_file_location("wyng_qubes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # the locations only: test-only WYNG_QUBES_TEST_* (e.g. the test runner's) are never configuration
    env = {k: v for k, v in os.environ.items() if k.startswith("WYNG_QUBES_") and not k.startswith("WYNG_QUBES_TEST_")}
    config = {
        "wyng_qubes:bin": bundle,
        "wyng_qubes:env": env,
        "wyng_qubes:node": os.environ.get("DEMO_NODE") or shutil.which("node"),
    }
    mod.__salt__ = {"cmd.run_all": run_all, "config.get": lambda key, default=None: config.get(key, default)}
    mod.__opts__ = {"test": False}
    mod.__pillar__ = {}
    virtual = mod.__virtual__()
    if virtual is not True and virtual != getattr(mod, "__virtualname__", None):
        print(json.dumps({"virtual": str(virtual)}))
        sys.exit(3)
    fn = getattr(mod, function if hasattr(mod, function) else function + "_")
    print(json.dumps(fn(**kwargs)))


if __name__ == "__main__":
    main()
