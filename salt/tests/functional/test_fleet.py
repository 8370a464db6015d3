"""
A fleet through a Salt master (docs/fleet.md), with Salt's own engine: a salt-master and two
salt-minions (`mgmt-a`, `mgmt-b`) on 127.0.0.1 only, on free ports, each in its own
config/root dir. Each minion plays the management qube of its own machine: the module runs in
remote mode (`wyng_qubes:mode: remote`; mgmt-a from its minion config, mgmt-b from pillar), so
it calls `wyng-qubes remote`, whose qrexec-client-vm is a test double that hands the call to
the machine's dom0: the real service script (`wyng-qubes rpc`) against that machine's own
simulator (fake qubesd, fake Wyng archive, profiles.yaml), with dom0's environment only.

dom0 of mgmt-a allows Backup, List and Status for profile `nightly`; dom0 of mgmt-b also
Restore of `work`. From the master:
  - `salt '*' wyng_qubes.backup profile=nightly`: one result per minion, each a session in its
    own machine's archive; status and the backed_up state read it back, in remote mode;
  - `salt-run state.orchestrate`: `work` (removed on both machines) is restored on mgmt-b only,
    with its data; mgmt-a's dom0 refuses (its profile does not allow Restore) and the
    orchestration reports that step as failed.
Everything is started and stopped here (also on failure), with bounded waits.
"""

import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from archive import FAKE_WYNG, FAKE_WYNG_LOOSE
from helpers import REPO, SALT_DIR, clean_environ
from qubesd import FakeQubesd
from saltcall import BUNDLE

