"""State module: restored and backed_up over a patched __salt__ (the execution module's
functions), and once end to end over the real execution module with cmd.run_all patched."""

import json
import time

import pytest
from salt.exceptions import CommandExecutionError

from helpers import envelope, load

EXEC = load("_modules", "wyng_qubes")

SESSION = "20250301-020304"


class Calls:
    """Fake wyng_qubes.* functions: queued answers (a document or an exception), recorded calls."""

    def __init__(self):
        self.calls = []
        self.answers = {}

    def answer(self, fun, value):
        self.answers.setdefault(fun, []).append(value)

    def fun(self, name):
        def call(**kwargs):
            self.calls.append((name, kwargs))
            queue = self.answers.get(name) or []
            if not queue:
                raise AssertionError(f"unexpected call of wyng_qubes.{name}({kwargs})")
            value = queue.pop(0)
            if isinstance(value, Exception):
                raise value
            return value

        return call

    def names(self):
        return [c[0] for c in self.calls]


@pytest.fixture
def calls(state_mod):
    c = Calls()
    state_mod.__salt__ = {f"wyng_qubes.{n}": c.fun(n) for n in ("plan", "restore", "backup", "status")}
    return c


def plan_doc(entries, session=SESSION):
    return envelope("restore", {"session": session, "plan": {"qubes": entries, "order": [e["name"] for e in entries]}})


VOLUME = {"kind": "private", "archiveName": "appvms/work/private.img"}


def entry(name, action, changes=None, problems=(), volumes=(VOLUME,), fails=False, stale_tag=False):
    """A plan entry shaped as `restore --dry-run --json` gives it (src/core/restore/plan.ts)."""
    diff = {"label": None, "template": None, "properties": [], "features": [], "tags": [], "devices": [], "firewall": None, "notes": None}
    diff.update(changes or {})
    return {
        "name": name,
        "klass": "AppVM",
        "action": action,
        "volumes": list(volumes),
        "changes": diff,
        "problems": [{"severity": sev, "message": msg} for sev, msg in problems],
        "staleTag": stale_tag,
        "fails": fails,
    }


def planned_failure(doc):
    """The execution module's own exception for a document that is not ok."""
    with pytest.raises(CommandExecutionError) as info:
        EXEC._parse_document(doc["command"], doc["exitCode"], json.dumps(doc), "")
    return info.value


def restore_doc(name, status="restored", changes=3, session=SESSION):
    return envelope("restore", {"session": session, "qubes": [{"name": name, "status": status, "changes": changes}]})


# --- restored --------------------------------------------------------------------------


def test_virtual_needs_the_execution_module(state_mod, calls):
    assert state_mod.__virtual__() == "wyng_qubes"
    state_mod.__salt__ = {}
    ok, reason = state_mod.__virtual__()
    assert ok is False and "execution module" in reason


def test_missing_qube_is_restored_from_the_planned_session(state_mod, calls):
    calls.answer("plan", plan_doc([entry("work", "create", {"properties": [{"name": "label", "from": None, "to": "red"}]})]))
    calls.answer("restore", restore_doc("work"))
    ret = state_mod.restored("work", profile="laptop")
    assert ret["result"] is True
    assert calls.calls == [
        ("plan", {"qubes": ["work"], "session": None, "profile": "laptop", "keep_plan": True}),
        ("restore", {"qubes": ["work"], "session": SESSION, "profile": "laptop"}),
    ]
    assert ret["changes"] == {
        "work": {
            "action": "create",
            "session": SESSION,
            "volumes": [VOLUME],
            "properties": [{"name": "label", "from": None, "to": "red"}],
            "status": "restored",
            "settings_changed": 3,
        }
    }
    assert ret["comment"] == f"work created from session {SESSION}"


def test_the_restore_is_bound_to_the_planned_digest_of_its_qube(state_mod, calls):
    """With a digest in the plan, the restore carries it (expect_plan) and the session as given."""
    digest = "ab" * 32
    doc = plan_doc([entry("work", "create")])
    doc["result"]["qubeDigests"] = {"work": digest, "vault": "cd" * 32}
    calls.answer("plan", doc)
    calls.answer("restore", restore_doc("work"))
    ret = state_mod.restored("work", profile="laptop")
    assert ret["result"] is True, ret["comment"]
    assert calls.calls[1] == ("restore", {"qubes": ["work"], "expect_plan": digest, "session": None, "profile": "laptop"})


