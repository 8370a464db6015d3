"""
Salt states for wyng-qubes: qubes restored from a Wyng backup, profiles backed up in time.

Both states reach the tool only through the ``wyng_qubes`` execution module (``__salt__``),
which runs the wyng-qubes bundle with ``--json``. They work the same in both of its modes: in
dom0 (local) and in a management qube (``wyng_qubes:mode: remote``, docs/fleet.md), where
dom0's profile decides the archive and the options, so the states name a ``profile`` (not a
``dest``) and pass no other options.

.. code-block:: yaml

    fedora-41:
      wyng_qubes.restored:
        - profile: laptop

    work:
      wyng_qubes.restored:
        - profile: laptop
        - require:
          - wyng_qubes: fedora-41

    nightly:
      wyng_qubes.backed_up:
        - max_age: 24h
"""

import re

from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "wyng_qubes"

_AGE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# Plan actions that create or rebuild the qube whatever its settings show.
_REBUILDS = ("create", "replace-class")


def __virtual__():
    if "wyng_qubes.plan" in __salt__:
        return __virtualname__
    return (False, "wyng_qubes: the wyng_qubes execution module is not available")


def _ret(name):
    return {"name": name, "result": False, "changes": {}, "comment": ""}


def _parse_age(value):
    """``24h``, ``90m``, ``2d``, ``1w``, ``3600s`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise SaltInvocationError(f"max_age: expected a duration such as 24h, got {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        match = _AGE.match(str(value))
        if not match:
            raise SaltInvocationError(
                f"max_age: expected a duration such as 24h, 90m, 2d or 1w, got {value!r}"
            )
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise SaltInvocationError(f"max_age must be positive, got {value!r}")
    return seconds


def _human(seconds):
    if seconds is None:
        return "unknown"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


def _select(profile, dest, kwargs):
    opts = {k: v for k, v in kwargs.items() if not k.startswith("__")}
    if profile is not None:
        opts["profile"] = profile
    if dest is not None:
        opts["dest"] = dest
    return opts


def _plan_entry(doc, name):
    for entry in ((doc.get("result") or {}).get("plan") or {}).get("qubes") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def _differs(entry):
    """
    A plan entry that would change the qube: created, rebuilt, any setting change, or a
    `backup-restore-in-progress` tag left by an earlier failed restore.
    """
    if entry.get("action") in _REBUILDS or entry.get("staleTag"):
        return True
    changes = entry.get("changes") or {}
    return any(bool(v) for v in changes.values())


def _problems(entry):
    """The plan's problems of one qube as one line (`error: …; warning: …`)."""
    out = []
    for p in entry.get("problems") or []:
        if isinstance(p, dict):
            out.append(f"{p.get('severity', 'problem')}: {p.get('message', '')}")
        else:
            out.append(str(p))
    return "; ".join(out)


def _would_change(entry, session):
    """What a restore of this plan entry changes, for the state's ``changes``."""
    out = {"action": entry.get("action"), "session": session}
    if entry.get("volumes"):
        out["volumes"] = entry["volumes"]
    for key, value in sorted((entry.get("changes") or {}).items()):
        if value:
            out[key] = value
    if entry.get("problems"):
        out["problems"] = entry["problems"]
    return out


# The options of ``wyng_qubes.plan`` a ``restored`` state may carry; states with the same
# values share one plan (see _shared_plan).
_PLAN_OPTIONS = (
    "profile",
    "dest",
    "session",
    "authmin",
    "wyng",
    "meta_dir",
    "wyngopt",
    "exclude",
    "pref",
    "pool",
    "include_disposable",
    "no_snapshot_restore",
    "no_qubes_post",
    "force_incomplete",
    "ignore_missing",
    "allow_reach",
    "trust_unauthenticated",
    "allow_rollback",
)
_CONTEXT_KEY = "wyng_qubes.restored.plans"


def _plan_key(opts):
    """A hashable key of plan options (values are strings, numbers, booleans or lists)."""
    return repr(sorted((k, repr(v)) for k, v in opts.items() if v is not None))


