"""Execution module: argv building, the cmd.run_all call, result and failure mapping."""

import time

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from helpers import envelope


def head(node, bundle):
    return [node, bundle, "--json", "--unattended"]


# --- argv ------------------------------------------------------------------------------


def test_list_with_dest_and_qubes_runs_the_bundle_with_an_argv_list(mod, run_all, node, bundle):
    run_all.reply(envelope("list", {"sessions": []}))
    doc = mod.list_(qubes=["work", "personal"], dest="file:/mnt/b")
    cmd, kwargs = run_all.calls[0]
    assert cmd == head(node, bundle) + ["--dest=file:/mnt/b", "list", "--", "work", "personal"]
    assert kwargs["python_shell"] is False
    assert kwargs["env"] == {"WYNG_QUBES_STATE_DIR": "/var/lib/wq-state-test", "WYNG_QUBES_RUN_SOURCE": "salt"}
    assert kwargs["ignore_retcode"] is True
    assert doc == envelope("list", {"sessions": []})


def test_profile_and_comma_separated_qubes_as_the_salt_cli_passes_them(mod, run_all, node, bundle):
    run_all.reply(envelope("verify", {"session": "20250101-010101", "qubes": []}))
    mod.verify(qubes="work, personal", profile="nightly", session="20250101-010101")
    cmd, _ = run_all.calls[0]
    assert cmd == head(node, bundle) + [
        "--profile=nightly",
        "--session=20250101-010101",
        "verify",
        "--",
        "work",
        "personal",
    ]


def test_no_qubes_means_no_separator(mod, run_all, node, bundle):
    run_all.reply(envelope("backup", {"session": "20250101-010101", "qubes": []}))
    mod.backup(profile="nightly")
    assert run_all.calls[0][0] == head(node, bundle) + ["--profile=nightly", "backup"]


def test_backup_options_map_to_the_cli_spelling(mod, run_all, node, bundle):
    run_all.reply(envelope("backup", {"session": "S", "qubes": []}))
    mod.backup(
        qubes=["work"],
        dest="file:/b",
        includes=True,
        dedup=False,
        exclude=["sys-net", "sys-usb"],
        check_after_send=True,
        autoprune=False,  # YAML's `autoprune: off`
        wyngopt=["tag=salt", "debug"],
        authmin=5,
        remap=True,
        no_auto_rename=True,
    )
    cmd = run_all.calls[0][0]
    assert cmd == head(node, bundle) + [
        "--authmin=5",
        "--autoprune=off",
        "--check-after-send",
        "--dest=file:/b",
        "--exclude=sys-net",
        "--exclude=sys-usb",
        "--includes",
        "--no-auto-rename",
        "--remap",
        "--wyngopt=tag=salt",
        "--wyngopt=debug",
        "backup",
        "--",
        "work",
    ]


def test_plan_is_restore_dry_run_and_restore_options_pass_through(mod, run_all, node, bundle):
    run_all.reply(envelope("restore", {"session": "S", "plan": {"qubes": [], "order": []}}))
    mod.plan(
        qubes=["work"],
        profile="laptop",
        include_disposable=True,
        pool="vm-pool",
        pref=["netvm::x"],
        ignore_missing=True,
        no_qubes_post=True,
    )
    cmd = run_all.calls[0][0]
    assert cmd == head(node, bundle) + [
        "--ignore-missing",
        "--include-disposable=on",
        "--no-qubes-post",
        "--pool=vm-pool",
        "--pref=netvm::x",
        "--profile=laptop",
        "--dry-run",
        "restore",
        "--",
        "work",
    ]


def test_restore_has_no_dry_run(mod, run_all, node, bundle):
    run_all.reply(envelope("restore", {"session": "S", "qubes": []}))
    mod.restore(qubes=["work"], dest="file:/b", session="20250101-010101")
    assert run_all.calls[0][0] == head(node, bundle) + [
        "--dest=file:/b",
        "--session=20250101-010101",
        "restore",
        "--",
        "work",
    ]


def test_prune_options(mod, run_all, node, bundle):
    run_all.reply(envelope("prune", {"session": "S", "volumes": [], "removed": {}}))
    mod.prune(dest="file:/b", session="20250101-010101", all_before=True)
    assert run_all.calls[0][0] == head(node, bundle) + [
        "--all-before",
        "--dest=file:/b",
        "--session=20250101-010101",
        "prune",
    ]