def test_the_restore_uses_the_kept_plan_with_its_digest(state_mod, calls):
    """A plan that names a kept plan (planId) and a digest: the restore reads it (from_plan)."""
    digest, plan_id = "ab" * 32, "0f" * 16
    doc = plan_doc([entry("work", "create")])
    doc["result"].update({"qubeDigests": {"work": digest}, "planId": plan_id})
    calls.answer("plan", doc)
    calls.answer("restore", restore_doc("work"))
    ret = state_mod.restored("work", profile="laptop")
    assert ret["result"] is True, ret["comment"]
    assert calls.calls[1] == (
        "restore",
        {"qubes": ["work"], "expect_plan": digest, "session": None, "from_plan": plan_id, "profile": "laptop"},
    )
    # a planId without a digest is not used: a kept plan is only ever read under its digest
    doc = plan_doc([entry("work", "create")])
    doc["result"]["planId"] = plan_id
    calls.answer("plan", doc)
    calls.answer("restore", restore_doc("work"))
    state_mod.restored("work", profile="laptop")
    assert "from_plan" not in calls.calls[3][1]


def test_test_mode_runs_the_plan_only(state_mod, calls):
    state_mod.__opts__["test"] = True
    calls.answer("plan", plan_doc([entry("work", "create", problems=[("warning", "netvm sys-vpn does not exist")])]))
    ret = state_mod.restored("work", dest="file:/b", session=SESSION)
    assert calls.names() == ["plan"]
    assert calls.calls[0][1] == {"qubes": ["work"], "session": SESSION, "dest": "file:/b"}
    assert ret["result"] is None
    assert ret["changes"] == {
        "work": {
            "action": "create",
            "session": SESSION,
            "volumes": [VOLUME],
            "problems": [{"severity": "warning", "message": "netvm sys-vpn does not exist"}],
        }
    }
    assert "would be created" in ret["comment"] and "warning: netvm sys-vpn does not exist" in ret["comment"]


def test_existing_qube_is_left_alone_when_only_if_missing(state_mod, calls):
    changes = {"properties": [{"name": "memory", "from": 400, "to": 800}]}
    calls.answer("plan", plan_doc([entry("work", "overwrite", changes)]))
    ret = state_mod.restored("work", profile="laptop")
    assert calls.names() == ["plan"]
    assert ret == {
        "name": "work",
        "result": True,
        "changes": {},
        "comment": "work exists; not restored (only_if_missing is set)",
    }


def test_existing_qube_with_differences_is_restored_without_only_if_missing(state_mod, calls):
    changes = {"properties": [{"name": "memory", "from": 400, "to": 800}], "tags": [], "features": []}
    calls.answer("plan", plan_doc([entry("work", "overwrite", changes)]))
    calls.answer("restore", restore_doc("work", changes=1))
    ret = state_mod.restored("work", profile="laptop", only_if_missing=False, pool="vm-pool")
    assert calls.names() == ["plan", "restore"]
    assert calls.calls[1][1] == {"qubes": ["work"], "session": SESSION, "profile": "laptop", "pool": "vm-pool"}
    assert ret["result"] is True
    assert ret["changes"]["work"]["properties"] == changes["properties"]
    assert "tags" not in ret["changes"]["work"]
    assert ret["comment"] == f"work restored from session {SESSION}"


def test_existing_qube_that_matches_is_not_restored(state_mod, calls):
    calls.answer("plan", plan_doc([entry("work", "overwrite")]))
    ret = state_mod.restored("work", profile="laptop", only_if_missing=False)
    assert calls.names() == ["plan"]
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == f"work already matches session {SESSION}"


def test_class_change_counts_as_a_difference(state_mod, calls):
    state_mod.__opts__["test"] = True
    calls.answer("plan", plan_doc([entry("work", "replace-class")]))
    ret = state_mod.restored("work", profile="laptop", only_if_missing=False)
    assert ret["result"] is None
    assert ret["changes"]["work"]["action"] == "replace-class"


