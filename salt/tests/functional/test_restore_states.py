"""
Backup, plan, restore and the states under real Salt, against the built bundle, the fake Wyng
and the fake qubesd (seeded with the recorded qubes.xml): the example formulas rebuild missing
qubes, a second run changes nothing, test=True changes nothing, a failing restore is
result False with the tool's error, backed_up backs up a stale profile.
"""

import json
import subprocess
import time

import pytest

from archive import FAKE_WYNG, FAKE_WYNG_LOOSE
from helpers import clean_environ
from qubesd import FakeQubesd
from saltcall import BUNDLE, states

BACKED_UP = ["fedora-41", "sys-net", "sys-firewall", "work", "personal"]


class System:
    """A fake dom0: qubesd + an archive with one backup of BACKED_UP made by the bundle."""

    def __init__(self, root, minion):
        self.qubesd = FakeQubesd(root)
        self.dest = f"file:{root / 'archive'}"
        minion.env.update(
            {
                "WYNG_QUBES_QUBESD_SOCKET": self.qubesd.socket,
                "WYNG_QUBES_QUBES_DIR": str(self.qubesd.qubes_dir),
                "WYNG_QUBES_WYNG": str(FAKE_WYNG),
            }
        )
        minion.process_env.update(
            {
                "TZ": "UTC",
                "WYNG_FAKE_LOCK": str(root / "wyng.lock"),
                "WYNG_FAKE_HOME": str(root / "wyng-home"),
                **FAKE_WYNG_LOOSE,
            }
        )
        self.minion = minion
        self.cli("-w", "encrypt=off", "create")

    def cli(self, *args, extra_env=None):
        env = {**clean_environ(), **self.minion.env, **self.minion.process_env, **(extra_env or {})}
        proc = subprocess.run(
            ["node", str(BUNDLE), "--json", f"--dest={self.dest}", *args], env=env, capture_output=True, text=True
        )
        doc = json.loads(proc.stdout)
        assert doc["ok"], proc.stderr
        return doc

    def backup(self, now=None):
        extra = {} if now is None else {"WYNG_FAKE_NOW": str(int(now))}
        return self.cli("backup", *BACKED_UP, extra_env=extra)["result"]["session"]


@pytest.fixture
def system(tmp_path, minion):
    s = System(tmp_path, minion)
    yield s
    s.qubesd.stop()


def rebuild_pillar(system, **extra):
    rebuild = {
        "dest": system.dest,
        "templates": ["fedora-41"],
        "net_qubes": ["sys-net", "sys-firewall"],
        "qubes": ["work", "personal"],
        # the test archive is unencrypted: the states trust it and approve every reach class (issue 14)
        "options": {"no_qubes_post": True, "trust_unauthenticated": True, "allow_reach": ["all"]},
    }
    rebuild.update(extra)
    return {"wyng_qubes": {"env": system.minion.env, "rebuild": rebuild}}


def test_backup_through_salt_then_list(minion, system):
    code, doc, _ = minion.call("wyng_qubes.backup", "qubes=work,fedora-41", f"dest={system.dest}")
    assert code == 0 and doc["ok"] is True
    session = doc["result"]["session"]
    assert [(q["name"], q["status"]) for q in doc["result"]["qubes"]] == [("fedora-41", "ok"), ("work", "ok")]
    code, doc, _ = minion.call("wyng_qubes.list", f"dest={system.dest}")
    assert doc["result"]["qubes"]["work"]["newest"] == session


def test_plan_returns_the_plan_and_changes_nothing(minion, system):
    session = system.backup()
    system.qubesd.remove("work")
    code, doc, _ = minion.call("wyng_qubes.plan", "work", f"dest={system.dest}")
    assert code == 0
    plan = doc["result"]["plan"]
    assert doc["result"]["session"] == session
    assert plan["order"] == ["work"]
    (entry,) = plan["qubes"]
    assert entry["name"] == "work" and entry["action"] == "create"
    assert {"name": "memory", "from": None, "to": "800"} in entry["changes"]["properties"]
    assert "work" not in system.qubesd.qubes()


