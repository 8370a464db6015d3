"""
Salt execution module for wyng-qubes: back up and restore Qubes OS qubes with Wyng.

A thin wrapper: every function builds an argv list for the wyng-qubes bundle, runs it with
``--json`` through ``cmd.run_all`` (never a shell), and returns the one JSON document the
tool prints (``{ok, exitCode, command, result, errors}``, README "JSON output"). The tool
does all the work (selection, planning, Wyng, qubesd); nothing of it is re-implemented here.
A failed run raises ``CommandExecutionError`` carrying the tool's own error messages.

Configuration (minion config or pillar, read with ``config.get``):

.. code-block:: yaml

    wyng_qubes:
      bin: /usr/bin/wyng-qubes        # the bundle (default); run with node
      node: /usr/bin/node             # optional; default: node on PATH
      mode: local                     # local (dom0, default) or remote (a management qube)
      env:                            # optional system locations (WYNG_QUBES_* only)
        WYNG_QUBES_CONFIG_DIR: /etc/wyng-qubes

Remote mode (``mode: remote``) is for a minion in a management qube (docs/fleet.md): each
function calls ``wyng-qubes remote OPERATION --profile NAME`` instead, which asks dom0 over
qrexec (``qrexec-client-vm dom0 wyng.OPERATION+NAME``). dom0's profile decides the archive,
the options and what may be done; a call may only name the profile, the qubes, ``session``,
``exclude`` and ``include_disposable``. The functions and their return documents are the same
(``command`` names the command, as in local mode); ``status`` reads the remote ``List``.

CLI examples:

.. code-block:: bash

    salt-call --local wyng_qubes.list profile=nightly
    salt-call --local wyng_qubes.plan qubes=work,personal dest=file:/mnt/backup/laptop
    salt-call --local wyng_qubes.backup profile=nightly
"""

import json
import logging
import os
import re
import time

import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "wyng_qubes"
__func_alias__ = {"list_": "list"}

DEFAULT_BIN = "/usr/bin/wyng-qubes"

# Python keyword -> (kind, CLI option). Kinds: value (string), int, list (repeatable),
# flag (boolean switch), onoff (boolean as on/off), autoprune (off|on|full; YAML's
# off/on booleans accepted).
OPTIONS = {
    "profile": ("value", "--profile"),
    "dest": ("value", "--dest"),
    "session": ("value", "--session"),
    "authmin": ("int", "--authmin"),
    "wyng": ("value", "--wyng"),
    "meta_dir": ("value", "--meta-dir"),
    "wyngopt": ("list", "--wyngopt"),
    "exclude": ("list", "--exclude"),
    "pref": ("list", "--pref"),
    "pool": ("value", "--pool"),
    "autoprune": ("autoprune", "--autoprune"),
    "include_disposable": ("onoff", "--include-disposable"),
    "dedup": ("flag", "--dedup"),
    "includes": ("flag", "--includes"),
    "check_after_send": ("flag", "--check-after-send"),
    "remap": ("flag", "--remap"),
    "no_auto_rename": ("flag", "--no-auto-rename"),
    "no_snapshot_restore": ("flag", "--no-snapshot-restore"),
    "no_qubes_post": ("flag", "--no-qubes-post"),
    "force_incomplete": ("flag", "--force-incomplete"),
    "ignore_missing": ("flag", "--ignore-missing"),
    "allow_reach": ("list", "--allow-reach"),
    "trust_unauthenticated": ("flag", "--trust-unauthenticated"),
    "all_before": ("flag", "--all-before"),
    "all": ("flag", "--all"),
    "expect_plan": ("value", "--expect-plan"),
    "from_plan": ("value", "--from-plan"),
    "allow_rollback": ("flag", "--allow-rollback"),
    "as": ("value", "--as"),
    "rename_conflicting": ("flag", "--rename-conflicting"),
    "ignore_space": ("flag", "--ignore-space"),
    "dom0_home": ("flag", "--dom0-home"),
    "dom0_user": ("value", "--dom0-user"),
}

_COMMON = ("profile", "dest", "authmin", "wyng", "meta_dir", "wyngopt")
_RESTORE = _COMMON + (
    "session",
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
    "expect_plan",
    "from_plan",
    "as",
    "rename_conflicting",
    "ignore_space",
)