def test_plan_skip_is_nothing_to_do(state_mod, calls):
    calls.answer("plan", plan_doc([entry("disp1", "skip", problems=[("warning", "disposable (use include_disposable)")])]))
    ret = state_mod.restored("disp1", profile="laptop")
    assert ret["result"] is True and ret["changes"] == {}
    assert "disposable" in ret["comment"]


def test_a_plan_that_fails_the_qube_is_result_false_even_under_test(state_mod, calls):
    state_mod.__opts__["test"] = True
    doc = plan_doc([entry("work", "create", problems=[("error", "template fedora-41 is neither live nor restored")], fails=True)])
    doc.update(ok=False, exitCode=2, errors=[{"qube": "work", "kind": "selection", "message": "template fedora-41 is neither live nor restored"}])
    calls.answer("plan", planned_failure(doc))
    ret = state_mod.restored("work", profile="laptop")
    assert calls.names() == ["plan"]
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == f"work cannot be restored from session {SESSION}: error: template fedora-41 is neither live nor restored"


def test_a_failing_plan_of_an_existing_qube_is_fine_when_only_if_missing(state_mod, calls):
    doc = plan_doc([entry("work", "overwrite", problems=[("error", "work is running")], fails=True)])
    doc.update(ok=False, exitCode=2)
    calls.answer("plan", planned_failure(doc))
    ret = state_mod.restored("work", profile="laptop")
    assert ret["result"] is True and ret["changes"] == {}
    assert "not restored (only_if_missing is set)" in ret["comment"]


def test_a_qube_not_in_the_session_gives_the_tools_message(state_mod, calls):
    doc = envelope(
        "restore",
        {"session": SESSION, "plan": {"qubes": [], "order": [], "notMatched": ["vault"]}},
        exit_code=2,
        errors=[{"qube": "vault", "kind": "selection", "message": f"Qube 'vault' is not in session {SESSION}."}],
    )
    calls.answer("plan", planned_failure(doc))
    ret = state_mod.restored("vault", profile="laptop")
    assert ret["result"] is False
    assert f"vault: Qube 'vault' is not in session {SESSION}." in ret["comment"]


def test_a_stale_in_progress_tag_is_a_difference(state_mod, calls):
    calls.answer("plan", plan_doc([entry("work", "overwrite", stale_tag=True)]))
    calls.answer("restore", restore_doc("work", changes=1))
    ret = state_mod.restored("work", profile="laptop", only_if_missing=False)
    assert calls.names() == ["plan", "restore"]
    assert ret["result"] is True


def test_planning_failure_is_result_false_with_the_tools_message(state_mod, calls):
    calls.answer("plan", CommandExecutionError("wyng-qubes restore failed (exit 9): No match for VM vault"))
    ret = state_mod.restored("vault", profile="laptop")
    assert ret["result"] is False and ret["changes"] == {}
    assert "No match for VM vault" in ret["comment"]


def test_restore_failure_is_result_false_with_the_tools_message(state_mod, calls):
    calls.answer("plan", plan_doc([entry("work", "create")]))
    calls.answer("restore", CommandExecutionError("wyng-qubes restore failed (exit 2): work: receive failed"))
    ret = state_mod.restored("work", profile="laptop")
    assert ret["result"] is False and ret["changes"] == {}
    assert "work: receive failed" in ret["comment"]


def test_plan_without_the_qube_is_a_failure(state_mod, calls):
    calls.answer("plan", plan_doc([entry("other", "create")]))
    ret = state_mod.restored("work", profile="laptop")
    assert ret["result"] is False
    assert "no entry for work" in ret["comment"]


def test_restore_that_reports_the_qube_failed_is_a_failure(state_mod, calls):
    calls.answer("plan", plan_doc([entry("work", "create")]))
    doc = restore_doc("work", status="failed")
    doc["result"]["qubes"][0]["error"] = "verify: label differs"
    calls.answer("restore", doc)
    ret = state_mod.restored("work", profile="laptop")
    assert ret["result"] is False
    assert "verify: label differs" in ret["comment"]


# --- backed_up -------------------------------------------------------------------------


