"""Real Salt loads the modules, refuses them without the bundle, and passes the tool's errors on."""

import shutil
import stat

from saltcall import BUNDLE


def test_sync_all_loads_the_execution_module_and_states(minion, synced):
    assert synced.sync_result["modules"] == ["modules.wyng_qubes"]
    assert synced.sync_result["states"] == ["states.wyng_qubes"]
    code, functions, _ = minion.call("sys.list_functions", "wyng_qubes")
    assert code == 0
    assert sorted(functions) == [
        "wyng_qubes.backup",
        "wyng_qubes.list",
        "wyng_qubes.plan",
        "wyng_qubes.prune",
        "wyng_qubes.restore",
        "wyng_qubes.status",
        "wyng_qubes.verify",
    ]
    code, state_functions, _ = minion.call("sys.list_state_functions", "wyng_qubes")
    assert sorted(state_functions) == ["wyng_qubes.backed_up", "wyng_qubes.restored"]


def test_without_the_bundle_the_module_is_not_loaded_and_says_why(minion, tmp_path):
    minion.config["bin"] = str(tmp_path / "nowhere" / "wyng-qubes")
    code, functions, _ = minion.call("sys.list_functions", "wyng_qubes")
    assert functions == []
    code, out, stderr = minion.call("wyng_qubes.list", "dest=file:/nonexistent/x", check=False)
    assert code != 0
    assert "nowhere/wyng-qubes" in (stderr + str(out)) and "does not exist" in (stderr + str(out))


def test_bundle_path_and_env_come_from_pillar(minion, tmp_path):
    # No minion config: config.get finds both keys in pillar.
    # an install elsewhere: the entry and its chunks/ folder beside it (docs/install.md)
    copy = tmp_path / "elsewhere" / "wq.mjs"
    copy.parent.mkdir()
    copy.write_bytes(BUNDLE.read_bytes())
    shutil.copytree(BUNDLE.parent / "chunks", copy.parent / "chunks")
    minion.config = {}
    etc = tmp_path / "pillar-etc"
    minion.pillar = {"wyng_qubes": {"bin": str(copy), "env": {**minion.env, "WYNG_QUBES_CONFIG_DIR": str(etc)}}}
    code, out, stderr = minion.call("wyng_qubes.list", "profile=laptop", check=False)
    assert code != 0
    # The tool ran (the bundle from pillar) and looked for profiles.yaml where pillar said.
    assert "wyng-qubes list failed (exit 9)" in stderr
    assert str(etc / "profiles.yaml") in stderr


def test_a_tool_failure_reaches_salt_with_the_tools_message(minion, tmp_path):
    code, out, stderr = minion.call(
        "wyng_qubes.list", f"dest=file:{tmp_path}/archive", f"wyng={tmp_path}/no-wyng", check=False
    )
    assert code != 0
    assert "Error running 'wyng_qubes.list': wyng-qubes list failed (exit 9)" in stderr
    assert f"{tmp_path}/no-wyng" in stderr


def test_an_option_the_command_does_not_take_is_refused_before_running(minion, tmp_path):
    marker = tmp_path / "ran"
    fake = tmp_path / "fake-bundle.mjs"
    fake.write_text(f"require('fs').writeFileSync({str(marker)!r}, 'x');\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    minion.config["bin"] = str(fake)
    code, out, stderr = minion.call("wyng_qubes.list", "dest=file:/b", "dedup=True", check=False)
    assert code != 0
    assert "unknown option 'dedup'" in stderr
    assert not marker.exists()