# The options each CLI command takes (README "Usage"); anything else is a typo in a
# state or a CLI call, refused before the tool runs.
ALLOWED = {
    "list": _COMMON + ("session", "all", "include_disposable"),
    "backup": _COMMON
    + (
        "dedup",
        "includes",
        "exclude",
        "check_after_send",
        "autoprune",
        "remap",
        "no_auto_rename",
        "ignore_space",
        "dom0_home",
        "dom0_user",
    ),
    "restore": _RESTORE,
    "verify": _COMMON + ("session",),
    "prune": _COMMON + ("session", "all_before", "all", "autoprune"),
}

# Remote mode: the operation of the qrexec service each command maps to, and the only
# options a management qube may send (dom0's profile decides everything else).
REMOTE_OPERATIONS = {"list": "List", "backup": "Backup", "restore": "Restore", "verify": "Verify", "prune": "Prune"}
REMOTE_ALLOWED = {
    "list": ("profile", "session", "include_disposable"),
    "backup": ("profile", "exclude"),
    "restore": ("profile", "session", "exclude", "include_disposable", "expect_plan", "as"),
    "verify": ("profile", "session"),
    "prune": ("profile", "session"),
}
MODES = ("local", "remote")

_ENV_KEY = re.compile(r"^WYNG_QUBES_[A-Z0-9_]+$")
# Test-only switches (e.g. the crash hook WYNG_QUBES_TEST_CRASH_AT) are never configuration.
_ENV_TEST_ONLY = re.compile(r"^WYNG_QUBES_TEST_")
# Secrets never travel through pillar/config env: a passphrase belongs in a profile's
# passphrase_file or passphrase_command (issue 14).
_ENV_SECRETS = ("WYNG_QUBES_PASSPHRASE",)
# Runs started by this module are Salt runs (restore refuses unauthenticated archives unless
# the state trusts them); the configuration cannot say otherwise.
_RUN_SOURCE = "WYNG_QUBES_RUN_SOURCE"
_SESSION_ID = re.compile(r"^\d{8}-\d{6}$")


class WyngQubesError(CommandExecutionError):
    """A failed wyng-qubes run; ``document`` is its JSON document when it printed one."""

    def __init__(self, message, document=None):
        super().__init__(message)
        self.document = document


def __virtual__():
    try:
        _locate()
    except CommandExecutionError as exc:
        return (False, f"wyng_qubes: {exc}")
    return __virtualname__


# ---------------------------------------------------------------------------------------
# configuration


def _config(key, default):
    return __salt__["config.get"](f"wyng_qubes:{key}", default)


def _locate():
    """The bundle and node; raises CommandExecutionError when either is missing."""
    bundle = _config("bin", DEFAULT_BIN) or DEFAULT_BIN
    if not isinstance(bundle, str) or not os.path.isfile(bundle):
        raise CommandExecutionError(
            f"the wyng-qubes bundle {bundle!r} does not exist (set wyng_qubes:bin)"
        )
    configured = _config("node", None)
    node = configured or salt.utils.path.which("node")
    if not node or not os.path.isfile(node):
        where = f"at {configured!r} (wyng_qubes:node)" if configured else "on PATH (set wyng_qubes:node)"
        raise CommandExecutionError(f"node (Node.js >= 18.19) was not found {where}")
    return bundle, node


def _mode():
    mode = _config("mode", "local") or "local"
    if mode not in MODES:
        raise CommandExecutionError(f"wyng_qubes:mode must be local or remote, got {mode!r}")
    return mode


def _env():
    """System locations for the tool (``wyng_qubes:env``): WYNG_QUBES_* strings only."""
    env = _config("env", None) or {}
    if not isinstance(env, dict):
        raise CommandExecutionError("wyng_qubes:env must be a mapping of WYNG_QUBES_* variables")
    out = {}
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_KEY.match(key):
            raise CommandExecutionError(
                f"wyng_qubes:env: {key!r} is not a WYNG_QUBES_* variable name"
            )
        if _ENV_TEST_ONLY.match(key):
            raise CommandExecutionError(f"wyng_qubes:env: {key} is a test-only variable, never configuration")
        if key in _ENV_SECRETS:
            raise CommandExecutionError(
                f"wyng_qubes:env: {key} is a secret, never configuration: use the profile's passphrase_file "
                "or passphrase_command"
            )
        if key == _RUN_SOURCE:
            raise CommandExecutionError(f"wyng_qubes:env: {key} is set by this module (salt)")
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise CommandExecutionError(f"wyng_qubes:env: {key} must be a string")
        out[key] = str(value)
    out[_RUN_SOURCE] = "salt"
    return out


# ---------------------------------------------------------------------------------------
# argv