def test_salt_pub_kwargs_are_ignored(mod, run_all, node, bundle):
    run_all.reply(envelope("list", {}))
    mod.list_(dest="file:/b", __pub_fun="wyng_qubes.list", __pub_jid="1")
    assert run_all.calls[0][0] == head(node, bundle) + ["--dest=file:/b", "list"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.list_(dest="file:/b", dedup=True), "unknown option 'dedup'"),
        (lambda m: m.backup(dest="file:/b", session="20250101-010101"), "unknown option 'session'"),
        (lambda m: m.restore(dest="file:/b", bogus=1), "unknown option 'bogus'"),
        (lambda m: m.backup(dest="file:/b", includes="yes"), "includes: expected True or False"),
        (lambda m: m.backup(dest="file:/b", autoprune="sometimes"), "expected off, on or full"),
        (lambda m: m.list_(dest="file:/b", include_disposable="maybe"), "expected on/off"),
        (lambda m: m.list_(dest=""), "dest: expected a non-empty string"),
        (lambda m: m.list_(dest="file:/b", qubes=["work", 3]), "every item must be a string"),
        (lambda m: m.list_(dest="file:/b", authmin=True), "authmin: expected an integer"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(mod, run_all, call, message):
    with pytest.raises(SaltInvocationError, match=message):
        call(mod)
    assert run_all.calls == []


# --- configuration ---------------------------------------------------------------------


def test_virtual_is_the_module_name_when_bundle_and_node_exist(mod):
    assert mod.__virtual__() == "wyng_qubes"


def test_virtual_refuses_without_the_bundle(mod, config, tmp_path):
    config["wyng_qubes:bin"] = str(tmp_path / "missing.mjs")
    ok, reason = mod.__virtual__()
    assert ok is False
    assert "missing.mjs" in reason and "wyng_qubes:bin" in reason


def test_virtual_refuses_without_node(mod, config, monkeypatch):
    config["wyng_qubes:node"] = None
    looked_up = []
    monkeypatch.setattr(mod.salt.utils.path, "which", lambda name: looked_up.append(name))
    ok, reason = mod.__virtual__()
    assert ok is False
    assert "node" in reason
    assert looked_up == ["node"]


def test_virtual_names_a_configured_node_that_is_missing(mod, config, tmp_path):
    config["wyng_qubes:node"] = str(tmp_path / "no-node")
    ok, reason = mod.__virtual__()
    assert ok is False
    assert "no-node" in reason and "wyng_qubes:node" in reason


def test_node_from_path_when_not_configured(mod, config, run_all, monkeypatch, node, bundle):
    config["wyng_qubes:node"] = None
    monkeypatch.setattr(mod.salt.utils.path, "which", lambda name: node if name == "node" else None)
    run_all.reply(envelope("list", {}))
    mod.list_(dest="file:/b")
    assert run_all.calls[0][0][:2] == [node, bundle]


def test_default_bundle_path(mod, config):
    del config["wyng_qubes:bin"]
    seen = []
    mod.__salt__["config.get"] = lambda key, default=None: (seen.append((key, default)), config.get(key, default))[1]
    mod.__virtual__()
    assert ("wyng_qubes:bin", "/usr/bin/wyng-qubes") in seen


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PATH": "/tmp"}, "'PATH' is not a WYNG_QUBES_"),
        ({"WYNG_QUBES_TEST_CRASH_AT": "backup:before-send"}, "WYNG_QUBES_TEST_CRASH_AT is a test-only variable"),
        ({"WYNG_QUBES_STATE_DIR": "/s", "WYNG_QUBES_TEST_X": "1"}, "WYNG_QUBES_TEST_X is a test-only variable"),
        ({"WYNG_QUBES_STATE_DIR": ["a"]}, "WYNG_QUBES_STATE_DIR must be a string"),
        ({"WYNG_QUBES_PASSPHRASE": "hunter2"}, "WYNG_QUBES_PASSPHRASE is a secret, never configuration"),
        ({"WYNG_QUBES_RUN_SOURCE": "cli"}, "WYNG_QUBES_RUN_SOURCE is set by this module"),
        ("WYNG_QUBES_STATE_DIR=/x", "must be a mapping"),
    ],
)
def test_env_accepts_only_wyng_qubes_strings(mod, config, run_all, env, message):
    config["wyng_qubes:env"] = env
    with pytest.raises(CommandExecutionError, match=message):
        mod.list_(dest="file:/b")
    assert run_all.calls == []


