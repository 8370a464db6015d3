"""Test helpers: load salt/_modules and salt/_states the way Salt's loader does (one module
object per file, dunders injected as globals)."""

import importlib.util
import json
import os
import pathlib

SALT_DIR = pathlib.Path(__file__).resolve().parent.parent
REPO = SALT_DIR.parent


def load(kind, name):
    path = SALT_DIR / kind / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"wq_test_{kind.strip('_')}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RunAll:
    """A stand-in for ``cmd.run_all``: records each call, answers with queued replies."""

    def __init__(self):
        self.calls = []
        self.replies = []

    def reply(self, doc=None, retcode=None, stdout=None, stderr=""):
        if stdout is None:
            stdout = json.dumps(doc)
        if retcode is None:
            retcode = doc["exitCode"]
        self.replies.append({"retcode": retcode, "stdout": stdout, "stderr": stderr, "pid": 1})

    def __call__(self, cmd, **kwargs):
        self.calls.append((cmd, kwargs))
        if not self.replies:
            raise AssertionError(f"unexpected cmd.run_all call: {cmd}")
        return self.replies.pop(0)


def envelope(command, result=None, exit_code=0, errors=()):
    return {
        "ok": exit_code == 0,
        "exitCode": exit_code,
        "command": command,
        "result": result,
        "errors": list(errors),
    }


def clean_environ():
    """os.environ without WYNG_QUBES_* / WYNG_FAKE_* settings of whoever runs the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("WYNG_QUBES_", "WYNG_FAKE_"))}
