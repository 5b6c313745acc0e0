"""The ``sgl-console env`` subcommands: ``show``, ``check``, ``set``, ``unset``, ``export``,
``diff``, ``list``, ``import`` and ``docs`` (the choices behind them: :mod:`tui.cli_env`).

Why its own module: each command is a small function over a session; the parser that routes to
them, and what they share (:mod:`tui.cli_env_support`), live apart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from backend import envs
from tui import upstream_registry
from tui.cli_env_support import (
    EXIT_OK,
    EXIT_PROBLEMS,
    SECRETISH,
    Refused,
    activate_registry,
    guarded,
    mask_unmanaged,
    not_read_problems,
    print_table,
    registry_line,
    session_for,
    source_text,
    warn_problems,
)
from tui.session import DEFAULTS_NAME, Session, list_sessions, session_path
from tui.session_file import session_lock


@guarded
def cmd_show(args: argparse.Namespace) -> int:
    """``env show``: every variable's effective value and source."""
    state = activate_registry(args)
    session = session_for(args)
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
            row["source_detail"] = source_text(r)
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
        table.append((name, r.shown(), source_text(r) + origin + (f" ({note})" if note else "")))
    table += extras
    print(f"# session {session.name!r}" + ("" if session.exists else " (not saved yet)"))
    print(registry_line(state))
    print_table(table, sys.stdout)
    return EXIT_OK


@guarded
def cmd_check(args: argparse.Namespace) -> int:
    """``env check``: errors, then warnings; exit 1 on any error."""
    state = activate_registry(args)
    session = session_for(args)
    problems = session.problems() + not_read_problems(session)
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
        print(registry_line(state))
    return EXIT_PROBLEMS if errors else EXIT_OK


def _read_secret_value(name: str, from_stdin: bool) -> str:
    """The value of a bare NAME: standard input (one line, newline dropped) or a hidden prompt."""
    if from_stdin or not sys.stdin.isatty():
        text = sys.stdin.readline()
        if not text:
            raise Refused(f"{name}: no value on standard input")
        return text.removesuffix("\n").removesuffix("\r")
    import getpass

    return getpass.getpass(f"{name}: ")


def _parse_assignments(items: Sequence[str], from_stdin: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    bare = [item for item in items if "=" not in item]
    if len(bare) > 1:
        raise Refused(f"only one NAME may take its value from stdin or a prompt, got {', '.join(bare)}")
    if from_stdin and not bare:
        raise Refused("--stdin needs one bare NAME (without =VALUE)")
    for item in items:
        name, eq, raw = item.partition("=")
        if not name:
            raise Refused(f"expected NAME=VALUE, got {item.split('=')[0]!r}")
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
        raise Refused("nothing written:\n  " + "\n  ".join(errors))
    notes = []
    for name, raw in assignments.items():
        if raw and name in envs.REGISTRY and trial.get(name) is None:
            notes.append(f"{name} equals its default; not kept in the session")
        elif raw and name not in envs.REGISTRY:
            notes.append(f"{name} is not managed by the console; stored as is")
    session.update(assignments)
    return notes


@guarded
def cmd_set(args: argparse.Namespace) -> int:
    """``env set N NAME=VALUE...``: all or nothing."""
    assignments = _parse_assignments(args.assignments, args.stdin)
    activate_registry(args)  # a release's own variables (SGLANG_CACHE_DIT_DMD...) can be set too
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
    warn_problems(session)
    return EXIT_OK


@guarded
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


@guarded
def cmd_export(args: argparse.Namespace) -> int:
    """``env export``: shell lines for eval/source (secrets masked on a terminal)."""
    session = session_for(args)
    secrets = [n for n in session.values if envs.REGISTRY[n].secret]
    secrets += [n for n in session.unknown if SECRETISH.search(n)]
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


@guarded
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
    print_table([("NAME", args.a, args.b), *shown], sys.stdout)
    return EXIT_OK


@guarded
def cmd_list(args: argparse.Namespace) -> int:
    """``env list``: saved session names."""
    for name in list_sessions():
        print(name)
    return EXIT_OK


@guarded
def cmd_import(args: argparse.Namespace) -> int:
    """``env import N``: the managed variables of this process's environment."""
    imported = Session.from_environ(args.name, os.environ)
    if imported.load_problems:
        raise Refused("nothing written:\n  " + "\n  ".join(p.message for p in imported.load_problems))
    with session_lock(session_path(args.name)):
        session = Session.open(args.name)
        if session.exists and not args.merge:
            raise Refused(f"session {args.name!r} exists; pass --merge to update it")
        for name, raw in imported.values.items():
            session.values[name] = raw  # explicit in the environment: kept even when equal to the default
        session.dirty = True
        session.save()
    print(f"imported {len(imported.values)} variable(s) into session {session.name!r}: "
          + (", ".join(imported.values) or "none"))
    return EXIT_OK


@guarded
def cmd_docs(args: argparse.Namespace) -> int:
    """``env docs``: the registry as Markdown."""
    activate_registry(args)
    print(envs.docs_table(envs.Pane(args.pane) if args.pane else None))
    return EXIT_OK
