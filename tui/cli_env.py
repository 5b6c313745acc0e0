"""``sgl-console env ...``: sessions and variables from a shell, with no TTY needed.

Subcommands: ``show``, ``check``, ``set``, ``unset``, ``export``, ``diff``, ``list``,
``import`` and ``docs``.  Every table and check comes from :mod:`backend.envs`; every
file operation goes through :mod:`tui.session`.

Choices (the issue left them open):

* The session is ``--session N``, else the top-level ``sgl-console -s N``, else
  ``default``.  A missing ``default`` reads as an empty session; a missing session named
  explicitly is an error.
* ``show`` lists every managed variable (the spec's "all variables with their
  defaults"); ``--all`` adds the session's unmanaged names and unknown ``SGLANG_*`` names
  found in the environment.
* ``check`` prints errors, then warnings, one per line on stdout; it exits 1 when there
  is an error, 0 otherwise (warnings alone pass).
* ``set``/``unset``/``import`` change nothing unless every argument is valid.
* Exit codes: 0 success, 1 ``check`` found errors, 2 the command was refused (bad
  arguments, invalid values, unknown session); messages go to stderr.
* Secrets are masked everywhere except ``export``, whose output is for ``eval`` and
  ``source``.  When ``export`` writes to a terminal it masks them too (nobody evals a
  screen) unless ``--show-secrets`` is given, and says so on stderr.  Unmanaged names that
  look like credentials (``*SECRET*``, ``*TOKEN*``, ``*PASSWORD*``, ``*_KEY*``) are masked
  like secrets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from backend import envs
from tui import upstream_registry
from tui.session import DEFAULTS_NAME, Session, SessionError, list_sessions, session_path
from tui.session_file import session_lock

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_REFUSED = 2

_SECRETISH = re.compile(r"SECRET|TOKEN|PASSW|CREDENTIAL|(^|_)KEY($|_)|_KEY_ID$", re.IGNORECASE)


class _Refused(Exception):
    """The command cannot run; the message goes to stderr and the exit code is 2."""


# ---------------------------------------------------------------------------------------
# Registration.
# ---------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``env`` and its subcommands to the ``sgl-console`` parser."""
    env = subparsers.add_parser(
        "env", help="show, check and edit session variables",
        description="Sessions and the variables they set. Secrets are masked except in 'export'.",
    )
    env.set_defaults(handler=lambda args: _usage(env))
    sub = env.add_subparsers(dest="env_command", metavar="COMMAND")

    def strict_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--strict", action="store_true", default=None,
                       help=f"accept only the documented spellings (as {envs.STRICT_VAR}=1 does); by default "
                       "values are read as the sglang runtime reads them")

    def python_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--python", metavar="PY",
                       help="also cover the variables of the sglang installed for interpreter PY (read from its "
                       "source, never imported); default: the sglang of the top-level --command, if any")

    def session_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--session", "-s", dest="env_session", metavar="N",
                       help="session name (default: the top-level --session, else 'default')")

    p = sub.add_parser("show", help="every variable: effective value and where it came from",
                       description="List every managed variable with its effective value (secrets masked) and "
                       "source: session, environment, inherited (secondary from primary) or default.")
    session_opt(p)
    strict_opt(p)
    python_opt(p)
    p.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    p.add_argument(
        "--all",
        action="store_true",
        help="also list the session's unmanaged names and unknown SGLANG_* names in the environment",
    )
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("check", help="validate a session (exit 1 on errors)",
                       description="Check every value and the cross-variable rules. Errors, then warnings, one "
                       "per line. Exit 1 when there is an error; warnings alone exit 0.")
    session_opt(p)
    strict_opt(p)
    python_opt(p)
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("set", help="set variables in a session (created if missing)",
                       description="Set NAME=VALUE pairs in session N, creating it if needed. If any value "
                       "is invalid nothing is written. An empty VALUE unsets.")
    p.add_argument("name", metavar="N", help="session name")
    p.add_argument("assignments", nargs="+", metavar="NAME=VALUE",
                   help="NAME=VALUE; a bare NAME reads its value from --stdin or a hidden prompt "
                   "(secrets then never appear on the command line)")
    p.add_argument("--stdin", action="store_true", help="read the value of the one bare NAME from standard input")
    strict_opt(p)
    python_opt(p)
    p.set_defaults(handler=cmd_set)

    p = sub.add_parser(
        "unset",
        help="remove variables from a session",
        description="Remove NAMEs from session N (they fall back to their defaults).",
    )
    p.add_argument("name", metavar="N", help="session name")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(handler=cmd_unset)

    p = sub.add_parser("export", help="print 'export NAME=value' lines for eval/source",
                       description="Print the session as shell export lines: eval \"$(sgl-console env export "
                       "-s N)\". Secrets are included when the output is not a terminal.")
    session_opt(p)
    p.add_argument(
        "--show-secrets", action="store_true", help="include secrets even when writing to a terminal"
    )
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("diff", help="variables that differ between two sessions",
                       description=f"Compare session A with session B; B (or A) may be '{DEFAULTS_NAME}'. "
                       "Secrets are masked.")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B", nargs="?", default=DEFAULTS_NAME, help=f"default: {DEFAULTS_NAME}")
    p.set_defaults(handler=cmd_diff)

    p = sub.add_parser("list", help="saved sessions", description="List saved session names, one per line.")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("import", help="create a session from the current environment",
                       description="Create session N from the managed variables set in this process's "
                       "environment. Refuses invalid values, and an existing session unless --merge.")
    p.add_argument("name", metavar="N", help="session name")
    p.add_argument("--merge", action="store_true", help="update an existing session instead of refusing")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser(
        "docs",
        help="Markdown table of every variable",
        description="Print the registry as a Markdown table (generated, never hand-kept).",
    )
    p.add_argument("--pane", choices=[pane.value for pane in envs.Pane], help="only one pane")
    python_opt(p)
    p.set_defaults(handler=cmd_docs)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_REFUSED