def _names(value, what):
    """A list of strings from a list or a comma-separated string (as the Salt CLI gives)."""
    if value is None:
        return []
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
        return [v for v in items if v]
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, str):
                raise SaltInvocationError(f"{what}: every item must be a string, got {item!r}")
        return list(value)
    raise SaltInvocationError(f"{what}: expected a list or a comma-separated string")


def _option_args(command, options):
    """CLI options for ``command`` from keyword arguments (None = not given)."""
    allowed = ALLOWED[command]
    args = []
    for key in sorted(options):
        value = options[key]
        if key not in allowed:
            raise SaltInvocationError(
                f"{command}: unknown option {key!r} (allowed: {', '.join(sorted(allowed))})"
            )
        if value is None:
            continue
        kind, flag = OPTIONS[key]
        if kind == "flag":
            if not isinstance(value, bool):
                raise SaltInvocationError(f"{key}: expected True or False, got {value!r}")
            if value:
                args.append(flag)
        elif kind == "onoff":
            if isinstance(value, bool):
                value = "on" if value else "off"
            if value not in ("on", "off"):
                raise SaltInvocationError(f"{key}: expected on/off, got {value!r}")
            args.append(f"{flag}={value}")
        elif kind == "autoprune":
            if isinstance(value, bool):  # YAML reads off/on as booleans
                value = "on" if value else "off"
            if value not in ("off", "on", "full"):
                raise SaltInvocationError(f"{key}: expected off, on or full, got {value!r}")
            args.append(f"{flag}={value}")
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise SaltInvocationError(f"{key}: expected an integer, got {value!r}")
            args.append(f"{flag}={value}")
        elif kind == "list":
            args.extend(f"{flag}={item}" for item in _names(value, key))
        else:
            if not isinstance(value, str) or value == "":
                raise SaltInvocationError(f"{key}: expected a non-empty string, got {value!r}")
            args.append(f"{flag}={value}")
    return args


def _build_remote_argv(node, bundle, command, qubes=None, options=None, extra=()):
    """
    Remote mode: ``node BUNDLE --json --unattended [OPTIONS] remote OPERATION -- [QUBE ...]``.
    Only the options a management qube may send pass; ``profile`` is required.
    """
    if command not in REMOTE_OPERATIONS:
        raise SaltInvocationError(f"{command} cannot run in remote mode")
    options = {k: v for k, v in (options or {}).items() if v is not None}
    allowed = REMOTE_ALLOWED[command]
    refused = sorted(k for k in options if k in ALLOWED[command] and k not in allowed)
    if refused:
        raise SaltInvocationError(
            f"{command}: {', '.join(refused)} cannot be sent in remote mode: the profile in dom0 decides "
            f"(allowed: {', '.join(allowed)})"
        )
    if not isinstance(options.get("profile"), str) or not options["profile"]:
        raise SaltInvocationError(f"{command}: remote mode needs profile= (a profile defined in dom0)")
    argv = [node, bundle, "--json", "--unattended"]
    argv.extend(_option_args(command, options))
    argv.extend(extra)
    argv.extend(["remote", REMOTE_OPERATIONS[command]])
    names = _names(qubes, "qubes")
    if names:
        argv.append("--")
        argv.extend(names)
    return argv


def _build_argv(node, bundle, command, qubes=None, options=None, extra=()):
    """
    The full argv: ``node BUNDLE --json --unattended [OPTIONS] COMMAND -- [QUBE ...]``.
    Options use the ``--opt=value`` form and qube names follow ``--``, so no value can be
    read as another option; the tool checks the names themselves.
    """
    argv = [node, bundle, "--json", "--unattended"]
    argv.extend(_option_args(command, options or {}))
    argv.extend(extra)
    argv.append(command)
    names = _names(qubes, "qubes")
    if names:
        argv.append("--")
        argv.extend(names)
    return argv


# ---------------------------------------------------------------------------------------
# running


def _failure_message(command, doc):
    errors = doc.get("errors") or []
    parts = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        message = str(err.get("message", ""))
        parts.append(f"{err['qube']}: {message}" if err.get("qube") else message)
    detail = "; ".join(parts) if parts else "no error message"
    return f"wyng-qubes {command} failed (exit {doc.get('exitCode')}): {detail}"


def _parse_document(command, retcode, stdout, stderr):
    """The tool's JSON document; raises WyngQubesError unless it says ok."""
    try:
        doc = json.loads(stdout)
    except (TypeError, ValueError):
        doc = None
    if not isinstance(doc, dict) or not {"ok", "exitCode", "result", "errors"} <= set(doc):
        tail = (stderr or stdout or "").strip().splitlines()[-5:]
        raise WyngQubesError(
            f"wyng-qubes {command} printed no JSON document (exit {retcode})"
            + (": " + " | ".join(tail) if tail else "")
        )
    if doc["ok"] is not True or retcode != 0:
        raise WyngQubesError(_failure_message(command, doc), doc)
    return doc


