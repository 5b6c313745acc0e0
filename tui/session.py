"""Named sessions: the operator's variable values, kept as a shell file they can ``source``.

A session is one file, ``$SGLANG_DIFFUSION_CONFIG_ROOT/console/sessions/<name>.env``, of
``export NAME=value`` lines (values quoted with :func:`shlex.quote`), mode 0600, written
atomically.  Why a shell file: the same file drives the console's backend, a real
``sglang generate`` in another terminal (``source default.env``) and a CI job.

What a session holds, and the choices behind it:

* ``values``: managed variables (names in :data:`backend.envs.REGISTRY`) set explicitly,
  as raw strings.  Invalid values found while loading are *kept* (so the operator can
  see and fix them) and reported in ``load_problems``; :meth:`Session.set` refuses them.
* ``unknown``: every other name the file sets.  Kept and written back unchanged (the
  original line, byte for byte, while its value is unchanged).  Names under a managed
  prefix are probably typos and :func:`backend.envs.check` warns about them.
* Comments and lines the loader cannot parse are kept in place on save, and unparsable
  lines are reported with their line number, never silently dropped.
* "A session is the set of values that differ from the defaults": :meth:`Session.set`
  with a value equal to the variable's own, fixed default removes the variable from the
  session, *unless* the process environment sets that variable (then the explicit value
  is needed to override it).  Variables whose default depends on the environment (XDG
  paths) or that have no own default (secondary-transformer twins, which inherit) are
  always kept: there an explicit value means "pin this", not "same as the default".
  A value equal to the default that is already in the file is kept as written.
* An empty string means unset, as in the registry.

Importing this module imports neither textual nor rich, reads nothing and writes nothing.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import envs
from backend.atomic_files import atomic_write_bytes, clean_stale_temp_files
from backend.envs import REGISTRY, EnvError, Problem, Resolved
from tui.session_file import Stamp, crlf_problem, session_lock, shell_hazard

SESSION_SUFFIX = ".env"
"""File name suffix of a session file."""

HEADER = "# sgl-console session"
"""First words of the generated header comment; lines starting with it are regenerated on save."""

DEFAULTS_NAME = "defaults"
"""Reserved: ``env diff A defaults`` compares against the registry defaults, so no session has this name."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A temp file whose writer is on another host (pid unknown here) counts as stale after this long."""


class SessionError(Exception):
    """A session cannot be named, found, read or written; the message says which and why."""


class SessionConflict(SessionError):
    """The file changed on disk since this session was read: saving would lose the other writer's update."""


@dataclass(frozen=True)
class DiffRow:
    """One variable whose values differ between two sessions (or a session and the defaults).

    ``left``/``right`` are display strings: secrets masked, and a side that does not set the
    variable shows what applies instead (``default: 0.24``, ``inherits SGLANG_CACHE_DIT_FN``).
    """

    name: str
    left: str
    right: str
    left_set: bool
    """True when the left side sets the variable explicitly."""
    right_set: bool
    secret: bool = False
    """True for secrets: both sides are masked, so the row only says that they differ."""


@dataclass
class _Line:
    """One line of a session file, kept so that save rewrites the file in place."""

    kind: str
    """``header``, ``comment``, ``blank``, ``assign`` or ``raw`` (unparsable, kept verbatim)."""
    text: str
    name: str | None = None
    raw: str | None = None
    """For ``assign``: the value as the file gave it (after shell unquoting)."""


# ---------------------------------------------------------------------------------------
# Locations and names.
# ---------------------------------------------------------------------------------------


def config_root(environ: Mapping[str, str] | None = None) -> Path:
    """The configuration root resolved through the registry (the variable, else the XDG default).

    An invalid value in the environment falls back to the default, as :func:`envs.resolve` does.
    """
    env = os.environ if environ is None else environ
    var = envs.CONFIG_ROOT
    raw = env.get(var.name, "")
    if raw:
        try:
            return Path(var.parse(raw))
        except EnvError:
            pass
    return Path(str(var.default_value(env)))


