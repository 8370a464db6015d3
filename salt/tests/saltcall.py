"""
Real Salt for the functional tests: salt-call --local (from .venv-salt) with a temp configuration.

A Minion has its own root in a temp dir: file roots hold `_modules` and `_states` (links to
salt/_modules and salt/_states) and salt/formulas; pillar roots a temp dir the test fills;
cache, pki, log and sockets live below the temp root, so nothing is written to /etc or /var.
The module runs the built bundle (dist/wyng-qubes.mjs) with every WYNG_QUBES_* location in
the temp dir.
"""

import json
import os
import pathlib
import pwd
import subprocess
import sys

import yaml

from helpers import REPO, SALT_DIR, clean_environ

BUNDLE = REPO / "dist" / "wyng-qubes.mjs"
SALT_CALL = pathlib.Path(sys.executable).parent / "salt-call"


class Minion:
    def __init__(self, root, extmods=None):
        self.root = root
        self.conf = root / "conf"
        self.pillar_dir = root / "pillar"
        self.files = root / "files"
        self.sys = root / "sys"  # WYNG_QUBES_* locations
        for d in (self.conf, self.pillar_dir, self.files, self.sys):
            d.mkdir(parents=True, exist_ok=True)
        (self.files / "_modules").symlink_to(SALT_DIR / "_modules")
        (self.files / "_states").symlink_to(SALT_DIR / "_states")
        self.env = {
            "WYNG_QUBES_CONFIG_DIR": str(self.sys / "etc"),
            "WYNG_QUBES_STATE_DIR": str(self.sys / "state"),
            "WYNG_QUBES_QUBES_DIR": str(self.sys / "qubes"),
            "WYNG_QUBES_LOCK_TIMEOUT_MS": "5000",
        }
        # Variables of the process environment that the fakes read (not WYNG_QUBES_*).
        self.process_env = {}
        self.config = {"bin": str(BUNDLE), "env": self.env}
        self.pillar = {}
        # Synced custom modules: shared by the tests of a session (one saltutil.sync_all).
        self.extmods = extmods
        self.synced = extmods is not None

    def write(self):
        minion = {
            "id": "dom0",
            "root_dir": str(self.root / "root"),
            "file_client": "local",
            "user": pwd.getpwuid(os.getuid()).pw_name,
            "file_roots": {"base": [str(self.files), str(SALT_DIR / "formulas")]},
            "pillar_roots": {"base": [str(self.pillar_dir)]},
            "wyng_qubes": self.config,
            "log_level_logfile": "debug",
            "state_output": "full",
            # No reverse-DNS lookups of the host's addresses (slow, and nothing here needs them).
            "enable_fqdns_grains": False,
        }
        own = self.root / "root" / "var" / "cache" / "salt" / "minion" / "extmods"
        if self.extmods is not None and not own.exists():
            # Salt puts root_dir in front of any extension_modules path: link the default one.
            own.parent.mkdir(parents=True, exist_ok=True)
            own.symlink_to(self.extmods)
        (self.conf / "minion").write_text(yaml.safe_dump(minion))
        (self.pillar_dir / "top.sls").write_text(yaml.safe_dump({"base": {"dom0": ["data"]}}))
        (self.pillar_dir / "data.sls").write_text(yaml.safe_dump(self.pillar))

    def call(self, *args, check=True):
        """salt-call --local ... --out=json; returns (exit status, parsed "local" value)."""
        self.write()
        if not self.synced:
            self.sync_result = json.loads(self._run("saltutil.sync_all").stdout)["local"]
            self.synced = True
        proc = self._run(*args, check=False)
        try:
            out = json.loads(proc.stdout)["local"] if proc.stdout.strip() else None
        except ValueError:
            out = None
        if check and (proc.returncode != 0 or out is None):
            raise AssertionError(
                f"salt-call {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
            )
        return proc.returncode, out, proc.stderr

    def _run(self, *args, check=True):
        env = clean_environ()
        env.update(self.process_env)
        env.setdefault("TZ", "UTC")
        proc = subprocess.run(
            [str(SALT_CALL), "--local", "-c", str(self.conf), "--out=json", "--retcode-passthrough", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"salt-call {' '.join(args)} exited {proc.returncode}: {proc.stderr[-3000:]}")
        return proc


def states(ret):
    """A state run's results keyed by state id (`mod_|-ID_|-NAME_|-fun` -> ID)."""
    return {key.split("_|-")[1]: value for key, value in ret.items()}