def _batch_names(opts):
    """
    The names of every ``wyng_qubes.restored`` state of this run (``__lowstate__``) whose plan
    options equal ``opts``, in run order; empty when Salt gives no low state (e.g. a call
    outside a state run).
    """
    chunks = globals().get("__lowstate__") or ()
    key = _plan_key(opts)
    names = []
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        if chunk.get("state") != __virtualname__ or chunk.get("fun") != "restored":
            continue
        name = chunk.get("name")
        if not isinstance(name, str) or name in names:
            continue
        theirs = {k: chunk[k] for k in _PLAN_OPTIONS if k in chunk}
        if _plan_key(theirs) == key:
            names.append(name)
    return names


def _keeping(opts):
    """
    The plan's options, keeping the plan (``keep_plan``) for the restore that may follow
    (``from_plan``): the restore then reads the listing and metadata this plan was made from.
    Under ``test=True`` nothing is restored, so nothing is kept.
    """
    return opts if __opts__.get("test") else {**opts, "keep_plan": True}


def _plan_one(name, opts):
    """(plan document or None, error message or None) of a plan of ``name`` alone."""
    try:
        return __salt__["wyng_qubes.plan"](qubes=[name], **_keeping(opts)), None
    except (CommandExecutionError, SaltInvocationError) as exc:
        # A plan whose qube would fail still comes back (exit 2, `result.plan`): it is judged
        # by the caller, so an existing qube left alone by only_if_missing is not a failure.
        return getattr(exc, "document", None), str(exc)


def _shared_plan(name, opts):
    """
    The plan document covering ``name`` and the error message of its run, shared by all
    ``restored`` states of one state run with the same options: the first of them plans
    every such qube at once (one archive listing and one metadata receive for the run) and
    keeps the document in ``__context__``; the others read their entry from it. A shared
    plan that came back without a plan (e.g. the qubes' newest sessions differ, or one of
    them is not in the archive) is not used: each state then plans its own qube; so does a
    state whose shared entry says it cannot be restored. A state that restores runs the
    tool's own restore of the kept plan (``keep_plan``/``from_plan``), which plans again from
    the same listing and metadata and re-reads everything it writes.
    """
    if any(k not in _PLAN_OPTIONS for k in opts):
        return _plan_one(name, opts)  # an unknown option: let the plan refuse it
    names = _batch_names(opts)
    if len(names) < 2 or name not in names:
        return _plan_one(name, opts)
    cache = __context__.setdefault(_CONTEXT_KEY, {})
    key = _plan_key(opts)
    if key not in cache:
        doc, error = None, None
        try:
            doc = __salt__["wyng_qubes.plan"](qubes=names, **_keeping(opts))
        except (CommandExecutionError, SaltInvocationError) as exc:
            doc, error = getattr(exc, "document", None), str(exc)
        usable = bool(((doc or {}).get("result") or {}).get("plan"))
        cache[key] = {"names": names, "doc": doc if usable else None, "error": error}
    shared = cache[key]
    entry = None if shared["doc"] is None else _plan_entry(shared["doc"], name)
    if entry is None or entry.get("fails"):
        # no shared entry, or one that says the qube cannot be restored: an earlier state of
        # this run may since have restored what it lacked (e.g. its template), so plan it anew
        return _plan_one(name, opts)
    # the shared run's error message names other qubes: only this qube's entry is judged
    return shared["doc"], None