BIN = pathlib.Path(sys.executable).parent
NODE = shutil.which("node")
QREXEC_STUB = REPO / "test" / "fixtures" / "rpc" / "qrexec-client-vm-stub"
SERVICES = REPO / "rpc" / "services"
SEED = REPO / "test" / "fixtures" / "qubes-xml" / "lab-scenario.xml"
MINIONS = ("mgmt-a", "mgmt-b")
# What dom0 of each machine allows its management qube (profiles.yaml `remote`).
REMOTE = {
    "mgmt-a": {"operations": ["Backup", "List", "Status"], "callers": ["mgmt-a"]},
    "mgmt-b": {"operations": ["Backup", "Restore", "List", "Status"], "restore_qubes": ["work"], "callers": ["mgmt-b"]},
}
START_TIMEOUT = 240  # seconds for the master to come up and both minions to answer
CALL_TIMEOUT = 240  # seconds for one salt / salt-run command
SESSION = re.compile(r"^\d{8}-\d{6}$")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Machine:
    """One Qubes machine: dom0 (fake qubesd, archive, profiles.yaml) and its qrexec double."""

    def __init__(self, root, name):
        self.name = name
        self.root = root
        root.mkdir(parents=True)
        self.qubesd = FakeQubesd(root, seed=SEED, extra_args=("--volume-file-size", str(128 * 1024)))
        try:
            self._setup(root, name)
        except BaseException:
            self.qubesd.stop()
            raise

    def _setup(self, root, name):
        self.archive = root / "archive"
        self.state_dir = root / "dom0-state"
        config_dir = root / "dom0-etc"
        config_dir.mkdir(mode=0o700)
        profiles = {
            "profiles": {
                "nightly": {
                    "dest": f"file:{self.archive}",
                    "qubes": ["work", "personal"],
                    "remote": REMOTE[name],
                    # an unencrypted archive: remote restores trust it and apply every reach class (issue 14)
                    "restore": {"trust_unauthenticated": True, "allow_reach": ["all"]},
                }
            }
        }
        (config_dir / "profiles.yaml").write_text(yaml.safe_dump(profiles))
        (config_dir / "profiles.yaml").chmod(0o600)
        # qrexec services reset PATH to the system directories: the fake Wyng runs with this node
        wyng = root / "wyng"
        wyng.write_text(f'#!/bin/sh\nexec "{NODE}" "{FAKE_WYNG}" "$@"\n')
        wyng.chmod(0o755)
        self.wyng_log = root / "wyng-calls.jsonl"
        self.dom0_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "TZ": "UTC",
            "WYNG_QUBES_QUBESD_SOCKET": self.qubesd.socket,
            "WYNG_QUBES_QUBES_DIR": str(self.qubesd.qubes_dir),
            "WYNG_QUBES_CONFIG_DIR": str(config_dir),
            "WYNG_QUBES_STATE_DIR": str(self.state_dir),
            "WYNG_QUBES_WYNG": str(wyng),
            "WYNG_QUBES_RPC_SUDO": "0",
            "WYNG_QUBES_LOCK_TIMEOUT_MS": "20000",
            "WYNG_FAKE_LOCK": str(root / "wyng.lock"),
            "WYNG_FAKE_HOME": str(root / "wyng-home"),
            "WYNG_FAKE_LOG": str(self.wyng_log),
            "WYNG_QUBES_LOCK_DIR": str(root),
            # the machine's pool is a plain temp directory (test/fakes/README.md)
            **FAKE_WYNG_LOOSE,
        }
        # The management qube's qrexec-client-vm: dom0 runs the service with its own
        # environment (env -i), as the management qube's caller name.
        self.qrexec_client = root / "qrexec-client-vm"
        dom0 = {
            **self.dom0_env,
            "STUB_SERVICES_DIR": str(SERVICES),
            "STUB_NODE": NODE,
            "STUB_BUNDLE": str(BUNDLE),
            "STUB_CALLER": name,
            "STUB_DOM0_LOG": str(root / "dom0.log"),
        }
        assignments = " ".join(f"{k}={_sh(v)}" for k, v in sorted(dom0.items()))
        self.qrexec_client.write_text(
            f'#!/bin/sh\n# qrexec-client-vm of {name}: TARGET SERVICE+ARG, request on stdin\n'
            f'exec env -i {assignments} {_sh(str(QREXEC_STUB))} "$@"\n'
        )
        self.qrexec_client.chmod(0o755)
        self.dom0("-w", "encrypt=off", f"--dest=file:{self.archive}", "create")
        # each machine's `work` holds its own data
        self.work_private = self._volume("work", "private.img")
        self.work_private.write_bytes(f"{name}:work:".encode() * 1000 + os.urandom(64))
        self.work_data = self.work_private.read_bytes()

    def _volume(self, qube, volume):
        found = sorted(self.qubesd.pools.glob(f"**/appvms/{qube}/{volume}"))
        assert len(found) == 1, found
        return found[0]

    def dom0(self, *args):
        """The bundle in this machine's dom0 (local mode), one JSON document."""
        proc = subprocess.run(
            [NODE, str(BUNDLE), "--json", *args], env=self.dom0_env, capture_output=True, text=True, timeout=120
        )
        doc = json.loads(proc.stdout)
        assert doc["ok"], proc.stderr
        return doc

    def sessions(self):
        return [s["id"] for s in self.dom0(f"--dest=file:{self.archive}", "list")["result"]["sessions"]]

    def audit(self):
        path = self.state_dir / "audit.log"
        return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []

    def receives(self):
        if not self.wyng_log.exists():
            return []
        calls = [json.loads(line) for line in self.wyng_log.read_text().splitlines() if line]
        return [c for c in calls if "receive" in c.get("argv", [])]


def _sh(value):
    return "'" + str(value).replace("'", "'\\''") + "'"