def test_rebuild_formula_restores_missing_qubes_once(minion, system):
    system.backup()
    system.qubesd.remove("work")
    system.qubesd.remove("personal")
    minion.pillar = rebuild_pillar(system)

    # test=True: the plan only; nothing is created.
    code, ret, _ = minion.call("state.apply", "wyng-qubes.rebuild", "test=True")
    by_id = states(ret)
    for q in ("work", "personal"):
        r = by_id[f"wyng-qubes-restored-{q}"]
        assert r["result"] is None, r["comment"]
        assert r["changes"][q]["action"] == "create"
    for q in ("fedora-41", "sys-net", "sys-firewall"):
        r = by_id[f"wyng-qubes-restored-{q}"]
        assert r["result"] is True and r["changes"] == {}, r["comment"]
    assert not {"work", "personal"} & set(system.qubesd.qubes())

    # The real run restores both, after the template and net qubes.
    code, ret, _ = minion.call("state.apply", "wyng-qubes.rebuild")
    assert code == 0
    by_id = states(ret)
    for q in ("work", "personal"):
        r = by_id[f"wyng-qubes-restored-{q}"]
        assert r["result"] is True, r["comment"]
        assert r["changes"][q]["status"] == "restored"
        assert r["changes"][q]["action"] == "create"
        assert r["__run_num__"] > by_id["wyng-qubes-restored-sys-firewall"]["__run_num__"]
    live = system.qubesd.qubes()
    assert live["work"] == "AppVM" and live["personal"] == "AppVM"
    assert system.qubesd.get("work", "memory") == "800"

    # Second run: nothing to do.
    code, ret, _ = minion.call("state.apply", "wyng-qubes.rebuild")
    assert code == 0
    assert all(r["result"] is True and r["changes"] == {} for r in ret.values()), ret


def test_restored_with_only_if_missing_false_puts_settings_back(minion, system):
    session = system.backup()
    system.qubesd.set("work", "memory", 1234)
    args = [
        "state.single",
        "wyng_qubes.restored",
        "name=work",
        f"dest={system.dest}",
        "only_if_missing=False",
        "no_qubes_post=True",
        "trust_unauthenticated=True",
    ]

    code, ret, _ = minion.call(*args, "test=True")
    (r,) = ret.values()
    assert r["result"] is None
    assert r["changes"]["work"]["properties"] == [{"name": "memory", "from": "1234", "to": "800"}]
    assert system.qubesd.get("work", "memory") == "1234"

    code, ret, _ = minion.call(*args)
    (r,) = ret.values()
    assert r["result"] is True, r["comment"]
    assert r["changes"]["work"]["session"] == session
    assert system.qubesd.get("work", "memory") == "800"

    code, ret, _ = minion.call(*args)
    (r,) = ret.values()
    assert r["result"] is True and r["changes"] == {}
    assert r["comment"] == f"work already matches session {session}"


def test_reach_from_an_unauthenticated_archive_needs_trust_and_approval(minion, system):
    session = system.backup()
    # the live work lost its tag project-x (a reach change: qrexec policy matches tags) and its
    # memory (own); the unencrypted archive would put both back
    system.qubesd.call("admin.vm.tag.Remove", "work", "project-x")
    system.qubesd.set("work", "memory", 1234)
    base = ["state.single", "wyng_qubes.restored", "name=work", f"dest={system.dest}", "only_if_missing=False"]
    base.append("no_qubes_post=True")

    # not trusted: the Salt restore is refused as a whole
    code, ret, _ = minion.call(*base, check=False)
    (r,) = ret.values()
    assert r["result"] is False
    assert "not authenticated" in r["comment"] and "trust_unauthenticated" in r["comment"], r["comment"]
    assert system.qubesd.get("work", "memory") == "1234"

    # trusted, not approved: own changes restored, the tag withheld and named in a failing state
    code, ret, _ = minion.call(*base, "trust_unauthenticated=True", check=False)
    (r,) = ret.values()
    assert r["result"] is False
    assert "withheld" in r["comment"] and "allow-reach=tags" in r["comment"], r["comment"]
    assert system.qubesd.get("work", "memory") == "800"
    assert "project-x" not in system.qubesd.call("admin.vm.tag.List", "work")

    # only the withheld tag differs now: still not silent, and nothing is written
    code, ret, _ = minion.call(*base, "trust_unauthenticated=True", check=False)
    (r,) = ret.values()
    assert r["result"] is False and "allow_reach: [tags]" in r["comment"], r["comment"]

    # approved: applied
    code, ret, _ = minion.call(*base, "trust_unauthenticated=True", "allow_reach=tags")
    (r,) = ret.values()
    assert r["result"] is True, r["comment"]
    assert r["changes"]["work"]["session"] == session
    assert "project-x" in system.qubesd.call("admin.vm.tag.List", "work")