def status_doc(newest, age):
    return envelope("status", {"archive": None, "qubes": {}, "missing": [], "newest": newest, "age_seconds": age})


@pytest.mark.parametrize(
    "value, seconds",
    [("24h", 86400), ("90m", 5400), ("2d", 172800), ("1w", 604800), ("45s", 45), ("3600", 3600), (600, 600)],
)
def test_max_age_units(state_mod, value, seconds):
    assert state_mod._parse_age(value) == seconds


@pytest.mark.parametrize("value", ["", "24 hours", "-1h", "0", True, "1y"])
def test_bad_max_age_is_result_false_before_anything_runs(state_mod, calls, value):
    ret = state_mod.backed_up("nightly", max_age=value)
    assert ret["result"] is False
    assert "max_age" in ret["comment"]
    assert calls.calls == []


def test_fresh_backup_is_nothing_to_do(state_mod, calls):
    calls.answer("status", status_doc(SESSION, 3600))
    ret = state_mod.backed_up("nightly", max_age="24h")
    assert calls.calls == [("status", {"qubes": None, "profile": "nightly"})]
    assert ret["result"] is True and ret["changes"] == {}
    assert f"newest session {SESSION} is 1.0h old" in ret["comment"]


def test_old_backup_is_refreshed(state_mod, calls):
    calls.answer("status", status_doc(SESSION, 90000))
    calls.answer("backup", envelope("backup", {"session": "20250302-020304", "qubes": [{"name": "work", "status": "ok"}]}))
    ret = state_mod.backed_up("nightly", max_age="24h", dedup=True)
    assert calls.calls[1] == ("backup", {"qubes": None, "profile": "nightly", "dedup": True})
    assert ret["result"] is True
    assert ret["changes"] == {
        "nightly": {"old": SESSION, "new": "20250302-020304", "qubes": [{"name": "work", "status": "ok"}]}
    }
    assert "backed up in session 20250302-020304" in ret["comment"]


def test_no_session_yet_means_back_up(state_mod, calls):
    calls.answer("status", status_doc(None, None))
    calls.answer("backup", envelope("backup", {"session": "20250302-020304", "qubes": []}))
    ret = state_mod.backed_up("nightly")
    assert ret["result"] is True
    assert "no backup session yet" in ret["comment"]


def test_test_mode_says_it_would_back_up(state_mod, calls):
    state_mod.__opts__["test"] = True
    calls.answer("status", status_doc(SESSION, 90000))
    ret = state_mod.backed_up("nightly", max_age="24h")
    assert calls.names() == ["status"]
    assert ret["result"] is None
    assert ret["changes"] == {"nightly": {"old": SESSION, "new": "a new backup session"}}
    assert "would be backed up" in ret["comment"]


def test_test_mode_fresh_is_true(state_mod, calls):
    state_mod.__opts__["test"] = True
    calls.answer("status", status_doc(SESSION, 60))
    ret = state_mod.backed_up("nightly", max_age="1h")
    assert ret["result"] is True and ret["changes"] == {}


def test_explicit_dest_uses_no_profile(state_mod, calls):
    calls.answer("status", status_doc(SESSION, 60))
    state_mod.backed_up("my-label", dest="file:/b", qubes=["work"])
    assert calls.calls == [("status", {"qubes": ["work"], "dest": "file:/b"})]


def test_backup_failure_is_result_false_with_the_tools_message(state_mod, calls):
    calls.answer("status", status_doc(None, None))
    calls.answer("backup", CommandExecutionError("wyng-qubes backup failed (exit 3): Wyng authentication failed"))
    ret = state_mod.backed_up("nightly")
    assert ret["result"] is False and ret["changes"] == {}
    assert "Wyng authentication failed" in ret["comment"]


def test_status_failure_is_result_false(state_mod, calls):
    calls.answer("status", CommandExecutionError("wyng-qubes list failed (exit 9): profile 'nightly' is not defined"))
    ret = state_mod.backed_up("nightly")
    assert ret["result"] is False
    assert "profile 'nightly' is not defined" in ret["comment"]


# --- state over the real execution module (only cmd.run_all patched) -------------------