class Fleet:
    """salt-master + one salt-minion per machine, loopback only, everything below `root`."""

    def __init__(self, root, machines):
        self.root = root
        self.machines = machines
        self.procs = []
        user = pwd.getpwuid(os.getuid()).pw_name
        publish_port, ret_port = free_port(), free_port()
        self.master_conf = root / "master-conf"
        files = root / "master-files"
        pillar = root / "master-pillar"
        for d in (self.master_conf, files / "fleet", files / "orch", pillar):
            d.mkdir(parents=True)
        (files / "_modules").symlink_to(SALT_DIR / "_modules")
        (files / "_states").symlink_to(SALT_DIR / "_states")
        (files / "fleet" / "restore-work.sls").write_text(
            yaml.safe_dump({"work": {"wyng_qubes.restored": [{"profile": "nightly"}]}})
        )
        (files / "fleet" / "nightly.sls").write_text(
            yaml.safe_dump({"nightly": {"wyng_qubes.backed_up": [{"max_age": "1h"}]}})
        )
        # restore `work` where it is missing: mgmt-b, then mgmt-a (whose dom0 does not allow it)
        (files / "orch" / "restore-work.sls").write_text(
            yaml.safe_dump(
                {
                    f"restore-work-on-{m}": {"salt.state": [{"tgt": m}, {"sls": ["fleet.restore-work"]}]}
                    for m in ("mgmt-b", "mgmt-a")
                },
                sort_keys=False,
            )
        )
        # mgmt-b takes its mode from pillar, mgmt-a from its minion config
        (pillar / "top.sls").write_text(yaml.safe_dump({"base": {"mgmt-b": ["wyng"]}}))
        (pillar / "wyng.sls").write_text(yaml.safe_dump({"wyng_qubes": {"mode": "remote"}}))
        master = {
            "id": "fleet-master",
            "interface": "127.0.0.1",
            "publish_port": publish_port,
            "ret_port": ret_port,
            "root_dir": str(root / "master-root"),
            "user": user,
            "auto_accept": True,
            "file_roots": {"base": [str(files)]},
            "pillar_roots": {"base": [str(pillar)]},
            "worker_threads": 2,
            "log_level_logfile": "info",
        }
        (self.master_conf / "master").write_text(yaml.safe_dump(master))
        self.env = {**clean_environ(), "TZ": "UTC"}
        self.minion_confs = []
        for name, machine in machines.items():
            conf = root / f"{name}-conf"
            conf.mkdir()
            mgmt_state = root / f"{name}-state"
            wyng_qubes = {
                "bin": str(BUNDLE),
                "node": NODE,
                "env": {
                    "WYNG_QUBES_QREXEC_CLIENT": str(machine.qrexec_client),
                    "WYNG_QUBES_STATE_DIR": str(mgmt_state),
                    "WYNG_QUBES_CONFIG_DIR": str(root / f"{name}-etc"),
                },
            }
            if name == "mgmt-a":
                wyng_qubes["mode"] = "remote"
            minion = {
                "id": name,
                "master": "127.0.0.1",
                "master_port": ret_port,
                "publish_port": publish_port,
                "root_dir": str(root / f"{name}-root"),
                "user": user,
                "enable_fqdns_grains": False,
                "acceptance_wait_time": 1,
                "acceptance_wait_time_max": 2,
                "random_reauth_delay": 0,
                "wyng_qubes": wyng_qubes,
                "log_level_logfile": "info",
            }
            (conf / "minion").write_text(yaml.safe_dump(minion))
            self.minion_confs.append((name, conf))

    def start(self):
        self._start("salt-master", self.master_conf, self.root / "master.out")
        for name, conf in self.minion_confs:
            self._start("salt-minion", conf, self.root / f"{name}.out")

    def _start(self, program, conf, out):
        with open(out, "w") as log:
            proc = subprocess.Popen(
                [str(BIN / program), "-c", str(conf), "-l", "warning"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it and its children
            )
        self.procs.append(proc)

    def salt(self, *args, runner=False, timeout=CALL_TIMEOUT, wait=None):
        """
        `salt` (or `salt-run`) on the master, JSON out: (exit status, parsed output, raw).
        `wait`: how long `salt` waits for the minions' returns (default: timeout - 30 s).
        """
        program = "salt-run" if runner else "salt"
        argv = [str(BIN / program), "-c", str(self.master_conf), "--out=json"]
        if not runner:
            argv += ["--static", "-t", str(wait or timeout - 30)]
        proc = subprocess.run(argv + list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        try:
            out = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            out = None
        return proc.returncode, out, proc.stdout + proc.stderr

    def wait_for_minions(self):
        deadline = time.monotonic() + START_TIMEOUT
        seen = {}
        while time.monotonic() < deadline:
            for p in self.procs:
                assert p.poll() is None, f"a salt daemon exited early:\n{self.logs()}"
            try:
                _, seen, _ = self.salt("*", "test.ping", timeout=60, wait=5)
            except subprocess.TimeoutExpired:
                seen = {}
            if isinstance(seen, dict) and all(seen.get(m) is True for m in MINIONS):
                return
            time.sleep(2)
        raise AssertionError(f"minions did not answer within {START_TIMEOUT}s (last: {seen})\n{self.logs()}")

    def logs(self):
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(self.root.glob("*.out")))

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # stragglers of the group (workers)
            except ProcessLookupError:
                pass
            if p.poll() is None:
                p.wait(timeout=10)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    assert NODE, "node is not on PATH"
    root = tmp_path_factory.mktemp("fleet")
    machines = {}
    fleet = None
    started = time.monotonic()
    try:
        for name in MINIONS:
            machines[name] = Machine(root / f"{name}-machine", name)
        print(f"fleet: two machines (fake qubesd, archive) in {time.monotonic() - started:.1f}s")
        fleet = Fleet(root, machines)
        fleet.start()
        fleet.wait_for_minions()
        code, synced, raw = fleet.salt("*", "saltutil.sync_all")
        assert code == 0 and all("modules.wyng_qubes" in synced[m]["modules"] for m in MINIONS), raw
        print(f"fleet: master and minions up, modules synced in {time.monotonic() - started:.1f}s")
        yield fleet
    finally:
        if fleet is not None:
            fleet.stop()
        for machine in machines.values():
            machine.qubesd.stop()
        print(f"fleet: {time.monotonic() - started:.1f}s in all")


def test_backup_from_the_master_returns_one_result_per_minion(fleet):
    code, out, raw = fleet.salt("*", "wyng_qubes.backup", "profile=nightly")
    assert code == 0, raw
    assert sorted(out) == list(MINIONS), raw
    for name, machine in fleet.machines.items():
        doc = out[name]
        assert isinstance(doc, dict) and doc["ok"] is True and doc["command"] == "backup", (doc, raw)
        session = doc["result"]["session"]
        assert SESSION.match(session), doc
        assert {q["name"]: q["status"] for q in doc["result"]["qubes"]} == {"work": "ok", "personal": "ok"}
        # the backup happened in this minion's own dom0, asked by this management qube
        assert machine.sessions() == [session], name
        audit = [a for a in machine.audit() if a.get("service") == "wyng.Backup"]
        assert [a.get("remoteDomain") for a in audit] == [name], audit

    # status (the module function) and backed_up (the state) read it back in remote mode
    code, status, raw = fleet.salt("*", "wyng_qubes.status", "profile=nightly")
    assert code == 0, raw
    for name in MINIONS:
        assert status[name]["command"] == "status"
        assert status[name]["result"]["newest"] == out[name]["result"]["session"], raw
        assert sorted(status[name]["result"]["qubes"]) == ["personal", "work"]
    code, states, raw = fleet.salt("*", "state.apply", "fleet.nightly")
    assert code == 0, raw
    for name in MINIONS:
        (state,) = states[name].values()
        assert state["result"] is True and state["changes"] == {}, state
        assert f"newest session {out[name]['result']['session']}" in state["comment"], state


def test_orchestration_restores_a_removed_qube_on_mgmt_b_only_and_reports_mgmt_a_refusing(fleet):
    a, b = fleet.machines["mgmt-a"], fleet.machines["mgmt-b"]
    for machine in (a, b):
        assert machine.sessions(), "the backup test ran first"
        machine.qubesd.remove("work")
        assert "work" not in machine.qubesd.qubes()

    code, out, raw = fleet.salt("state.orchestrate", "orch.restore-work", runner=True)
    assert code != 0, f"the orchestration reports the refused step\n{raw}"
    (steps,) = out["data"].values()
    by_step = {key.split("_|-")[1]: value for key, value in steps.items()}
    assert by_step["restore-work-on-mgmt-b"]["result"] is True, raw
    assert by_step["restore-work-on-mgmt-a"]["result"] is False, raw

    # mgmt-b: `work` created again from mgmt-b's archive, with mgmt-b's data
    (restored,) = by_step["restore-work-on-mgmt-b"]["changes"]["ret"]["mgmt-b"].values()
    assert restored["result"] is True and restored["changes"]["work"]["action"] == "create", restored
    assert b.qubesd.qubes().get("work") == "AppVM"
    assert b._volume("work", "private.img").read_bytes() == b.work_data
    assert b.receives(), "mgmt-b's dom0 received from its archive"

    # mgmt-a: its dom0 refused (profile without Restore); nothing received, `work` still gone
    (refused,) = by_step["restore-work-on-mgmt-a"]["changes"]["ret"]["mgmt-a"].values()
    assert refused["result"] is False
    assert "does not allow remote Restore" in refused["comment"], refused
    assert "wyng.Restore+nightly" in refused["comment"], refused
    assert "work" not in a.qubesd.qubes()
    assert a.receives() == []
    denied = [x for x in a.audit() if x.get("service") == "wyng.Restore"]
    assert denied and all(x.get("remoteDomain") == "mgmt-a" for x in denied), denied
