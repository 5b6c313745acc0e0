"""The session file format: ``export NAME=value`` lines read back as bash would, and written so
that comments, unknown names and unparsable lines stay where the operator put them.

Why its own module: parsing (shell quoting, values spanning lines, duplicates, expansions) and
rendering are the file's contract with bash, independent of what the values mean.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from backend.envs import Problem
from tui.session_file import crlf_problem, nul_problem, shell_hazard

HEADER = "# sgl-console session"
"""First words of the generated header comment; lines starting with it are regenerated on save."""

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A shell variable name."""

_HEADER_NOTE = "# Edit freely: comments and unknown names are kept; values are checked when loaded."


@dataclass
class Line:
    """One line of a session file, kept so that save rewrites the file in place."""

    kind: str
    """``header``, ``comment``, ``blank``, ``assign`` or ``raw`` (unparsable, kept verbatim)."""
    text: str
    name: str | None = None
    raw: str | None = None
    """For ``assign``: the value as the file gave it (after shell unquoting)."""


@dataclass
class ParsedFile:
    """What :func:`parse_file` read: the lines to keep, the assignments, and the line problems."""

    lines: list[Line] = field(default_factory=list)
    assigned: dict[str, str] = field(default_factory=dict)
    """Every name the file sets -> its raw value (the later line wins), in order of first appearance."""
    problems: list[Problem] = field(default_factory=list)


def _has_expansion(text: str) -> bool:
    """True when bash would expand part of ``text`` (an assignment line): ``$`` or a backquote outside
    single quotes, or an unquoted ``~`` right after ``=`` or ``:`` (bash's tilde expansion in
    assignments: ``X=~/cache`` is ``$HOME/cache`` to bash)."""
    if "$" not in text and "`" not in text and "~" not in text:
        return False
    quote = ""
    escaped = False
    prev = ""
    for ch in text:
        if escaped:
            escaped, prev = False, ""
            continue
        if quote == "'":
            if ch == "'":
                quote = ""
            prev = ""
            continue
        if ch == "\\":
            escaped = True
        elif ch in "$`":
            return True
        elif ch == "~" and not quote and prev in ("=", ":"):
            return True
        elif ch == '"':
            quote = "" if quote == '"' else '"'
        elif ch == "'" and not quote:
            quote = "'"
        prev = ch if not quote else ""
    return False


_BLANKS = " \t"
"""What bash splits words on in a line (its blanks); ``str.strip()`` also drops \\x1c-\\x1f, \\x0b, \\x0c, which bash keeps."""

_FAST_LINE_RE = re.compile(
    r"""[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=((?:'[^']*'|"[^"\\$`]*"|[A-Za-z0-9_@%+=:,./#-])*)[ \t\r]*"""
)
_FAST_SEGMENT_RE = re.compile(r"""'([^']*)'|"([^"]*)"|([^'"]+)""")


def _parse_fast(text: str) -> tuple[str, str] | None:
    """The one-assignment lines this module writes (``shlex.quote`` output), parsed by regex.

    Why: :func:`shlex.split` goes character by character, far too slow for big values; for
    these forms (single-quoted runs, plain double-quoted runs, safe bare characters) the
    result is exactly what the shell, and shlex, would give.
    """
    match = _FAST_LINE_RE.fullmatch(text)
    if match is None:
        return None
    raw = "".join(m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)
                  for m in _FAST_SEGMENT_RE.finditer(match.group(2)))
    return match.group(1), raw


def _parse_assignments(text: str) -> list[tuple[str, str]]:
    """``[export] A=1 [B='x y'] [# comment]`` -> ``[(A, '1'), (B, 'x y')]``.  Raises ValueError."""
    fast = _parse_fast(text)
    if fast is not None:
        return [fast]
    body = text.strip(_BLANKS)
    if body.startswith("export") and body[6:7] in (" ", "\t"):
        body = body[6:].lstrip(_BLANKS)
    words = shlex.split(body, comments=True, posix=True)
    if not words:
        raise ValueError("nothing to assign")
    pairs = []
    for word in words:
        name, eq, raw = word.partition("=")
        if not eq or not IDENT_RE.match(name):
            shown = name if eq else word.split()[0][:40] if word.split() else word[:40]
            raise ValueError(f"expected NAME=value, got {shown!r}")
        pairs.append((name, raw))
    return pairs


_MAX_CONTINUATION = 1000
"""Most physical lines one quoted value may span."""


def _parse_logical_line(lines: list[str], start: int) -> tuple[list[tuple[str, str]], int]:
    """Parse the assignment starting at ``lines[start]``; a quoted value may span several lines.

    Returns:
        The assignments and how many physical lines they used.
    Raises:
        ValueError: the first line cannot be parsed, even joined with the lines after it.
    """
    try:
        return _parse_assignments(lines[start]), 1
    except ValueError as first:
        if "No closing quotation" not in str(first):
            raise
        for end in range(start + 2, min(len(lines), start + _MAX_CONTINUATION) + 1):
            try:
                return _parse_assignments("\n".join(lines[start:end])), end - start
            except ValueError as exc:
                if "No closing quotation" not in str(exc):
                    raise first from None
        raise


