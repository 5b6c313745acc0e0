"""The :class:`Session` model: a named set of variable values, loaded from, edited in, and saved
to its session file (the package docstring, :mod:`tui.session`, says what a session holds and why).

Why here, apart from names, file format and diff: this is the one place that knows the rules of
editing (the default rule, all-or-nothing updates, merging with another writer's save).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backend import envs
from backend.atomic_files import atomic_write_bytes
from backend.envs import REGISTRY, EnvError, Problem, Resolved
from tui.session.diff import DiffRow, diff_rows
from tui.session.file_format import IDENT_RE, Line, assign_text, header_text, parse_file, problem, render_file
from tui.session.names import SessionConflict, SessionError, list_sessions, session_path, validate_name
from tui.session_file import Stamp, session_lock


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
        self._lines: list[Line] = []
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
        """Take in the file's text: managed names to ``values``, the others to ``unknown``, problems kept."""
        parsed = parse_file(text, self.path.name)
        self._lines, self._line_problems = parsed.lines, parsed.problems
        for name, raw in parsed.assigned.items():
            target = self.values if name in REGISTRY else self.unknown
            target[name] = raw
        self.load_problems = self._line_problems + self._value_problems()
        self.dirty = False
        self._base = {**self.unknown, **self.values}

    def _value_problems(self) -> list[Problem]:
        problems = []
        for name, raw in self.values.items():
            if raw == "":
                continue
            try:
                envs.settings.read_value(REGISTRY[name], raw, self.is_strict())
            except EnvError as exc:
                problems.append(problem("error", str(exc), name))
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
        if not IDENT_RE.match(name):
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
        other._lines = [Line(x.kind, x.text, x.name, x.raw) for x in self._lines]
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
        """Variables whose values differ (:func:`tui.session.diff.diff_rows`).

        Args:
            other: the session on the right; None compares with the registry defaults.
        """
        if other is None:
            return diff_rows(self.values, self.unknown, {}, {})
        return diff_rows(self.values, self.unknown, other.values, other.unknown)

    # -- writing ------------------------------------------------------------------------

    def export_text(self) -> str:
        """Clean ``export NAME=value`` lines for ``eval``/``source``: a header, managed values in
        registry order, then unknown names sorted.  Secrets are included (it is for the shell)."""
        out = [header_text(self.name)]
        out += [assign_text(n, self.values[n]) for n in REGISTRY if n in self.values]
        out += [assign_text(n, self.unknown[n]) for n in sorted(self.unknown)]
        return "\n".join(out) + "\n"

    def file_text(self) -> str:
        """What :meth:`save` writes: the loaded file updated in place (comments, unknown lines and
        unparsable lines kept where they were), new variables appended in registry order."""
        new = [n for n in REGISTRY if n in self.values] + sorted(self.unknown)
        return render_file(self.name, self._lines, {**self.unknown, **self.values}, new)


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