def test_a_failing_restore_is_result_false_with_the_tools_error(minion, system):
    system.backup()
    system.qubesd.remove("work")
    minion.process_env["WYNG_FAKE_FAIL"] = "receive-volume:appvms/work/private.img"
    code, ret, _ = minion.call(
        "state.single",
        "wyng_qubes.restored",
        "name=work",
        f"dest={system.dest}",
        "no_qubes_post=True",
        "trust_unauthenticated=True",
        "allow_reach=all",
        check=False,
    )
    assert code != 0
    (r,) = ret.values()
    assert r["result"] is False
    assert r["changes"] == {}
    assert "wyng-qubes restore failed (exit 2): work:" in r["comment"]


def test_nightly_formula_backs_up_a_stale_profile(minion, system):
    old = system.backup(now=time.time() - 2 * 86400)
    minion.pillar = {
        "wyng_qubes": {
            "env": minion.env,
            "profiles": {"lab": {"dest": system.dest, "qubes": ["work", "personal"]}},
            "nightly": {"profile": "lab", "max_age": "24h"},
        }
    }
    # profiles.yaml first: under test=True the nightly state reads the archive through the profile.
    minion.call("state.apply", "wyng-qubes.profiles")
    code, ret, _ = minion.call("state.apply", "wyng-qubes.nightly", "test=True")
    r = states(ret)["wyng-qubes-backed-up-lab"]
    assert r["result"] is None and r["changes"]["lab"]["old"] == old
    assert len(system.cli("list")["result"]["sessions"]) == 1

    code, ret, _ = minion.call("state.apply", "wyng-qubes.nightly")
    assert code == 0
    r = states(ret)["wyng-qubes-backed-up-lab"]
    assert r["result"] is True, r["comment"]
    new = r["changes"]["lab"]["new"]
    assert r["changes"]["lab"]["old"] == old and new > old
    assert [q["name"] for q in r["changes"]["lab"]["qubes"]] == ["personal", "work"]
    assert system.cli("list", "work")["result"]["qubes"]["work"]["newest"] == new

    code, ret, _ = minion.call("state.apply", "wyng-qubes.nightly")
    r = states(ret)["wyng-qubes-backed-up-lab"]
    assert r["result"] is True and r["changes"] == {}


# Every qube of the recorded system but dom0 and the disposable: nine `restored` states.
NINE = [
    "fedora-41",
    "fedora-41-dvm",
    "sys-net",
    "sys-firewall",
    "untrusted-standalone",
    "vault",
    "work",
    "work-clone",
    "personal",
]


def wyng_calls(log):
    """The fake Wyng's invocations (WYNG_FAKE_LOG: one JSON line each) as argv lists."""
    if not log.exists():
        return []
    return [json.loads(line)["argv"] for line in log.read_text().splitlines() if line.strip()]


def nine_restored_states(minion, system, name="nine"):
    """An sls with one wyng_qubes.restored state per qube of NINE (same options)."""
    states_sls = {
        f"restored-{q}": {
            "wyng_qubes.restored": [
                {"name": q},
                {"dest": system.dest},
                {"no_qubes_post": True},
                {"trust_unauthenticated": True},
                {"allow_reach": ["all"]},
            ]
        }
        for q in NINE
    }
    (minion.files / f"{name}.sls").write_text(json.dumps(states_sls))
    return name


def test_nine_restored_states_with_nothing_to_do_share_one_plan(minion, system, tmp_path):
    system.cli("backup", *NINE)
    sls = nine_restored_states(minion, system)
    log = tmp_path / "wyng-calls.jsonl"
    minion.process_env["WYNG_FAKE_LOG"] = str(log)

    code, ret, _ = minion.call("state.apply", sls)
    assert code == 0
    by_id = states(ret)
    assert sorted(by_id) == sorted(f"restored-{q}" for q in NINE)
    for r in by_id.values():
        assert r["result"] is True and r["changes"] == {}, r["comment"]
    calls = wyng_calls(log)
    # one plan for the run: Wyng's listing and one metadata receive, not one plan per state
    assert 1 <= len(calls) <= 3, calls


def private_volume(system, qube):
    found = sorted(system.qubesd.pools.glob(f"**/appvms/{qube}/private.img"))
    assert len(found) == 1, found
    return found[0]


