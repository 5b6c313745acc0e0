"""Where sessions live and what they may be called: the config root, the sessions directory,
name validation and listing.

Why its own module: the CLI, the save-as screen and the model all need names and paths, and none
of that needs a session's values or file format.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from backend import envs
from backend.envs import EnvError

SESSION_SUFFIX = ".env"
"""File name suffix of a session file."""

DEFAULTS_NAME = "defaults"
"""Reserved: ``env diff A defaults`` compares against the registry defaults, so no session has this name."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class SessionError(Exception):
    """A session cannot be named, found, read or written; the message says which and why."""


class SessionConflict(SessionError):
    """The file changed on disk since this session was read: saving would lose the other writer's update."""


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