def _run(command, qubes, options, extra=(), timeout=None):
    mode = _mode()
    bundle, node = _locate()
    build = _build_remote_argv if mode == "remote" else _build_argv
    argv = build(node, bundle, command, qubes, options, extra)
    env = _env()
    log.debug("wyng_qubes: running %s", argv)
    ret = __salt__["cmd.run_all"](
        argv,
        python_shell=False,
        env=env,
        ignore_retcode=True,
        timeout=timeout,
    )
    if mode == "local":
        return _parse_document(command, ret.get("retcode"), ret.get("stdout", ""), ret.get("stderr", ""))
    label = f"{command} (remote wyng.{REMOTE_OPERATIONS[command]}+{options.get('profile')})"
    try:
        doc = _parse_document(label, ret.get("retcode"), ret.get("stdout", ""), ret.get("stderr", ""))
    except WyngQubesError as exc:
        if exc.document is not None:
            exc.document["command"] = command
        raise
    # `remote` wraps dom0's document; the command is the one run there, as in local mode.
    doc["command"] = command
    return doc


def _options(kwargs, **named):
    opts = {k: v for k, v in kwargs.items() if not k.startswith("__")}
    opts.update(named)
    return opts


# ---------------------------------------------------------------------------------------
# public functions


def list_(qubes=None, profile=None, dest=None, session=None, timeout=None, **kwargs):
    """
    Archive overview (``wyng-qubes list --json``): sessions, each qube's sessions and newest.

    qubes
        Qube names (list or comma-separated); their sessions only.
    profile / dest
        A profile of profiles.yaml, or the archive URL (``file:/mnt/backup/laptop``).
    session
        Show the qubes in this session and its tags.

    Other options: ``all``, ``include_disposable``, ``authmin``, ``wyng``, ``meta_dir``,
    ``wyngopt``.

    CLI Example:

    .. code-block:: bash

        salt-call --local wyng_qubes.list dest=file:/mnt/backup/laptop
    """
    opts = _options(kwargs, profile=profile, dest=dest, session=session)
    return _run("list", qubes, opts, timeout=timeout)


def backup(qubes=None, profile=None, dest=None, timeout=None, **kwargs):
    """
    Back up qubes into one new Wyng session (``wyng-qubes backup --json``).

    Options: ``includes``, ``exclude``, ``dedup``, ``check_after_send``, ``autoprune``,
    ``remap``, ``no_auto_rename``, ``authmin``, ``wyng``, ``meta_dir``, ``wyngopt``,
    ``dom0_home`` / ``dom0_user`` (add dom0's home), ``ignore_space`` (past the space pre-flight).

    CLI Example:

    .. code-block:: bash

        salt-call --local wyng_qubes.backup profile=nightly
    """
    opts = _options(kwargs, profile=profile, dest=dest)
    return _run("backup", qubes, opts, timeout=timeout)


def restore(qubes=None, profile=None, dest=None, session=None, timeout=None, **kwargs):
    """
    Restore qubes (data and settings) from a session (``wyng-qubes restore --json``);
    without ``session`` the newest session of the named qubes.

    Options: ``exclude``, ``pref``, ``pool``, ``include_disposable``, ``ignore_missing``,
    ``no_snapshot_restore``, ``no_qubes_post``, ``force_incomplete``, ``authmin``, ``wyng``,
    ``meta_dir``, ``wyngopt``, ``allow_reach`` (reach classes applied: devices, network, gui,
    tags, features, class, all), ``trust_unauthenticated`` (restore from an archive Wyng does
    not authenticate; its reach changes stay withheld unless approved).
    ``meta_dir``, ``wyngopt``, ``allow_rollback`` (restore qubes older than dom0's backup
    record), ``expect_plan`` (a plan digest from ``plan``: refuse unless the plan is unchanged),
    ``from_plan`` (with ``expect_plan``: the ``planId`` of a ``plan`` run with ``keep_plan``; the
    restore uses the Wyng listing and metadata that plan was made from instead of fetching them
    again; local mode only),
    ``as`` (restore the one qube alongside under this name), ``rename_conflicting``,
    ``ignore_space`` (go on although the space pre-flight refuses).

    CLI Example:

    .. code-block:: bash

        salt-call --local wyng_qubes.restore qubes=work profile=laptop
    """
    opts = _options(kwargs, profile=profile, dest=dest, session=session)
    return _run("restore", qubes, opts, timeout=timeout)