def test_no_env_configured_passes_an_empty_env(mod, config, run_all):
    del config["wyng_qubes:env"]
    run_all.reply(envelope("list", {}))
    mod.list_(dest="file:/b")
    assert run_all.calls[0][1]["env"] == {"WYNG_QUBES_RUN_SOURCE": "salt"}


def test_restore_passes_reach_approvals_and_trust(mod, run_all):
    run_all.reply(envelope("restore", {"session": "S", "qubes": []}))
    mod.restore(qubes=["work"], dest="file:/b", allow_reach=["devices", "tags"], trust_unauthenticated=True)
    argv = run_all.calls[0][0]
    assert "--allow-reach=devices" in argv and "--allow-reach=tags" in argv
    assert "--trust-unauthenticated" in argv
    assert argv.index("--trust-unauthenticated") < argv.index("restore")


def test_timeout_reaches_cmd_run_all(mod, run_all):
    run_all.reply(envelope("backup", {"session": "S", "qubes": []}))
    mod.backup(profile="p", timeout=7200)
    assert run_all.calls[0][1]["timeout"] == 7200


# --- failures --------------------------------------------------------------------------


def test_a_failed_run_raises_with_the_tools_messages(mod, run_all):
    failed = envelope(
        "restore",
        {"session": "S", "qubes": [{"name": "work", "status": "failed"}]},
        exit_code=2,
        errors=[
            {"qube": "work", "kind": "qubes-failed", "message": "template fedora-41 is missing"},
            {"kind": "qubes-failed", "message": "Error for VMs: work"},
        ],
    )
    run_all.reply(failed, stderr="Error for VMs: work")
    with pytest.raises(CommandExecutionError) as info:
        mod.restore(qubes=["work"], profile="laptop")
    message = str(info.value)
    assert "wyng-qubes restore failed (exit 2)" in message
    assert "work: template fedora-41 is missing" in message
    assert "Error for VMs: work" in message
    assert info.value.document == failed


def test_output_that_is_not_a_document_raises_with_stderr(mod, run_all):
    run_all.reply(stdout="", retcode=127, stderr="node: not found\n")
    with pytest.raises(CommandExecutionError, match=r"printed no JSON document \(exit 127\): node: not found"):
        mod.list_(dest="file:/b")


def test_a_json_value_that_is_not_an_envelope_is_refused(mod, run_all):
    run_all.reply(stdout='{"hello": 1}', retcode=0)
    with pytest.raises(CommandExecutionError, match="printed no JSON document"):
        mod.list_(dest="file:/b")


def test_ok_document_with_nonzero_exit_is_a_failure(mod, run_all):
    doc = envelope("list", {})
    run_all.reply(doc, retcode=1)
    with pytest.raises(CommandExecutionError, match="failed"):
        mod.list_(dest="file:/b")


# --- status ----------------------------------------------------------------------------


def sid(seconds_ago):
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() - seconds_ago))


def test_session_age_reads_wyng_local_time(mod):
    now = time.mktime((2025, 3, 4, 12, 0, 0, 0, 0, -1))
    assert mod._session_age("20250304-110000", now) == 3600
    assert mod._session_age("20250303-120000", now) == 86400
    with pytest.raises(CommandExecutionError, match="not a Wyng session id"):
        mod._session_age("newest", now)


def test_status_reports_newest_session_and_ages(mod, run_all, node, bundle):
    old, new = sid(7200), sid(600)
    listing = {
        "archive": {"url": "file:/b"},
        "sessions": [
            {"id": old, "tags": {}, "qubes": ["personal", "work"]},
            {"id": new, "tags": {}, "qubes": ["work"]},
        ],
        "qubes": {"work": {"sessions": [old, new], "newest": new}, "personal": {"sessions": [old], "newest": old}},
    }
    run_all.reply(envelope("list", listing))
    doc = mod.status(qubes=["work", "personal", "vault"], dest="file:/b")
    assert run_all.calls[0][0] == head(node, bundle) + ["--dest=file:/b", "list", "--", "work", "personal", "vault"]
    result = doc["result"]
    assert doc["command"] == "status" and doc["ok"] is True
    assert result["newest"] == new
    assert 590 <= result["age_seconds"] <= 660
    assert result["qubes"]["work"]["newest"] == new
    assert 7190 <= result["qubes"]["personal"]["age_seconds"] <= 7260
    assert result["missing"] == ["vault"]
    assert result["archive"] == {"url": "file:/b"}


