"""
The execution module and backed_up under real Salt, against the built bundle and the fake
Wyng: an archive made with `create`, sessions sent by the fake Wyng.
"""

import time

import pytest

from archive import FAKE_WYNG, FakeArchive
from saltcall import BUNDLE

QUBES = {"tpl": "TemplateVM", "work": "AppVM"}


@pytest.fixture
def archive(tmp_path, minion):
    a = FakeArchive(tmp_path / "wyng", BUNDLE)
    (tmp_path / "wyng").mkdir()
    a.create()
    minion.env["WYNG_QUBES_WYNG"] = str(FAKE_WYNG)
    minion.process_env.update(a.process_env)
    return a


def sid(epoch):
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(epoch))  # the tests run with TZ=UTC


def single(minion, fun, name, *args, test=False):
    call = ["state.single", fun, f"name={name}", *args]
    if test:
        call.append("test=True")
    code, ret, stderr = minion.call(*call, check=False)
    assert isinstance(ret, dict) and len(ret) == 1, stderr
    return code, next(iter(ret.values()))


def test_list_returns_the_sessions_after_a_backup(minion, archive):
    archive.send(QUBES)
    code, doc, _ = minion.call("wyng_qubes.list", f"dest={archive.dest}")
    assert code == 0
    assert doc["ok"] is True and doc["command"] == "list" and doc["errors"] == []
    sessions = doc["result"]["sessions"]
    assert len(sessions) == 1
    s1 = sessions[0]["id"]
    assert sessions[0]["qubes"] == ["tpl", "work"]
    work = doc["result"]["qubes"]["work"]
    # list carries Wyng's volume sizes: the qube's bytes in its newest session, and per session
    assert work == {"sessions": [s1], "newest": s1, "bytes": work["bytes"], "sessionBytes": {s1: work["bytes"]}}
    assert work["bytes"] > 0

    code, doc, _ = minion.call("wyng_qubes.list", "work", f"dest={archive.dest}")
    assert list(doc["result"]["qubes"]) == ["work"]

    code, doc, _ = minion.call("wyng_qubes.list", f"dest={archive.dest}", f"session={s1}")
    assert [q["name"] for q in doc["result"]["session"]["qubes"]] == ["tpl", "work"]


def test_status_verify_and_prune(minion, archive):
    now = time.time()
    archive.send(QUBES, now=now - 3 * 86400)
    archive.send(QUBES, now=now - 3600)
    old, new = sid(now - 3 * 86400), sid(now - 3600)

    code, doc, _ = minion.call("wyng_qubes.status", "qubes=work,tpl,ghost", f"dest={archive.dest}")
    result = doc["result"]
    assert doc["command"] == "status"
    assert result["newest"] == new
    assert 3590 <= result["age_seconds"] <= 3700
    assert result["qubes"]["tpl"] == result["qubes"]["work"] == {"newest": new, "age_seconds": result["age_seconds"]}
    assert result["missing"] == ["ghost"]

    code, doc, _ = minion.call("wyng_qubes.verify", "work", f"dest={archive.dest}")
    assert doc["result"]["session"] == new
    assert [(q["name"], q["status"]) for q in doc["result"]["qubes"]] == [("work", "ok")]

    code, doc, _ = minion.call("wyng_qubes.prune", "work", f"dest={archive.dest}", f"session={old}")
    assert doc["result"]["removed"] == {"appvms/work/private.img": 1}
    code, doc, _ = minion.call("wyng_qubes.list", "work", f"dest={archive.dest}")
    assert doc["result"]["qubes"]["work"]["sessions"] == [new]


def test_status_of_an_empty_archive(minion, archive):
    code, doc, _ = minion.call("wyng_qubes.status", f"dest={archive.dest}")
    assert doc["result"]["newest"] is None and doc["result"]["qubes"] == {}
    code, out, stderr = minion.call("wyng_qubes.list", f"dest={archive.dest}", check=False)
    assert code != 0
    assert "wyng-qubes list failed (exit 1): No Qubes backup sessions." in stderr


def test_backed_up_is_true_when_the_newest_session_is_fresh(minion, archive):
    archive.send(QUBES, now=time.time() - 600)
    code, ret = single(minion, "wyng_qubes.backed_up", "laptop", f"dest={archive.dest}", "max_age=1h")
    assert code == 0
    assert ret["result"] is True and ret["changes"] == {}
    assert "old (max_age 1h)" in ret["comment"]


def test_backed_up_under_test_says_it_would_back_up_and_changes_nothing(minion, archive):
    archive.send(QUBES, now=time.time() - 2 * 86400)
    before = archive.list_sessions()
    code, ret = single(minion, "wyng_qubes.backed_up", "laptop", f"dest={archive.dest}", "max_age=24h", test=True)
    assert ret["result"] is None
    assert ret["changes"] == {"laptop": {"old": before[-1], "new": "a new backup session"}}
    assert "would be backed up" in ret["comment"] and "2.0d old" in ret["comment"]
    assert archive.list_sessions() == before
