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

Rooms: :mod:`~tui.session.names` (where sessions live, what they may be called),
:mod:`~tui.session.file_format` (the file read and written as bash sees it),
:mod:`~tui.session.model` (:class:`Session`: values and the editing rules),
:mod:`~tui.session.diff` (``env diff``); :mod:`tui.session_file` guards the file (bash hazards, locks).
This ``__init__`` is the package's public API.

Importing this package imports neither textual nor rich, reads nothing and writes nothing.
"""

from __future__ import annotations

from tui.session.diff import DiffRow
from tui.session.model import Session
from tui.session.names import (
    DEFAULTS_NAME,
    SESSION_SUFFIX,
    SessionConflict,
    SessionError,
    config_root,
    list_sessions,
    session_path,
    sessions_dir,
    validate_name,
)

__all__ = [
    "DEFAULTS_NAME", "SESSION_SUFFIX", "DiffRow", "Session", "SessionConflict", "SessionError", "config_root",
    "list_sessions", "session_path", "sessions_dir", "validate_name",
]