def test_status_of_an_archive_without_sessions_is_not_an_error(mod, run_all):
    errors = [{"kind": "no-sessions", "message": "No Qubes backup sessions."}]
    run_all.reply(envelope("list", None, exit_code=1, errors=errors))
    doc = mod.status(profile="nightly")
    assert doc["result"]["newest"] is None
    assert doc["result"]["age_seconds"] is None
    assert doc["result"]["qubes"] == {}


def test_status_raises_on_other_failures(mod, run_all):
    errors = [{"kind": "auth", "message": "Wyng authentication failed"}]
    run_all.reply(envelope("list", None, exit_code=3, errors=errors))
    with pytest.raises(CommandExecutionError, match="Wyng authentication failed"):
        mod.status(profile="nightly")


# --- remote mode (a minion in a management qube) -----------------------------------------


@pytest.fixture
def remote(config):
    config["wyng_qubes:mode"] = "remote"
    return config


def test_remote_mode_calls_wyng_qubes_remote_with_the_operation_and_profile(mod, remote, run_all, node, bundle):
    run_all.reply(envelope("remote", {"session": "20250101-010101", "qubes": []}))
    doc = mod.backup(profile="nightly", qubes="work,personal", exclude=["vault"])
    cmd, kwargs = run_all.calls[0]
    assert cmd == head(node, bundle) + [
        "--exclude=vault",
        "--profile=nightly",
        "remote",
        "Backup",
        "--",
        "work",
        "personal",
    ]
    assert kwargs["python_shell"] is False
    assert kwargs["env"] == {"WYNG_QUBES_STATE_DIR": "/var/lib/wq-state-test", "WYNG_QUBES_RUN_SOURCE": "salt"}
    # the same document as in local mode
    assert doc == envelope("backup", {"session": "20250101-010101", "qubes": []})


@pytest.mark.parametrize(
    "call, argv",
    [
        (
            lambda m: m.list_(profile="p", session="20250101-010101"),
            ["--profile=p", "--session=20250101-010101", "remote", "List"],
        ),
        (
            lambda m: m.plan(profile="p", qubes=["work"]),
            ["--profile=p", "--dry-run", "remote", "Restore", "--", "work"],
        ),
        (
            lambda m: m.restore(profile="p", qubes=["work"], include_disposable=True),
            ["--include-disposable=on", "--profile=p", "remote", "Restore", "--", "work"],
        ),
        (
            lambda m: m.verify(profile="p", session="20250101-010101"),
            ["--profile=p", "--session=20250101-010101", "remote", "Verify"],
        ),
        (
            lambda m: m.prune(profile="p", session="20250101-010101"),
            ["--profile=p", "--session=20250101-010101", "remote", "Prune"],
        ),
        (lambda m: m.status(profile="p", qubes=["work"]), ["--profile=p", "remote", "List", "--", "work"]),
    ],
)
def test_remote_mode_maps_every_function_to_its_operation(mod, remote, run_all, node, bundle, call, argv):
    run_all.reply(envelope("remote", {"qubes": {}, "plan": {"qubes": []}}))
    call(mod)
    assert run_all.calls[0][0] == head(node, bundle) + argv


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.backup(qubes=["work"]), "remote mode needs profile="),
        (lambda m: m.backup(profile="p", dest="file:/elsewhere"), "dest cannot be sent in remote mode"),
        (lambda m: m.restore(profile="p", pool="vm-pool", wyngopt=["x"]), "pool, wyngopt cannot be sent"),
        (lambda m: m.prune(profile="p", all=True), "all cannot be sent in remote mode"),
        (lambda m: m.backup(profile="p", nonsense=1), "unknown option 'nonsense'"),
    ],
)
def test_remote_mode_refuses_what_dom0s_profile_decides_before_running(mod, remote, run_all, call, message):
    with pytest.raises(SaltInvocationError, match=message):
        call(mod)
    assert run_all.calls == []