@pytest.fixture
def wired(state_mod, mod):
    """The state's __salt__ holds the execution module's functions, as Salt's loader does."""
    state_mod.__salt__ = {
        "wyng_qubes.plan": mod.plan,
        "wyng_qubes.restore": mod.restore,
        "wyng_qubes.backup": mod.backup,
        "wyng_qubes.status": mod.status,
    }
    return state_mod


def test_partial_backup_failure_keeps_the_new_session_in_changes(wired, run_all):
    run_all.reply(envelope("list", None, exit_code=1, errors=[{"kind": "no-sessions", "message": "No Qubes backup sessions."}]))
    failed = envelope(
        "backup",
        {"session": "20250302-020304", "qubes": [{"name": "work", "status": "ok"}, {"name": "vault", "status": "failed"}]},
        exit_code=2,
        errors=[{"qube": "vault", "kind": "qubes-failed", "message": "volume vm-vault-private missing"}],
    )
    run_all.reply(failed)
    ret = wired.backed_up("nightly")
    assert ret["result"] is False
    assert "vault: volume vm-vault-private missing" in ret["comment"]
    assert ret["changes"]["nightly"]["new"] == "20250302-020304"
    assert [c[0][-1] for c in run_all.calls] == ["list", "backup"]


def test_restored_over_the_cli_documents(wired, run_all, node, bundle):
    run_all.reply(plan_doc([entry("work", "create")]))
    run_all.reply(restore_doc("work"))
    ret = wired.restored("work", dest="file:/b")
    assert [c[0] for c in run_all.calls] == [
        [node, bundle, "--json", "--unattended", "--dest=file:/b", "--dry-run", "--keep-plan", "restore", "--", "work"],
        [node, bundle, "--json", "--unattended", "--dest=file:/b", f"--session={SESSION}", "restore", "--", "work"],
    ]
    assert ret["result"] is True
    assert ret["changes"]["work"]["status"] == "restored"


def test_backed_up_over_the_cli_documents_with_a_real_age(wired, run_all):
    recent = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() - 1800))
    run_all.reply(envelope("list", {"archive": {}, "sessions": [], "qubes": {"work": {"sessions": [recent], "newest": recent}}}))
    ret = wired.backed_up("nightly", max_age="1h")
    assert ret["result"] is True and ret["changes"] == {}
    assert len(run_all.calls) == 1


def low(name, **opts):
    """A low chunk of a wyng_qubes.restored state as Salt's __lowstate__ holds it."""
    return {"state": "wyng_qubes", "fun": "restored", "name": name, "__id__": f"r-{name}", "order": 10000, **opts}


def test_restored_states_of_one_run_share_one_plan(state_mod, calls):
    dest = "file:/mnt/b"
    state_mod.__lowstate__ = [
        low("a", dest=dest),
        {"state": "file", "fun": "managed", "name": "/etc/x"},
        low("b", dest=dest, require=[{"file": "/etc/x"}]),
        low("c", dest=dest),
        low("other", dest="file:/mnt/elsewhere"),
    ]
    state_mod.__context__ = {}
    calls.answer("plan", plan_doc([entry(q, "skip" if q == "c" else "update") for q in ("a", "b", "c")]))
    calls.answer("plan", plan_doc([entry("other", "create")]))
    restored = {"session": SESSION, "qubes": [{"name": "other", "status": "restored"}]}
    calls.answer("restore", envelope("restore", restored))

    rets = [state_mod.restored(q, dest=dest) for q in ("a", "b", "c")]
    assert [r["result"] for r in rets] == [True, True, True]
    assert [r["changes"] for r in rets] == [{}, {}, {}]
    # one plan for a, b and c (same options); "other" has other options: its own plan
    assert calls.calls == [("plan", {"qubes": ["a", "b", "c"], "dest": dest, "session": None, "keep_plan": True})]
    r = state_mod.restored("other", dest="file:/mnt/elsewhere")
    assert r["result"] is True and r["changes"]["other"]["status"] == "restored"
    assert calls.calls[1:] == [
        ("plan", {"qubes": ["other"], "dest": "file:/mnt/elsewhere", "session": None, "keep_plan": True}),
        ("restore", {"qubes": ["other"], "session": SESSION, "dest": "file:/mnt/elsewhere"}),
    ]