def plan(qubes=None, profile=None, dest=None, session=None, timeout=None, keep_plan=False, **kwargs):
    """
    The restore plan only (``wyng-qubes restore --dry-run --json``): per qube the action,
    volumes, setting changes and problems, and the order. Changes nothing.

    Takes the same options as ``restore``, plus ``keep_plan``: True keeps what the plan was
    made from (``--keep-plan``, in dom0's state dir for a day) and the result names it
    (``result.planId``), so ``restore`` with ``from_plan`` and ``expect_plan`` applies exactly
    this plan without listing the archive and receiving its metadata again (the
    ``wyng_qubes.restored`` state does). In remote mode dom0 keeps no plan: ``keep_plan`` is
    ignored there and the result has no ``planId``.

    CLI Example:

    .. code-block:: bash

        salt-call --local wyng_qubes.plan qubes=work profile=laptop
    """
    opts = _options(kwargs, profile=profile, dest=dest, session=session)
    if not isinstance(keep_plan, bool):
        raise SaltInvocationError(f"keep_plan: expected True or False, got {keep_plan!r}")
    extra = ("--dry-run", "--keep-plan") if keep_plan and _mode() == "local" else ("--dry-run",)
    return _run("restore", qubes, opts, extra=extra, timeout=timeout)


def verify(qubes=None, profile=None, dest=None, session=None, timeout=None, **kwargs):
    """
    Wyng's integrity check of the qubes' volumes in one session (``wyng-qubes verify --json``).

    CLI Example:

    .. code-block:: bash

        salt-call --local wyng_qubes.verify qubes=work profile=laptop
    """
    opts = _options(kwargs, profile=profile, dest=dest, session=session)
    return _run("verify", qubes, opts, timeout=timeout)


def prune(qubes=None, profile=None, dest=None, session=None, timeout=None, **kwargs):
    """
    Remove sessions from the archive (``wyng-qubes prune --json``): ``session`` (``S`` or
    ``S1,S2``), ``all_before``, ``all``, ``autoprune``.

    CLI Example:

    .. code-block:: bash

        salt-call --local wyng_qubes.prune profile=nightly autoprune=on
    """
    opts = _options(kwargs, profile=profile, dest=dest, session=session)
    return _run("prune", qubes, opts, timeout=timeout)


def _session_age(session_id, now=None):
    """Seconds since a session id (``YYYYMMDD-HHMMSS``, Wyng's local time) was taken."""
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise CommandExecutionError(f"not a Wyng session id: {session_id!r}")
    taken = time.mktime(time.strptime(session_id, "%Y%m%d-%H%M%S"))
    return int((time.time() if now is None else now) - taken)


def _status_result(listing, requested, now=None):
    """
    Backup freshness from a ``list`` result: each qube's newest session and its age, the
    newest session of them all, and requested qubes that have no session.
    """
    qubes = {}
    for name, info in sorted(((listing or {}).get("qubes") or {}).items()):
        newest = info.get("newest")
        qubes[name] = {"newest": newest, "age_seconds": _session_age(newest, now)}
    newest = max((q["newest"] for q in qubes.values()), default=None)
    return {
        "archive": (listing or {}).get("archive"),
        "qubes": qubes,
        "missing": [q for q in requested if q not in qubes],
        "newest": newest,
        "age_seconds": None if newest is None else _session_age(newest, now),
    }


def status(qubes=None, profile=None, dest=None, timeout=None, **kwargs):
    """
    How fresh the backups are: from ``wyng-qubes list --json``, each qube's newest session
    and its age in seconds, the newest session of them all (``newest``, ``age_seconds``) and
    the requested qubes that have none (``missing``). An archive without Qubes sessions is
    reported as ``newest: None``, not as an error. Returns a document of the same shape as
    the others, with ``command: "status"``.

    CLI Example:

    .. code-block:: bash

        salt-call --local wyng_qubes.status profile=nightly
    """
    opts = _options(kwargs, profile=profile, dest=dest)
    requested = _names(qubes, "qubes")
    try:
        doc = _run("list", requested, opts, timeout=timeout)
        listing = doc["result"]
        exit_code = doc["exitCode"]
    except WyngQubesError as exc:
        errors = (exc.document or {}).get("errors") or []
        if not errors or any(e.get("kind") != "no-sessions" for e in errors):
            raise
        listing, exit_code = None, 0
    return {
        "ok": True,
        "exitCode": exit_code,
        "command": "status",
        "result": _status_result(listing, requested),
        "errors": [],
    }