def test_remote_refusal_by_dom0_raises_with_its_document(mod, remote, run_all):
    message = "Profile 'p' does not allow remote Restore."
    run_all.reply(envelope("remote", None, exit_code=9, errors=[{"kind": "forbidden", "message": message}]))
    expected = r"restore \(remote wyng.Restore\+p\) failed \(exit 9\): .*allow"
    with pytest.raises(mod.WyngQubesError, match=expected) as exc:
        mod.restore(profile="p", qubes=["work"])
    assert exc.value.document["command"] == "restore"
    assert exc.value.document["errors"] == [{"kind": "forbidden", "message": message}]


def test_an_unknown_mode_is_refused(mod, config, run_all):
    config["wyng_qubes:mode"] = "cloud"
    with pytest.raises(CommandExecutionError, match="wyng_qubes:mode must be local or remote"):
        mod.list_(profile="p")
    assert run_all.calls == []


def test_restore_as_rename_conflicting_and_ignore_space_reach_the_cli(mod, run_all, node, bundle):
    run_all.reply(envelope("restore", {"session": "20250101-010101", "qubes": []}))
    mod.restore(qubes=["work"], profile="p", ignore_space=True, rename_conflicting=False, **{"as": "work-old"})
    cmd, _ = run_all.calls[0]
    assert cmd == head(node, bundle) + ["--as=work-old", "--ignore-space", "--profile=p", "restore", "--", "work"]


def test_remote_restore_may_send_as_but_not_ignore_space(mod, remote, run_all, node, bundle):
    run_all.reply(envelope("remote", {"qubes": []}))
    mod.restore(profile="p", qubes=["work"], **{"as": "work-old"})
    argv = ["--as=work-old", "--profile=p", "remote", "Restore", "--", "work"]
    assert run_all.calls[0][0] == head(node, bundle) + argv
    with pytest.raises(SaltInvocationError, match="ignore_space cannot be sent in remote mode"):
        mod.restore(profile="p", qubes=["work"], ignore_space=True)


def test_backup_dom0_home_reaches_the_cli(mod, run_all, node, bundle):
    run_all.reply(envelope("backup", {"session": "20250101-010101", "qubes": []}))
    mod.backup(qubes=["work"], dest="file:/b", dom0_home=True, dom0_user="alice")
    cmd, _ = run_all.calls[0]
    assert cmd == head(node, bundle) + ["--dest=file:/b", "--dom0-home", "--dom0-user=alice", "backup", "--", "work"]


def test_plan_keep_plan_and_restore_from_plan_reach_the_cli(mod, run_all, node, bundle):
    run_all.reply(envelope("restore", {"session": "20250101-010101", "planId": "0f" * 16, "plan": {"qubes": []}}))
    mod.plan(qubes=["work"], dest="file:/b", keep_plan=True)
    assert run_all.calls[0][0] == head(node, bundle) + ["--dest=file:/b", "--dry-run", "--keep-plan", "restore", "--", "work"]
    run_all.reply(envelope("restore", {"session": "20250101-010101", "qubes": []}))
    mod.restore(qubes=["work"], dest="file:/b", expect_plan="ab" * 32, from_plan="0f" * 16)
    argv = ["--dest=file:/b", f"--expect-plan={'ab' * 32}", f"--from-plan={'0f' * 16}", "restore", "--", "work"]
    assert run_all.calls[1][0] == head(node, bundle) + argv
    with pytest.raises(SaltInvocationError, match="keep_plan: expected True or False"):
        mod.plan(qubes=["work"], dest="file:/b", keep_plan="yes")


def test_remote_mode_keeps_no_plan_and_sends_no_from_plan(mod, remote, run_all, node, bundle):
    """dom0 keeps no plan for a management qube: keep_plan is ignored, from_plan refused before running."""
    run_all.reply(envelope("remote", {"plan": {"qubes": []}}))
    mod.plan(profile="p", qubes=["work"], keep_plan=True)
    assert run_all.calls[0][0] == head(node, bundle) + ["--profile=p", "--dry-run", "remote", "Restore", "--", "work"]
    with pytest.raises(SaltInvocationError, match="from_plan cannot be sent in remote mode"):
        mod.restore(profile="p", qubes=["work"], expect_plan="ab" * 32, from_plan="0f" * 16)
    assert len(run_all.calls) == 1