def test_a_shared_plan_without_a_plan_falls_back_to_one_plan_per_state(state_mod, calls):
    state_mod.__lowstate__ = [low("a", dest="file:/b"), low("b", dest="file:/b")]
    state_mod.__context__ = {}
    ambiguous = EXEC.WyngQubesError("wyng-qubes restore failed (exit 1): the newest sessions differ", None)
    calls.answer("plan", ambiguous)
    calls.answer("plan", plan_doc([entry("a", "update")]))
    calls.answer("plan", plan_doc([entry("b", "update")]))

    assert all(state_mod.restored(q, dest="file:/b")["result"] is True for q in ("a", "b"))
    assert [c[1]["qubes"] for c in calls.calls] == [["a", "b"], ["a"], ["b"]]


def test_a_qube_failing_in_the_shared_plan_does_not_fail_the_others(state_mod, calls):
    state_mod.__lowstate__ = [low("a"), low("b")]
    state_mod.__context__ = {}
    doc = plan_doc([entry("a", "update"), entry("b", "create", problems=[("error", "no pool")], fails=True)])
    calls.answer("plan", EXEC.WyngQubesError("wyng-qubes restore failed (exit 2): b: no pool", doc))

    # b is planned again alone (an earlier state may have restored what it lacked): still failing
    calls.answer("plan", plan_doc([entry("b", "create", problems=[("error", "no pool")], fails=True)]))

    a, b = state_mod.restored("a"), state_mod.restored("b")
    assert a["result"] is True and a["changes"] == {}
    assert b["result"] is False and "b cannot be restored" in b["comment"] and "no pool" in b["comment"]
    assert [c[1]["qubes"] for c in calls.calls] == [["a", "b"], ["b"]]


def test_a_qube_failing_in_the_shared_plan_is_planned_again_and_restored_when_it_can_be(state_mod, calls):
    state_mod.__lowstate__ = [low("tpl"), low("app")]
    state_mod.__context__ = {}
    lacks = [("error", "template tpl does not exist")]
    calls.answer("plan", plan_doc([entry("tpl", "create"), entry("app", "create", problems=lacks, fails=True)]))
    calls.answer("restore", envelope("restore", {"session": SESSION, "qubes": [{"name": "tpl", "status": "restored"}]}))
    calls.answer("plan", plan_doc([entry("app", "create")]))
    calls.answer("restore", envelope("restore", {"session": SESSION, "qubes": [{"name": "app", "status": "restored"}]}))

    assert state_mod.restored("tpl")["result"] is True
    r = state_mod.restored("app")
    assert r["result"] is True and r["changes"]["app"]["status"] == "restored", r["comment"]
    assert calls.names() == ["plan", "restore", "plan", "restore"]


def test_restored_as_plans_and_restores_the_copy_under_its_new_name(state_mod, calls):
    calls.answer("plan", plan_doc([entry("work-old", "create")]))
    calls.answer("restore", restore_doc("work-old"))
    ret = state_mod.restored("work", profile="laptop", **{"as": "work-old"})
    assert ret["result"] is True, ret["comment"]
    assert calls.calls == [
        ("plan", {"qubes": ["work"], "session": None, "profile": "laptop", "as": "work-old", "keep_plan": True}),
        ("restore", {"qubes": ["work"], "session": SESSION, "profile": "laptop", "as": "work-old"}),
    ]
    assert list(ret["changes"]) == ["work-old"]
    assert ret["comment"] == f"work-old created from session {SESSION}"


def test_restored_as_with_an_existing_copy_is_nothing_to_do_when_only_if_missing(state_mod, calls):
    doc = envelope(
        "restore",
        None,
        exit_code=9,
        errors=[{"kind": "selection", "message": "--as: a qube named 'work-old' already exists."}],
    )
    calls.answer("plan", planned_failure(doc))
    ret = state_mod.restored("work", profile="laptop", **{"as": "work-old"})
    assert ret["result"] is True
    assert ret["comment"] == "work-old exists; not restored (only_if_missing is set)"
    assert calls.names() == ["plan"]