def assign_text(name: str, raw: str) -> str:
    """``export NAME=<quoted raw>``: one line bash reads back as exactly ``raw``."""
    return f"export {name}={shlex.quote(raw)}"


def header_text(name: str) -> str:
    """The generated header comment of session ``name`` (two lines)."""
    return f"{HEADER} {name!r}: written by sgl-console; load it with 'source' or 'set -a; . FILE'.\n{_HEADER_NOTE}"


def problem(severity: str, message: str, *names: str) -> Problem:
    """A :class:`Problem` about ``names`` (none: about the file itself)."""
    return Problem(severity, tuple(names), message)


def parse_file(text: str, filename: str) -> ParsedFile:
    """Read a session file's text as bash would source it; nothing raises.

    Lines bash would not read as plain assignments, and lines that cannot be parsed, are kept
    verbatim (``raw``) and reported as errors naming ``filename`` and the line number.
    """
    out = ParsedFile()
    lines = text.split("\n")  # not splitlines(): \x1e, \x0c, \u2028... may sit inside a quoted value
    if lines and lines[-1] == "":
        lines.pop()
    seen: dict[str, int] = {}
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        stripped = line.strip(_BLANKS)
        if not stripped:
            out.lines.append(Line("blank", line))
            continue
        if stripped.startswith("#"):
            kind = "header" if stripped.startswith(HEADER) or stripped == _HEADER_NOTE else "comment"
            out.lines.append(Line(kind, line))
            continue
        unsafe = crlf_problem(line) or nul_problem(line) or shell_hazard(line)
        if unsafe:
            _unsafe_line(out, filename, number, line, unsafe)
            continue
        try:
            pairs, used = _parse_logical_line(lines, number - 1)
            line = "\n".join(lines[number - 1 : number - 1 + used])
            index = number - 1 + used
        except ValueError as exc:
            out.lines.append(Line("raw", line))
            out.problems.append(problem("error", f"{filename} line {number}: cannot parse ({exc}); kept as is"))
            continue
        unsafe = crlf_problem(line) or nul_problem(line) or shell_hazard(line)
        if unsafe:
            _unsafe_line(out, filename, number, line, unsafe)
            continue
        for name, raw in pairs:
            if name in seen:
                out.problems.append(problem(
                    "warning",
                    f"{filename} line {number}: {name} was already set on line {seen[name]}; the later value wins",
                    name,
                ))
            seen[name] = number
            if _has_expansion(line):
                out.problems.append(problem(
                    "warning",
                    f"{filename} line {number}: {name} uses shell expansion ($, ` or ~), "
                    "which the console does not evaluate; the value is taken literally",
                    name,
                ))
            out.assigned[name] = raw
        if len(pairs) == 1:
            name, raw = pairs[0]
            out.lines.append(Line("assign", line, name, raw))
        else:  # several assignments on one line: rewritten as one line each on save
            for name, raw in pairs:
                out.lines.append(Line("assign", assign_text(name, raw), name, raw))
    return out


def _unsafe_line(out: ParsedFile, filename: str, number: int, line: str, unsafe: str) -> None:
    """Keep a line bash would not read as a plain assignment, unread, and report it as an error."""
    out.lines.append(Line("raw", line))
    out.problems.append(problem(
        "error", f"{filename} line {number} is not a plain assignment: {unsafe} when the file is "
        "sourced; not read, kept as is"))


def render_file(name: str, lines: Iterable[Line], current: Mapping[str, str], new: Iterable[str]) -> str:
    """The file as saved: ``lines`` updated in place, then the ``new`` names appended.

    Args:
        name: the session's name (for the header).
        lines: the lines as read; comments, unknown and unparsable lines are kept where they were.
        current: every name the session sets now -> its raw value (names missing here are dropped).
        new: names of ``current`` to append, in order, when no line of the file sets them.
    """
    out = [header_text(name)]
    written: set[str] = set()
    body: list[str] = []
    for line in lines:
        if line.kind == "header":
            continue
        if line.kind != "assign":
            body.append(line.text)
            continue
        assert line.name is not None
        if line.name not in current or line.name in written:
            continue
        raw = current[line.name]
        body.append(line.text if raw == line.raw else assign_text(line.name, raw))
        written.add(line.name)
    while body and not body[0].strip(_BLANKS):
        body.pop(0)
    body += [assign_text(n, current[n]) for n in new if n not in written]
    return "\n".join(out + body) + "\n"