def _guarded(func: Any) -> Any:
    """Turn refusals and session errors into a message on stderr and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except (_Refused, SessionError) as exc:
            print(f"sgl-console env: error: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        except BrokenPipeError:  # `sgl-console env show | head`: the reader left, which is fine
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


# ---------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------


def _activate_registry(args: argparse.Namespace) -> upstream_registry.RegistryState:
    """The registry for ``--python`` or the top-level ``--command`` (spec alone when neither names an sglang)."""
    python = upstream_registry.python_for_cli(getattr(args, "python", None))
    command = getattr(args, "command", None)
    return upstream_registry.activate(shlex.split(command) if command else None, python=python)


def _registry_line(state: upstream_registry.RegistryState) -> str:
    if state.release is None:
        return f"# registry: spec only ({state.reason})"
    return f"# registry: {state.label()} ({len(state.release.variables)} variables read from {state.package_dir})"


def _not_read_problems(session: Session) -> list[envs.Problem]:
    """Warnings for spec variables the session sets that the sglang in force never reads."""
    out = []
    for name in session.values:
        var = envs.REGISTRY.get(name)
        note = upstream_registry.not_read_note(var) if var is not None else None
        if note:
            out.append(envs.Problem("warning", (name,), f"{name}: {note}"))
    return out


def _session_for(args: argparse.Namespace) -> Session:
    name = getattr(args, "env_session", None) or getattr(args, "session", None)
    session = Session.load(name) if name else Session.open("default")
    session.strict = getattr(args, "strict", None)
    return session


def mask_unmanaged(name: str, raw: str) -> str:
    """Mask an unmanaged value whose name looks like a credential."""
    return envs.mask_secret(raw) if _SECRETISH.search(name) else raw


def _source_text(r: envs.Resolved) -> str:
    if r.source is envs.Source.INHERITED and r.var.inherits_from:
        return f"inherited from {r.var.inherits_from}"
    text = r.source.value
    if r.error:
        text += " (invalid; default used)"
    return text


def _printable(text: str) -> str:
    """Control characters escaped (``\\n``, ``\\x1b``): a value must not move the cursor or recolour the terminal."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    rows = [[_printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        print("  ".join(cells).rstrip(), file=out)


def _warn_problems(session: Session) -> None:
    for problem in session.problems():
        print(problem.line(), file=sys.stderr)


# ---------------------------------------------------------------------------------------
# Commands.
# ---------------------------------------------------------------------------------------