def restored(
    name, profile=None, dest=None, session=None, only_if_missing=True, **kwargs
):
    """
    The qube ``name`` is restored from a Wyng backup (data and settings).

    name
        The qube.
    profile / dest
        A profile of profiles.yaml, or the archive URL.
    session
        The session to restore from; default the newest session holding the qube.
    only_if_missing
        True (default): restore only when the qube does not exist. False: also restore an
        existing qube when the plan shows any difference (settings, class).

    All ``restored`` states of one state run with the same options share one plan (one
    archive listing and at most one metadata receive per run — none when dom0 kept the
    session's metadata from its backup or an earlier receive —, kept in ``__context__``); a state with
    nothing to do starts no further Wyng process. A state that restores restores that plan:
    the plan is kept by the tool (``keep_plan``; in dom0's state dir for a day) and the restore
    reads the same listing and metadata from it (``from_plan``: the plan's ``planId``), so
    the metadata is received once per run; and it is bound to the plan (``expect_plan``: the
    qube's digest from the plan): if the kept metadata or the qube's live state changed in
    between, the tool refuses and the state fails, nothing written. Where no plan was kept (a
    management qube's remote mode, or a kept plan gone or expired) the restore lists and
    receives again, bound by the same digest.

    as
        Restore ``name`` alongside, as a new qube of this name (``wyng-qubes restore --as``):
        the live ``name`` is not touched; the state is about the copy (it exists = nothing to
        do under ``only_if_missing``).

    Further options go to ``wyng_qubes.plan``/``wyng_qubes.restore`` (``pool``, ``pref``,
    ``ignore_missing``, ``no_qubes_post``, ``wyng``, ``allow_reach``, ``trust_unauthenticated``, ...).
    Reach changes (devices, network, GUI, tags, dom0-facing features, class) are applied only
    from an authenticated archive or where ``allow_reach`` (or the profile) approves them;
    withheld ones fail the state with the approval that would apply them. Under ``test=True`` only the plan
    runs: ``result`` is None and ``changes`` shows what would change.
    """
    ret = _ret(name)
    opts = _select(profile, dest, kwargs)
    # `as`: the state is about the copy; an existing copy is the tool's "already exists" refusal
    target = opts.get("as") or name
    plan_doc, plan_error = _shared_plan(name, {**opts, "session": session})
    if not ((plan_doc or {}).get("result") or {}).get("plan"):
        if target != name and only_if_missing and f"'{target}' already exists" in str(plan_error):
            ret["result"] = True
            ret["comment"] = f"{target} exists; not restored (only_if_missing is set)"
            return ret
        ret["comment"] = f"Planning the restore of {name} failed: {plan_error}"
        return ret

    entry = _plan_entry(plan_doc, target)
    chosen = (plan_doc.get("result") or {}).get("session") or session
    if entry is None:
        ret["comment"] = plan_error or f"The restore plan of session {chosen} has no entry for {target}"
        return ret
    action = entry.get("action")

    problems = _problems(entry)
    if action == "skip":
        ret["result"] = True
        ret["comment"] = f"{name}: the plan skips it" + (f" ({problems})" if problems else "")
        return ret
    if only_if_missing and action != "create":
        ret["result"] = True
        ret["comment"] = f"{target} exists; not restored (only_if_missing is set)"
        return ret
    withheld = [w for w in entry.get("withheld") or [] if isinstance(w, dict)]
    if withheld and not _differs(entry) and action == "overwrite":
        # only reach changes nobody approved differ: not silent, and nothing to write
        classes = sorted({str(w.get("reach")) for w in withheld})
        ret["result"] = False
        ret["comment"] = (
            f"{name}: {len(withheld)} reach change(s) of session {chosen} withheld "
            f"({', '.join(str(w.get('kind')) + ' ' + str(w.get('key')) for w in withheld)}); "
            f"approve them with allow_reach: [{', '.join(classes)}] (state or profile restore.allow_reach)"
        )
        return ret
    if not _differs(entry):
        ret["result"] = True
        ret["comment"] = f"{target} already matches session {chosen}"
        return ret

    would = _would_change(entry, chosen)
    verb = "created" if action == "create" else "restored"
    if entry.get("fails"):
        ret["comment"] = f"{target} cannot be restored from session {chosen}: {problems}"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {target: would}
        ret["comment"] = f"{target} would be {verb} from session {chosen}"
        if problems:
            ret["comment"] += f"; {problems}"
        return ret

    # Bound to the plan judged above (issue 14): the tool refuses (exit 9, nothing written) when
    # the archived metadata or the live state differ from what was planned. The session stays as
    # the state gave it, so the tool's rollback check sees "newest" as such; the digest covers
    # the session the plan chose.
    digest = ((plan_doc.get("result") or {}).get("qubeDigests") or {}).get(name)
    bound = {"expect_plan": digest, "session": session} if digest else {"session": chosen}
    # the kept plan: the restore uses its listing and metadata (no second receive); only with the digest
    plan_id = (plan_doc.get("result") or {}).get("planId")
    if digest and isinstance(plan_id, str) and plan_id:
        bound["from_plan"] = plan_id
    try:
        doc = __salt__["wyng_qubes.restore"](qubes=[name], **bound, **opts)
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["comment"] = f"Restoring {name} from session {chosen} failed: {exc}"
        return ret

    outcome = None
    for q in (doc.get("result") or {}).get("qubes") or []:
        if isinstance(q, dict) and q.get("name") == target:
            outcome = q
    status = (outcome or {}).get("status")
    if status != "restored":
        ret["result"] = status == "skipped"
        reason = (outcome or {}).get("error") or f"status {status!r}"
        ret["comment"] = f"{target} was not restored from session {chosen}: {reason}"
        return ret
    would["status"] = status
    if "changes" in outcome:
        would["settings_changed"] = outcome["changes"]
    ret["result"] = True
    ret["changes"] = {target: would}
    ret["comment"] = f"{target} {verb} from session {chosen}"
    return ret


