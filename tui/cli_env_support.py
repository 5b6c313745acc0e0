"""What every ``sgl-console env`` subcommand shares: exit codes, refusals, the session and the
registry a command works on, and output that is safe on a terminal (credentials masked, control
characters escaped).

Why its own module: the commands (:mod:`tui.cli_env_commands`) and the parser
(:mod:`tui.cli_env`) both use these, and none of it is one command's logic.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from backend import envs
from tui import upstream_registry
from tui.session import Session, SessionError

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_REFUSED = 2

SECRETISH = re.compile(r"SECRET|TOKEN|PASSW|CREDENTIAL|(^|_)KEY($|_)|_KEY_ID$", re.IGNORECASE)


class Refused(Exception):
    """The command cannot run; the message goes to stderr and the exit code is 2."""


def guarded(func: Any) -> Any:
    """Turn refusals and session errors into a message on stderr and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except (Refused, SessionError) as exc:
            print(f"sgl-console env: error: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        except BrokenPipeError:  # `sgl-console env show | head`: the reader left, which is fine
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def activate_registry(args: argparse.Namespace) -> upstream_registry.RegistryState:
    """The registry for ``--python`` or the top-level ``--command`` (spec alone when neither names an sglang)."""
    python = upstream_registry.python_for_cli(getattr(args, "python", None))
    command = getattr(args, "command", None)
    return upstream_registry.activate(shlex.split(command) if command else None, python=python)


def registry_line(state: upstream_registry.RegistryState) -> str:
    if state.release is None:
        return f"# registry: spec only ({state.reason})"
    return f"# registry: {state.label()} ({len(state.release.variables)} variables read from {state.package_dir})"


def not_read_problems(session: Session) -> list[envs.Problem]:
    """Warnings for spec variables the session sets that the sglang in force never reads."""
    out = []
    for name in session.values:
        var = envs.REGISTRY.get(name)
        note = upstream_registry.not_read_note(var) if var is not None else None
        if note:
            out.append(envs.Problem("warning", (name,), f"{name}: {note}"))
    return out


def session_for(args: argparse.Namespace) -> Session:
    name = getattr(args, "env_session", None) or getattr(args, "session", None)
    session = Session.load(name) if name else Session.open("default")
    session.strict = getattr(args, "strict", None)
    return session


def mask_unmanaged(name: str, raw: str) -> str:
    """Mask an unmanaged value whose name looks like a credential."""
    return envs.mask_secret(raw) if SECRETISH.search(name) else raw


def source_text(r: envs.Resolved) -> str:
    if r.source is envs.Source.INHERITED and r.var.inherits_from:
        return f"inherited from {r.var.inherits_from}"
    text = r.source.value
    if r.error:
        text += " (invalid; default used)"
    return text


def printable(text: str) -> str:
    """Control characters escaped (``\\n``, ``\\x1b``): a value must not move the cursor or recolour the terminal."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def print_table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        print("  ".join(cells).rstrip(), file=out)


def warn_problems(session: Session) -> None:
    """Every problem of ``session``, one per line on stderr."""
    for problem in session.problems():
        print(problem.line(), file=sys.stderr)