@_guarded
def cmd_show(args: argparse.Namespace) -> int:
    """``env show``: every variable's effective value and source."""
    state = _activate_registry(args)
    session = _session_for(args)
    resolved = session.resolved()
    extras: list[tuple[str, str, str]] = []
    if args.all:
        for name in sorted(session.unknown):
            extras.append((name, mask_unmanaged(name, session.unknown[name]), "session (unmanaged)"))
        for name in sorted(os.environ):
            if (
                name not in envs.REGISTRY
                and name.startswith(envs.MANAGED_PREFIXES)
                and name not in session.unknown
            ):
                extras.append((name, mask_unmanaged(name, os.environ[name]), "environment (unknown name)"))
    if args.json:
        rows: list[dict[str, Any]] = envs.to_json_safe(resolved)
        for row, r in zip(rows, resolved.values(), strict=True):
            row["source_detail"] = _source_text(r)
            row["runtime_note"] = upstream_registry.not_read_note(r.var)
        rows += [{"name": n, "pane": None, "value": v, "source": s, "default": None, "secret": False,
                  "error": None, "source_detail": s} for n, v, s in extras]
        json.dump({"session": session.name, "registry": state.label(), "variables": rows}, sys.stdout, indent=2)
        print()
        return EXIT_OK
    table = [("NAME", "VALUE", "SOURCE")]
    for name, r in resolved.items():
        note = upstream_registry.not_read_note(r.var)
        origin = "" if r.var.origin == "spec" else f" [{r.var.origin}]"
        table.append((name, r.shown(), _source_text(r) + origin + (f" ({note})" if note else "")))
    table += extras
    print(f"# session {session.name!r}" + ("" if session.exists else " (not saved yet)"))
    print(_registry_line(state))
    _table(table, sys.stdout)
    return EXIT_OK


@_guarded
def cmd_check(args: argparse.Namespace) -> int:
    """``env check``: errors, then warnings; exit 1 on any error."""
    state = _activate_registry(args)
    session = _session_for(args)
    problems = session.problems() + _not_read_problems(session)
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    if errors:
        print(f"errors ({len(errors)}):")
        for p in errors:
            print(f"  {p.message}")
    if warnings:
        print(f"warnings ({len(warnings)}):")
        for p in warnings:
            print(f"  {p.message}")
    if not problems:
        print(f"session {session.name!r}: no problems")
    if state.release is not None:
        print(_registry_line(state))
    return EXIT_PROBLEMS if errors else EXIT_OK


def _read_secret_value(name: str, from_stdin: bool) -> str:
    """The value of a bare NAME: standard input (one line, newline dropped) or a hidden prompt."""
    if from_stdin or not sys.stdin.isatty():
        text = sys.stdin.readline()
        if not text:
            raise _Refused(f"{name}: no value on standard input")
        return text.removesuffix("\n").removesuffix("\r")
    import getpass

    return getpass.getpass(f"{name}: ")