def backed_up(name, max_age="24h", profile=None, dest=None, qubes=None, **kwargs):
    """
    The profile ``name`` has a backup newer than ``max_age`` (``24h``, ``90m``, ``2d``,
    ``1w`` or seconds); otherwise back it up now.

    name
        The profile (profiles.yaml). With ``dest`` (and ``qubes``) given instead, ``name``
        is only the state's label and no profile is used unless ``profile`` is set.
    max_age
        How old the newest session of the profile's qubes may be.

    Further options go to ``wyng_qubes.backup`` (``includes``, ``exclude``, ``dedup``, ...).
    Under ``test=True`` it only says whether it would back up.
    """
    ret = _ret(name)
    try:
        limit = _parse_age(max_age)
    except SaltInvocationError as exc:
        ret["comment"] = str(exc)
        return ret
    if profile is None and dest is None:
        profile = name
    selection = _select(profile, dest, {})
    try:
        state = __salt__["wyng_qubes.status"](qubes=qubes, **selection)
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["comment"] = f"Reading the backups of {name} failed: {exc}"
        return ret

    result = state.get("result") or {}
    newest, age = result.get("newest"), result.get("age_seconds")
    if newest is not None and age is not None and age <= limit:
        ret["result"] = True
        ret["comment"] = f"{name}: newest session {newest} is {_human(age)} old (max_age {max_age})"
        return ret

    why = (
        "no backup session yet"
        if newest is None
        else f"newest session {newest} is {_human(age)} old (max_age {max_age})"
    )
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {name: {"old": newest, "new": "a new backup session"}}
        ret["comment"] = f"{name} would be backed up: {why}"
        return ret

    try:
        doc = __salt__["wyng_qubes.backup"](qubes=qubes, **_select(profile, dest, kwargs))
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["comment"] = f"Backing up {name} failed ({why}): {exc}"
        partial = (getattr(exc, "document", None) or {}).get("result")
        if isinstance(partial, dict) and partial.get("session"):
            ret["changes"] = {name: {"old": newest, "new": partial.get("session"), "qubes": partial.get("qubes")}}
        return ret
    backup_result = doc.get("result") or {}
    ret["result"] = True
    ret["changes"] = {
        name: {
            "old": newest,
            "new": backup_result.get("session"),
            "qubes": backup_result.get("qubes"),
        }
    }
    ret["comment"] = f"{name} backed up in session {backup_result.get('session')}: {why}"
    return ret
