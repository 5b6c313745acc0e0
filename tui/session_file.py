"""Safety of session files: lines bash would run, CRLF, and writers that must not lose updates.

Why its own module: a session is meant to be ``source``d by bash, so a line the console reads as
a plain assignment must also be one for bash (``export A=x&&{touch,/tmp/p}`` is a value to a
naive reader but runs ``touch`` when sourced); and several processes (``env set`` in two
terminals, the TUI) may update one file, so each read-modify-write holds an exclusive
``fcntl.flock`` on a lock file beside the session.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backend.atomic_files import make_private_dirs

_OPERATORS = {
    ";": "ends the assignment and runs what follows as a command",
    "&": "runs what follows as a command (in the background, or after '&&')",
    "|": "pipes into / runs what follows as a command",
    ">": "redirects output: bash creates or truncates a file",
    "<": "redirects input from a file (or runs a process substitution)",
    "(": "opens a subshell or array: bash runs or evaluates what follows",
    ")": "closes a subshell: the line is not a plain assignment",
}


def shell_hazard(text: str) -> str | None:
    """What bash would do beyond assigning when it sources ``text`` (one logical line), or None.

    Scans like the shell: nothing is special inside single quotes; inside double quotes only
    command substitution (``$(...)``, backquotes) runs something; outside quotes the control
    and redirection operators do.  ``#`` at the start of a word starts a comment.
    """
    quote = ""
    prev = " "
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = ""
        elif ch == "\\":
            i += 1  # the next character is literal
        elif ch == "`" or (ch == "$" and text[i + 1 : i + 2] == "("):
            shown = "`...`" if ch == "`" else "$(...)"
            return f"{shown} is a command substitution: bash runs the command inside"
        elif quote == '"':
            if ch == '"':
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev in " \t":
            return None
        elif ch in _OPERATORS:
            return f"the unquoted {ch!r} {_OPERATORS[ch]}"
        prev = ch
        i += 1
    return None


CRLF_FIX = "convert the file to Unix line endings, e.g. sed -i 's/\\r$//' FILE (or dos2unix FILE)"


def crlf_problem(line: str) -> str | None:
    """A line ending in CR: bash keeps the CR in the value (``cpu\\r``)."""
    if line.endswith("\r"):
        return f"ends with a carriage return (Windows line ending): bash would keep it in the value; {CRLF_FIX}"
    return None


def nul_problem(line: str) -> str | None:
    """A NUL byte: bash drops it when sourcing, and no environment variable can hold one."""
    if "\0" in line:
        return "holds a NUL byte: bash drops it when sourcing and no environment variable can hold one; remove it"
    return None


def lock_path(session_file: Path) -> Path:
    """The lock file beside a session: ``.<name>.env.lock`` (never renamed over, so flock holds)."""
    return session_file.with_name(f".{session_file.name}.lock")


_held: dict[Path, int] = {}
"""Locks this process holds (re-entrant: ``save`` inside an ``env set`` that already holds it)."""


@contextmanager
def session_lock(session_file: Path) -> Iterator[None]:
    """Hold the session's exclusive lock for one read-modify-write (blocks until it is free)."""
    path = lock_path(session_file)
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held[path] = 1
        yield
    finally:
        _held.pop(path, None)
        os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class Stamp:
    """What a session file looked like when it was read: changed on disk means another writer."""

    digest: str
    """sha256 of the bytes, or empty for a file that did not exist."""

    @classmethod
    def of(cls, path: Path) -> Stamp:
        try:
            return cls(hashlib.sha256(path.read_bytes()).hexdigest())
        except FileNotFoundError:
            return cls("")

    @classmethod
    def of_bytes(cls, data: bytes) -> Stamp:
        return cls(hashlib.sha256(data).hexdigest())