def sessions_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$SGLANG_DIFFUSION_CONFIG_ROOT/console/sessions``; nothing is created.

    Args:
        environ: the process environment (``os.environ`` when None).
    """
    return config_root(environ) / "console" / "sessions"


def validate_name(name: str) -> str:
    """Return ``name`` if it can name a session, else raise :class:`SessionError` saying why.

    Allowed: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit,
    at most 100 characters, not ``defaults`` (reserved for ``env diff``).
    """
    if not isinstance(name, str) or not name:
        raise SessionError("a session name must not be empty")
    if "/" in name or "\\" in name or os.sep in name:
        raise SessionError(f"session name {name!r} must not contain a path separator")
    if not _NAME_RE.match(name):
        raise SessionError(
            f"session name {name!r} is not valid: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 100 characters)"
        )
    if name == DEFAULTS_NAME:
        raise SessionError(f"{DEFAULTS_NAME!r} is reserved (it means the registry defaults in 'env diff')")
    return name


def session_path(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """The file of session ``name`` (validated)."""
    return sessions_dir(environ) / f"{validate_name(name)}{SESSION_SUFFIX}"


def list_sessions(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of the saved sessions, sorted; temp files and other files are ignored."""
    directory = sessions_dir(environ)
    try:
        entries = list(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = []
    for entry in entries:
        stem = entry.name[: -len(SESSION_SUFFIX)] if entry.name.endswith(SESSION_SUFFIX) else None
        if stem and _NAME_RE.match(stem) and stem != DEFAULTS_NAME and entry.is_file():
            names.append(stem)
    return sorted(names)


# ---------------------------------------------------------------------------------------
# Parsing and writing lines.
# ---------------------------------------------------------------------------------------


def _has_expansion(text: str) -> bool:
    """True when ``text`` has ``$`` or a backquote outside single quotes (the shell would expand it)."""
    if "$" not in text and "`" not in text:
        return False
    quote = ""
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
            continue
        if quote == "'":
            if ch == "'":
                quote = ""
            continue
        if ch == "\\":
            escaped = True
        elif ch in "$`":
            return True
        elif ch == '"':
            quote = "" if quote == '"' else '"'
        elif ch == "'" and not quote:
            quote = "'"
    return False


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
    body = text.strip()
    if body.startswith("export") and body[6:7] in (" ", "\t"):
        body = body[6:].lstrip()
    words = shlex.split(body, comments=True, posix=True)
    if not words:
        raise ValueError("nothing to assign")
    pairs = []
    for word in words:
        name, eq, raw = word.partition("=")
        if not eq or not _IDENT_RE.match(name):
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


def _assign_text(name: str, raw: str) -> str:
    return f"export {name}={shlex.quote(raw)}"


_HEADER_NOTE = "# Edit freely: comments and unknown names are kept; values are checked when loaded."


def _header(name: str) -> str:
    return f"{HEADER} {name!r}: written by sgl-console; load it with 'source' or 'set -a; . FILE'.\n{_HEADER_NOTE}"


def _problem(severity: str, message: str, *names: str) -> Problem:
    return Problem(severity, tuple(names), message)


# ---------------------------------------------------------------------------------------
# The session.
# ---------------------------------------------------------------------------------------


class Session:
    """A named set of variable values, loaded from and saved to its session file.

    Create one with :meth:`load`, :meth:`new`, :meth:`open` or :meth:`from_environ`.
    """

    def __init__(self, name: str, environ: Mapping[str, str] | None = None) -> None:
        self.name: str = validate_name(name)
        self.environ: Mapping[str, str] | None = environ
        """The environment the session was opened in (None: ``os.environ`` at each use)."""
        self.values: dict[str, str] = {}
        """Managed variables set in this session: name -> raw string (possibly invalid)."""
        self.unknown: dict[str, str] = {}
        """Names the registry does not know: name -> raw string, written back unchanged."""
        self.load_problems: list[Problem] = []
        """Every problem found while loading: unparsable lines, invalid values, duplicates."""
        self.dirty: bool = False
        """True when there are changes not yet saved."""
        self._lines: list[_Line] = []
        self._line_problems: list[Problem] = []
        self.strict: bool | None = None
        """Strict parsing for this session; None follows ``SGL_CONSOLE_STRICT``."""
        self._stamp: Stamp | None = None
        """The file as read (None: never read, so a save does not check for another writer)."""
        self._base: dict[str, str] = {}
        """Values and unknown names as read, to merge local changes onto a newer file."""

    # -- construction -------------------------------------------------------------------

    @classmethod
    def new(cls, name: str, environ: Mapping[str, str] | None = None) -> Session:
        """An empty session named ``name``; nothing is written until :meth:`save`."""
        return cls(name, environ)

    @classmethod
    def load(cls, name: str, environ: Mapping[str, str] | None = None) -> Session:
        """Read session ``name`` from its file.

        Bad lines and values do not raise: they are kept and listed in ``load_problems``.

        Raises:
            SessionError: bad name, no such session, or the file cannot be read.
        """
        session = cls(name, environ)
        try:
            # bytes, not read_text(): universal newlines would turn a quoted "\r" into "\n"
            data = session.path.read_bytes()
            text = data.decode("utf-8", errors="surrogateescape")
            session._stamp = Stamp.of_bytes(data)
        except FileNotFoundError:
            raise SessionError(f"no session named {name!r} (looked for {session.path})") from None
        except OSError as exc:
            raise SessionError(f"cannot read session {name!r}: {exc.strerror or exc}") from None
        session._read(text)
        return session

    @classmethod
    def open(cls, name: str, environ: Mapping[str, str] | None = None) -> Session:
        """:meth:`load` when the session exists, else :meth:`new`."""
        try:
            return cls.load(name, environ)
        except SessionError:
            if session_path(name, environ).exists():
                raise
            session = cls.new(name, environ)
            session._stamp = Stamp("")  # read as absent: a file created meanwhile is another writer's
            return session

    @classmethod
    def from_environ(cls, name: str, environ: Mapping[str, str]) -> Session:
        """A new (unsaved, dirty) session holding the managed variables set in ``environ``.

        Empty values are skipped (empty means unset); invalid ones are kept and reported
        in ``load_problems``.  Other names in the environment are not taken.
        """
        session = cls(name, environ)
        for var in REGISTRY.values():
            raw = environ.get(var.name)
            if raw:
                session.values[var.name] = raw
        session.load_problems = session._value_problems()
        session.dirty = bool(session.values)
        return session

    list_sessions = staticmethod(list_sessions)

    def _read(self, text: str) -> None:
        lines = text.split("\n")  # not splitlines(): \x1e, \x0c, \u2028... may sit inside a quoted value
        if lines and lines[-1] == "":
            lines.pop()
        seen: dict[str, int] = {}
        index = 0
        while index < len(lines):
            number, line = index + 1, lines[index]
            index += 1
            stripped = line.strip()
            if not stripped:
                self._lines.append(_Line("blank", line))
                continue
            if stripped.startswith("#"):
                kind = "header" if stripped.startswith(HEADER) or stripped == _HEADER_NOTE else "comment"
                self._lines.append(_Line(kind, line))
                continue
            unsafe = crlf_problem(line) or shell_hazard(line)
            if unsafe:
                self._unsafe_line(number, line, unsafe)
                continue
            try:
                pairs, used = _parse_logical_line(lines, number - 1)
                line = "\n".join(lines[number - 1 : number - 1 + used])
                index = number - 1 + used
            except ValueError as exc:
                self._lines.append(_Line("raw", line))
                self._line_problems.append(
                    _problem("error", f"{self.path.name} line {number}: cannot parse ({exc}); kept as is")
                )
                continue
            unsafe = crlf_problem(line) or shell_hazard(line)
            if unsafe:
                self._unsafe_line(number, line, unsafe)
                continue
            for name, raw in pairs:
                if name in seen:
                    self._line_problems.append(
                        _problem(
                            "warning",
                            f"{self.path.name} line {number}: {name} was already set on line "
                            f"{seen[name]}; the later value wins",
                            name,
                        )
                    )
                seen[name] = number
                if _has_expansion(line):
                    self._line_problems.append(
                        _problem(
                            "warning",
                            f"{self.path.name} line {number}: {name} uses shell expansion ($ or `), "
                            "which the console does not evaluate; the value is taken literally",
                            name,
                        )
                    )
                target = self.values if name in REGISTRY else self.unknown
                target[name] = raw
            if len(pairs) == 1:
                name, raw = pairs[0]
                self._lines.append(_Line("assign", line, name, raw))
            else:  # several assignments on one line: rewritten as one line each on save
                for name, raw in pairs:
                    self._lines.append(_Line("assign", _assign_text(name, raw), name, raw))
        self.load_problems = self._line_problems + self._value_problems()
        self.dirty = False
        self._base = {**self.unknown, **self.values}

    def _unsafe_line(self, number: int, line: str, unsafe: str) -> None:
        """Keep a line bash would not read as a plain assignment, unread, and report it as an error."""
        self._lines.append(_Line("raw", line))
        self._line_problems.append(_problem(
            "error", f"{self.path.name} line {number} is not a plain assignment: {unsafe} when the file is "
            "sourced; not read, kept as is"))

    def _value_problems(self) -> list[Problem]:
        problems = []
        for name, raw in self.values.items():
            if raw == "":
                continue
            try:
                envs.settings.read_value(REGISTRY[name], raw, self.is_strict())
            except EnvError as exc:
                problems.append(_problem("error", str(exc), name))
        return problems

    # -- identity -----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The session file (it may not exist yet)."""
        return session_path(self.name, self.environ)

    @property
    def exists(self) -> bool:
        """True when the session file exists on disk."""
        return self.path.is_file()

    def __repr__(self) -> str:
        return f"Session({self.name!r}, values={len(self.values)}, unknown={len(self.unknown)}, dirty={self.dirty})"

    # -- values -------------------------------------------------------------------------

    def is_strict(self) -> bool:
        """Strict parsing (``--strict`` sets ``self.strict``; else ``SGL_CONSOLE_STRICT``)."""
        return envs.strict_mode(self._env(), self.strict)

    def _env(self, environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
        if environ is not None:
            return environ
        return os.environ if self.environ is None else self.environ

    def get(self, name: str) -> str | None:
        """The raw value this session sets for ``name`` (managed or unknown), or None."""
        if name in self.values:
            return self.values[name]
        return self.unknown.get(name)

    def set(self, name: str, raw: str) -> None:
        """Set ``name`` to ``raw`` in this session.

        An empty string unsets.  A managed variable's value is parsed strictly; a value
        equal to its fixed default is removed instead of stored unless the environment
        sets the variable (see the module docstring).  A name the registry does not know
        is stored in ``unknown`` unless it sits under a managed prefix (then it is a typo).

        Raises:
            EnvError: the value is invalid, or the name is an unknown one under a managed
                prefix, or not a shell variable name.  Nothing changes then.
        """
        if raw == "":
            self.unset(name)
            return
        var = REGISTRY.get(name)
        if var is None:
            self._check_unknown_name(name, raw)
            if self.unknown.get(name) != raw:
                self.unknown[name] = raw
                self.dirty = True
            return
        value = envs.settings.read_value(var, raw, self.is_strict()).value
        if self._is_plain_default(name, value):
            self.unset(name)
            return
        if self.values.get(name) != raw:
            self.values[name] = raw
            self.dirty = True

    def _is_plain_default(self, name: str, value: Any) -> bool:
        var = REGISTRY[name]
        if var.default is None or callable(var.default) or var.inherits_from:
            return False
        if self._env().get(name):
            return False  # the environment sets it: the explicit value is what overrides it
        return bool(value == var.default)

    @staticmethod
    def _check_unknown_name(name: str, raw: str) -> None:
        if not _IDENT_RE.match(name):
            raise EnvError(name, raw, "a shell variable name (letters, digits, _)", "not a variable name")
        if "\0" in raw:
            raise EnvError(name, raw, "text without NUL", "contains a NUL")
        if name.startswith(envs.MANAGED_PREFIXES):
            hint = envs.unknown_names([name])
            reason = hint[0].message.split("; ", 1)[1] if hint and "; " in hint[0].message else ""
            raise EnvError(
                name,
                raw,
                "a variable this console manages (sgl-console env docs)",
                ("unknown variable" + (f"; {reason}" if reason else "")),
            )

    def unset(self, name: str) -> None:
        """Remove ``name`` from the session (managed or unknown); a no-op when it is not set."""
        if self.values.pop(name, None) is not None or self.unknown.pop(name, None) is not None:
            self.dirty = True

    def update(self, assignments: Mapping[str, str]) -> None:
        """Set several values at once: all of them, or none if any is invalid.

        Raises:
            EnvError: the first invalid assignment; the session is unchanged.
        """
        trial = self.copy()
        for name, raw in assignments.items():
            trial.set(name, raw)
        self.values, self.unknown = trial.values, trial.unknown
        self.dirty = self.dirty or trial.dirty

    def copy(self, name: str | None = None) -> Session:
        """An in-memory copy (optionally renamed); the file is not touched."""
        other = Session(name or self.name, self.environ)
        other.values = dict(self.values)
        other.unknown = dict(self.unknown)
        other.load_problems = list(self.load_problems)
        other.dirty = self.dirty
        other.strict = self.strict
        other._lines = [_Line(x.kind, x.text, x.name, x.raw) for x in self._lines]
        other._line_problems = list(self._line_problems)
        return other

    # -- what the values mean -------------------------------------------------------------

    def problems(
        self, environ: Mapping[str, str] | None = None, host_platforms: frozenset[str] | None = None
    ) -> list[Problem]:
        """Every problem now, errors first: the file's line problems plus :func:`envs.check`.

        Args:
            environ: the process environment the backend would inherit.
            host_platforms: platforms present (detected when None).
        """
        layer = {**self.unknown, **self.values}
        env = self._env(environ)
        found = self._line_problems + envs.check(layer, env, host_platforms, envs.strict_mode(env, self.strict))
        unique = list(dict.fromkeys(found))
        return sorted(unique, key=lambda p: 0 if p.is_error else 1)

    def has_errors(self, environ: Mapping[str, str] | None = None,
                   host_platforms: frozenset[str] | None = None) -> bool:
        """True when :meth:`problems` holds an error (a launch would be refused)."""
        return any(p.is_error for p in self.problems(environ, host_platforms))

    def resolved(self, environ: Mapping[str, str] | None = None) -> dict[str, Resolved]:
        """Effective value and source of every variable (session over environment over default)."""
        env = self._env(environ)
        return envs.resolve(self.values, env, envs.strict_mode(env, self.strict))

    def child_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a launched process: the inherited one with this session on top."""
        env = dict(self._env(environ))
        env.update(self.unknown)
        env.update(self.values)
        return env

    def diff(self, other: Session | None) -> list[DiffRow]:
        """Variables whose values differ, in registry order, then unknown names sorted.

        Args:
            other: the session on the right; None compares with the registry defaults.
        Returns:
            One :class:`DiffRow` per variable that differs (secrets masked).  Two values
            that parse to the same thing (``1`` and ``true``) do not differ.
        """
        right_values = {} if other is None else other.values
        right_unknown = {} if other is None else other.unknown
        rows = []
        for var in REGISTRY.values():
            left, right = self.values.get(var.name), right_values.get(var.name)
            if left is None and right is None:
                continue
            if _same(var, left, right):
                continue
            rows.append(DiffRow(var.name, _side(var, left), _side(var, right),
                                left is not None, right is not None, var.secret))
        for name in sorted(set(self.unknown) | set(right_unknown)):
            left, right = self.unknown.get(name), right_unknown.get(name)
            if left != right:
                rows.append(DiffRow(name, "unset" if left is None else left,
                                    "unset" if right is None else right, left is not None, right is not None))
        return rows

    # -- writing ------------------------------------------------------------------------

    def export_text(self) -> str:
        """Clean ``export NAME=value`` lines for ``eval``/``source``: a header, managed values in
        registry order, then unknown names sorted.  Secrets are included (it is for the shell)."""
        out = [_header(self.name)]
        out += [_assign_text(n, self.values[n]) for n in REGISTRY if n in self.values]
        out += [_assign_text(n, self.unknown[n]) for n in sorted(self.unknown)]
        return "\n".join(out) + "\n"

    def file_text(self) -> str:
        """What :meth:`save` writes: the loaded file updated in place (comments, unknown lines and
        unparsable lines kept where they were), new variables appended in registry order."""
        current = {**self.unknown, **self.values}
        out = [_header(self.name)]
        written: set[str] = set()
        body: list[str] = []
        for line in self._lines:
            if line.kind == "header":
                continue
            if line.kind != "assign":
                body.append(line.text)
                continue
            assert line.name is not None
            if line.name not in current or line.name in written:
                continue
            raw = current[line.name]
            body.append(line.text if raw == line.raw else _assign_text(line.name, raw))
            written.add(line.name)
        while body and not body[0].strip():
            body.pop(0)
        new = [n for n in REGISTRY if n in self.values and n not in written]
        new += [n for n in sorted(self.unknown) if n not in written]
        body += [_assign_text(n, current[n]) for n in new]
        return "\n".join(out + body) + "\n"

    def changed_on_disk(self) -> bool:
        """True when the file is no longer what this session read (another writer saved it)."""
        return self._stamp is not None and Stamp.of(self.path) != self._stamp

    def local_changes(self) -> dict[str, str | None]:
        """Names changed since the file was read: name -> new raw value, None for unset."""
        now = {**self.unknown, **self.values}
        changes: dict[str, str | None] = {n: v for n, v in now.items() if self._base.get(n) != v}
        changes.update({n: None for n in self._base if n not in now})
        return changes

    def reload(self) -> None:
        """Drop local changes and read the file as it is now on disk."""
        fresh = Session.load(self.name, self.environ)
        self.__dict__.update(fresh.__dict__)

    def merge_from_disk(self) -> list[str]:
        """Read the file as it is now and re-apply this session's local changes on top.

        Returns:
            The names that both this session and the other writer changed (this session's value wins).
        """
        changes = self.local_changes()
        base = dict(self._base)
        self.reload()
        disk = {**self.unknown, **self.values}
        both = sorted(n for n in changes if disk.get(n) != base.get(n) and disk.get(n) != changes[n])
        for name, raw in changes.items():
            target = self.values if name in REGISTRY else self.unknown
            if raw is None:
                self.values.pop(name, None)
                self.unknown.pop(name, None)
            else:
                target[name] = raw
        self.dirty = bool(changes)
        return both

    def save(self, force: bool = False) -> Path:
        """Write the session file atomically (mode 0600) and mark the session clean.

        Holds the session's lock, and refuses (:class:`SessionConflict`) when the file changed on
        disk since it was read, unless ``force``: another writer's update is never lost silently.

        A temp file in the same directory (created 0600, O_EXCL) is written, flushed and
        fsynced, then renamed over the file, and the directory is fsynced: a kill at any
        moment leaves the old file or the new one, never a torn one.  Temp files left by
        killed writers of this session are removed.

        Raises:
            SessionError: the directory or file cannot be written.
        """
        path = self.path
        text = self.file_text()
        data = text.encode("utf-8", errors="surrogateescape")
        try:
            with session_lock(path):
                if not force and self.changed_on_disk():
                    raise SessionConflict(
                        f"session {self.name!r} changed on disk since it was loaded ({path}); "
                        "reload it or merge your changes, nothing was written")
                atomic_write_bytes(path, data, follow_symlink=True)  # an operator's link: keep it
        except OSError as exc:
            raise SessionError(
                f"cannot save session {self.name!r} to {path}: {exc.strerror or exc}"
            ) from None
        self._stamp = Stamp.of_bytes(data)
        # Re-read what was written so line numbers and kept lines match the file on disk.
        self.values, self.unknown, self._lines, self._line_problems = {}, {}, [], []
        self._read(text)
        return path

    def save_as(self, name: str) -> Path:
        """Rename the session to ``name`` and save it there (the old file stays)."""
        validate_name(name)
        self.name = name
        self._stamp = None  # a new file: the save-as screen already asked before replacing one
        return self.save()

    def delete(self) -> None:
        """Remove the session file (a missing file is fine)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _same(var: envs.EnvVar[Any], left: str | None, right: str | None) -> bool:
    if left == right:
        return True
    if left is None or right is None:
        return False
    try:
        return bool(var.read(left).value == var.read(right).value)  # equal as the runtime reads them
    except EnvError:
        return False


def _side(var: envs.EnvVar[Any], raw: str | None) -> str:
    if raw is None:
        text = var.describe_default()  # a default is never a secret value
        return text if text.startswith("inherits") or text == "unset" else f"default: {text}"
    return var.display(raw)


__all__ = [
    "DEFAULTS_NAME", "DiffRow", "Session", "SessionConflict", "SessionError", "clean_stale_temp_files", "config_root",
    "list_sessions", "session_path", "sessions_dir", "validate_name",
]
