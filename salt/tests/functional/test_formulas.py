"""The example formulas under real Salt: rendering, requisite order, profiles.yaml from pillar."""

import json
import stat
import subprocess

import yaml

from helpers import clean_environ
from saltcall import BUNDLE, states


def rebuild_pillar(**extra):
    rebuild = {
        "profile": "laptop",
        "templates": ["fedora-41", "debian-12"],
        "net_qubes": ["sys-net"],
        "qubes": ["work", "personal"],
    }
    rebuild.update(extra)
    return {"wyng_qubes": {"rebuild": rebuild}}


def requires(high, state_id):
    for item in high[state_id]["wyng_qubes"]:
        if isinstance(item, dict) and "require" in item:
            return item["require"]
    return []


def args(high, state_id):
    out = {}
    for item in high[state_id]["wyng_qubes"]:
        if isinstance(item, dict) and "require" not in item and "order" not in item:
            out.update(item)
    return out


def test_rebuild_restores_templates_first_then_net_qubes_then_the_rest(minion):
    minion.pillar = rebuild_pillar()
    _, high, _ = minion.call("state.show_sls", "wyng-qubes.rebuild")
    ids = [i for i in high if i.startswith("wyng-qubes-restored-")]
    assert sorted(ids) == sorted(f"wyng-qubes-restored-{q}" for q in ["fedora-41", "debian-12", "sys-net", "work", "personal"])
    templates = [{"wyng_qubes": "wyng-qubes-restored-fedora-41"}, {"wyng_qubes": "wyng-qubes-restored-debian-12"}]
    assert requires(high, "wyng-qubes-restored-fedora-41") == []
    assert requires(high, "wyng-qubes-restored-debian-12") == []
    assert requires(high, "wyng-qubes-restored-sys-net") == templates
    for q in ("work", "personal"):
        assert requires(high, f"wyng-qubes-restored-{q}") == templates + [{"wyng_qubes": "wyng-qubes-restored-sys-net"}]
    assert args(high, "wyng-qubes-restored-work") == {"name": "work", "profile": "laptop", "only_if_missing": True}
    # Without profiles in pillar the formula leaves profiles.yaml alone.
    assert "wyng-qubes-profiles" not in high


def test_rebuild_with_dest_session_and_profiles(minion):
    minion.pillar = rebuild_pillar(profile=None, dest="file:/mnt/backup/laptop", session="20250301-020304", only_if_missing=False)
    minion.pillar["wyng_qubes"]["profiles"] = {"laptop": {"dest": "file:/mnt/backup/laptop"}}
    _, high, _ = minion.call("state.show_sls", "wyng-qubes.rebuild")
    assert args(high, "wyng-qubes-restored-fedora-41") == {
        "name": "fedora-41",
        "dest": "file:/mnt/backup/laptop",
        "session": "20250301-020304",
        "only_if_missing": False,
    }
    assert requires(high, "wyng-qubes-restored-fedora-41") == [{"file": "wyng-qubes-profiles"}]
    assert requires(high, "wyng-qubes-restored-work")[0] == {"file": "wyng-qubes-profiles"}


def test_nightly_renders_backed_up_with_max_age(minion):
    minion.pillar = {"wyng_qubes": {"nightly": {"profile": "laptop", "max_age": "12h"}}}
    _, high, _ = minion.call("state.show_sls", "wyng-qubes.nightly")
    assert high["wyng-qubes-backed-up-laptop"]["wyng_qubes"][:3] == [{"name": "laptop"}, {"max_age": "12h"}, "backed_up"]


def test_top_file_selects_the_three_formulas_for_dom0(minion):
    minion.pillar = {
        "wyng_qubes": {
            "rebuild": {"profile": "laptop", "templates": ["fedora-41"]},
            "nightly": {"profile": "laptop"},
        }
    }
    _, high, _ = minion.call("state.show_highstate")
    assert {"wyng-qubes-restored-fedora-41", "wyng-qubes-backed-up-laptop"} <= set(high)
    assert high["wyng-qubes-backed-up-laptop"]["wyng_qubes"][1] == {"max_age": "20h"}


def test_profiles_formula_installs_a_file_the_tool_accepts(minion, tmp_path):
    passfile = tmp_path / "laptop.pass"
    passfile.write_text("correct horse\n")
    passfile.chmod(0o600)
    profiles = {
        "laptop": {
            "dest": "file:/mnt/backup/laptop",
            "passphrase_file": str(passfile),
            "qubes": ["work", "personal"],
            "options": {"dedup": True, "autoprune": "off", "check_after_send": True},
            "remote": {"operations": ["List", "Status"]},
        }
    }
    minion.pillar = {"wyng_qubes": {"env": minion.env, "profiles": profiles}}
    code, ret, _ = minion.call("state.apply", "wyng-qubes.profiles")
    assert code == 0
    by_id = states(ret)
    assert by_id["wyng-qubes-profiles"]["result"] is True
    assert by_id["wyng-qubes-profiles"]["changes"]

    path = minion.sys / "etc" / "profiles.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert yaml.safe_load(path.read_text()) == {"profiles": profiles}

    check = subprocess.run(
        ["node", str(BUNDLE), "--json", "profiles", "check"],
        env={**clean_environ(), **minion.env},
        capture_output=True,
        text=True,
    )
    doc = json.loads(check.stdout)
    assert doc["ok"] is True, check.stderr
    assert doc["result"]["profiles"] == ["laptop"]

    # Second run: nothing to change.
    code, ret, _ = minion.call("state.apply", "wyng-qubes.profiles")
    assert all(r["result"] is True and r["changes"] == {} for r in ret.values())


def test_profiles_formula_without_pillar_profiles_keeps_the_file(minion):
    path = minion.sys / "etc" / "profiles.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("profiles: {mine: {dest: 'file:/mnt/b'}}\n")
    minion.pillar = {"wyng_qubes": {"env": minion.env, "nightly": {}}}
    code, ret, _ = minion.call("state.apply", "wyng-qubes.nightly", check=False)
    assert path.read_text() == "profiles: {mine: {dest: 'file:/mnt/b'}}\n"