def _parse_assignments(items: Sequence[str], from_stdin: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    bare = [item for item in items if "=" not in item]
    if len(bare) > 1:
        raise _Refused(f"only one NAME may take its value from stdin or a prompt, got {', '.join(bare)}")
    if from_stdin and not bare:
        raise _Refused("--stdin needs one bare NAME (without =VALUE)")
    for item in items:
        name, eq, raw = item.partition("=")
        if not name:
            raise _Refused(f"expected NAME=VALUE, got {item.split('=')[0]!r}")
        out[name] = raw if eq else _read_secret_value(name, from_stdin)
    return out


def _apply(session: Session, assignments: Mapping[str, str]) -> list[str]:
    """Validate every assignment on a copy; raise with all errors, or apply them all."""
    trial = session.copy()
    errors = []
    for name, raw in assignments.items():
        try:
            trial.set(name, raw)
        except envs.EnvError as exc:
            errors.append(str(exc))
    if errors:
        raise _Refused("nothing written:\n  " + "\n  ".join(errors))
    notes = []
    for name, raw in assignments.items():
        if raw and name in envs.REGISTRY and trial.get(name) is None:
            notes.append(f"{name} equals its default; not kept in the session")
        elif raw and name not in envs.REGISTRY:
            notes.append(f"{name} is not managed by the console; stored as is")
    session.update(assignments)
    return notes


@_guarded
def cmd_set(args: argparse.Namespace) -> int:
    """``env set N NAME=VALUE...``: all or nothing."""
    assignments = _parse_assignments(args.assignments, args.stdin)
    _activate_registry(args)  # a release's own variables (SGLANG_CACHE_DIT_DMD...) can be set too
    with session_lock(session_path(args.name)):  # read-modify-write: no concurrent update is lost
        session = Session.open(args.name)
        session.strict = args.strict
        created = not session.exists
        notes = _apply(session, assignments)
        path = session.save()
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    what = "created" if created else "updated"
    print(f"{what} session {session.name!r} ({path.name}): " + ", ".join(
        f"{n}={envs.REGISTRY[n].display(v) if n in envs.REGISTRY else mask_unmanaged(n, v)}" if v else f"{n} unset"
        for n, v in assignments.items()))
    _warn_problems(session)
    return EXIT_OK


@_guarded
def cmd_unset(args: argparse.Namespace) -> int:
    """``env unset N NAME...``."""
    with session_lock(session_path(args.name)):
        session = Session.load(args.name)
        for name in args.names:
            if session.get(name) is None:
                print(f"note: {name} is not set in session {session.name!r}", file=sys.stderr)
            session.unset(name)
        if session.dirty:
            session.save()
    print(f"updated session {session.name!r}: unset " + ", ".join(args.names))
    return EXIT_OK


@_guarded
def cmd_export(args: argparse.Namespace) -> int:
    """``env export``: shell lines for eval/source (secrets masked on a terminal)."""
    session = _session_for(args)
    secrets = [n for n in session.values if envs.REGISTRY[n].secret]
    secrets += [n for n in session.unknown if _SECRETISH.search(n)]
    mask = bool(secrets) and sys.stdout.isatty() and not args.show_secrets
    if mask:
        shown = session.copy()
        shown.values = {
            n: (envs.mask_secret(v) if envs.REGISTRY[n].secret else v) for n, v in session.values.items()
        }
        shown.unknown = {n: mask_unmanaged(n, v) for n, v in session.unknown.items()}
        sys.stdout.write(shown.export_text())
        print("note: secrets masked because stdout is a terminal (" + ", ".join(secrets)
              + "); pipe the output or pass --show-secrets", file=sys.stderr)
    else:
        sys.stdout.write(session.export_text())
    if any(p.is_error for p in session.problems()):
        print(f"warning: session {session.name!r} has errors; see 'sgl-console env check -s {session.name}'",
              file=sys.stderr)
    return EXIT_OK


def _load_side(name: str) -> Session | None:
    return None if name == DEFAULTS_NAME else Session.load(name)


@_guarded
def cmd_diff(args: argparse.Namespace) -> int:
    """``env diff A B``: rows that differ, secrets masked."""
    left, right = _load_side(args.a), _load_side(args.b)
    if left is None and right is None:
        return EXIT_OK
    if left is None:
        assert right is not None
        rows = [(r.name, r.right, r.right_set, r.left, r.left_set) for r in right.diff(None)]
    else:
        rows = [(r.name, r.left, r.left_set, r.right, r.right_set) for r in left.diff(right)]
    if not rows:
        print(f"no differences between {args.a!r} and {args.b!r}")
        return EXIT_OK
    shown = []
    for name, a, a_set, b, b_set in rows:
        var = envs.REGISTRY.get(name)
        if var is None:  # session.diff masks managed secrets; unmanaged credentials are masked here
            a = mask_unmanaged(name, a) if a_set else a
            b = mask_unmanaged(name, b) if b_set else b
        note = " (differs)" if a_set and b_set and a == b else ""
        shown.append((name, a, b + note))
    _table([("NAME", args.a, args.b), *shown], sys.stdout)
    return EXIT_OK


@_guarded
def cmd_list(args: argparse.Namespace) -> int:
    """``env list``: saved session names."""
    for name in list_sessions():
        print(name)
    return EXIT_OK


@_guarded
def cmd_import(args: argparse.Namespace) -> int:
    """``env import N``: the managed variables of this process's environment."""
    imported = Session.from_environ(args.name, os.environ)
    if imported.load_problems:
        raise _Refused("nothing written:\n  " + "\n  ".join(p.message for p in imported.load_problems))
    with session_lock(session_path(args.name)):
        session = Session.open(args.name)
        if session.exists and not args.merge:
            raise _Refused(f"session {args.name!r} exists; pass --merge to update it")
        for name, raw in imported.values.items():
            session.values[name] = raw  # explicit in the environment: kept even when equal to the default
        session.dirty = True
        session.save()
    print(f"imported {len(imported.values)} variable(s) into session {session.name!r}: "
          + (", ".join(imported.values) or "none"))
    return EXIT_OK


@_guarded
def cmd_docs(args: argparse.Namespace) -> int:
    """``env docs``: the registry as Markdown."""
    _activate_registry(args)
    print(envs.docs_table(envs.Pane(args.pane) if args.pane else None))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``env`` alone (``python -m tui.cli_env show``), without the rest of the console's CLI."""
    parser = argparse.ArgumentParser(prog="sgl-console")
    sub = parser.add_subparsers(dest="subcommand")
    register(sub)
    args = parser.parse_args(["env", *(sys.argv[1:] if argv is None else argv)])
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