def test_a_repair_apply_restores_exactly_the_missing_qubes(minion, system, tmp_path):
    data = {}
    for q in ("work", "vault"):
        data[q] = f"{q}:private:".encode() * 500 + bytes(range(256))
        private_volume(system, q).write_bytes(data[q])
    system.cli("backup", *NINE)
    system.qubesd.remove("work")
    system.qubesd.remove("vault")
    sls = nine_restored_states(minion, system)
    log = tmp_path / "wyng-calls.jsonl"
    minion.process_env["WYNG_FAKE_LOG"] = str(log)

    code, ret, _ = minion.call("state.apply", sls)
    assert code == 0, ret
    changed = {sid: r for sid, r in states(ret).items() if r["changes"]}
    assert sorted(changed) == ["restored-vault", "restored-work"], ret
    for q in ("work", "vault"):
        r = changed[f"restored-{q}"]
        assert r["result"] is True and r["changes"][q]["status"] == "restored", r["comment"]
    assert {"work", "vault"} <= set(system.qubesd.qubes())
    for q in ("work", "vault"):
        assert private_volume(system, q).read_bytes() == data[q], q
    calls = wyng_calls(log)
    # one shared plan, kept (one list for the whole apply; the metadata is dom0's copy of what the
    # backup sent, so no metadata receive); each restore of a missing qube restores that kept plan:
    # its data receive only (issue 14: no second metadata fetch; issue 17: none at all)
    lists = [argv for argv in calls if "list" in argv]
    metadata_receives = [argv for argv in calls if "receive" in argv and any(a.startswith("--save-to") for a in argv)]
    data_receives = [argv for argv in calls if argv[-1] == "receive" and argv not in metadata_receives]
    assert len(lists) == 1 and len(metadata_receives) == 0, calls
    assert len(data_receives) == 2 and len(calls) == 3, calls

    # and the next apply has nothing to do
    log.unlink()
    code, ret, _ = minion.call("state.apply", sls)
    assert code == 0 and all(r["result"] is True and r["changes"] == {} for r in ret.values()), ret
    assert len(wyng_calls(log)) <= 1


TAMPER = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"admin.vm.property.Set+memory dom0 name personal\\0" + sys.argv[2].encode())
s.shutdown(socket.SHUT_WR)
assert s.recv(2) == b"0\\0"
"""


def test_restored_is_bound_to_its_plan_a_change_in_between_is_refused(minion, system, tmp_path):
    """
    Two `restored` states share one plan; between the first restore and the second, something
    changes personal's live settings. The second restore is bound to the plan's digest of
    personal (expect_plan), so the tool refuses it: the state fails, personal keeps the value
    nobody planned against. A run without the change restores both.
    """
    session = system.backup()
    tamper = tmp_path / "tamper.py"
    tamper.write_text(TAMPER)

    def sls(name, change):
        opts = [{"dest": system.dest}, {"only_if_missing": False}, {"no_qubes_post": True}]
        opts += [{"trust_unauthenticated": True}, {"allow_reach": ["all"]}]  # unencrypted test archive
        doc = {"restored-work": {"wyng_qubes.restored": [{"name": "work"}, *opts]}}
        after = "restored-work"
        if change:
            doc["tamper"] = {
                "cmd.run": [
                    {"name": f"python3 {tamper} {system.qubesd.socket} 1111"},
                    {"require": [{"wyng_qubes": "restored-work"}]},
                ]
            }
            after = "tamper"
        kind = "cmd" if change else "wyng_qubes"
        doc["restored-personal"] = {
            "wyng_qubes.restored": [{"name": "personal"}, *opts, {"require": [{kind: after}]}]
        }
        (minion.files / f"{name}.sls").write_text(json.dumps(doc))
        return name

    planned = system.qubesd.get("personal", "memory")
    for q in ("work", "personal"):
        system.qubesd.set(q, "memory", 1234)
    code, ret, _ = minion.call("state.apply", sls("bound-tampered", True), check=False)
    by_id = states(ret)
    assert by_id["restored-work"]["result"] is True, by_id["restored-work"]["comment"]
    assert by_id["tamper"]["result"] is True, by_id["tamper"]
    r = by_id["restored-personal"]
    assert r["result"] is False and r["changes"] == {}, r
    assert "exit 9" in r["comment"] and "plan changed since it was approved" in r["comment"], r["comment"]
    assert system.qubesd.get("personal", "memory") == "1111"
    assert code != 0

    system.qubesd.set("work", "memory", 1234)
    code, ret, _ = minion.call("state.apply", sls("bound-clean", False))
    assert code == 0
    for sid, r in states(ret).items():
        assert r["result"] is True and r["changes"], (sid, r)
        assert r["changes"][sid.split("-", 1)[1]]["session"] == session
    assert system.qubesd.get("personal", "memory") == planned
