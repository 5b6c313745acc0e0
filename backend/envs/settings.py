"""Resolution: each variable's effective value, where it came from, and the backend's typed Settings.

Two readings (see :mod:`backend.envs.kinds`).  By default a value is read as the sglang runtime
reads it: an empty string is a value (booleans: false; numbers: an error, since ``int("")``
raises), and a surprising but accepted value carries a note.  Strict mode (``--strict`` or
``SGL_CONSOLE_STRICT=1``) keeps the documented spellings only and treats ``""`` as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from backend.envs.declarations import REGISTRY, EnvVar, Runtime
from backend.envs.kinds import UPSTREAM_BOOL_TRUE, EnvError, Reading

T = TypeVar("T")

STRICT_VAR = "SGL_CONSOLE_STRICT"
"""Console setting (not a runtime variable): a true value makes strict parsing the default."""


def strict_mode(environ: Mapping[str, str] | None = None, strict: bool | None = None) -> bool:
    """``strict`` when given, else ``SGL_CONSOLE_STRICT`` of ``environ`` (``os.environ`` if None)."""
    if strict is not None:
        return strict
    env = os.environ if environ is None else environ
    return env.get(STRICT_VAR, "").strip().lower() in UPSTREAM_BOOL_TRUE


class Source(str, Enum):
    SESSION = "session"
    ENVIRONMENT = "environment"
    INHERITED = "inherited"
    DEFAULT = "default"


@dataclass(frozen=True)
class Resolved:
    """The effective value of one variable with its provenance."""

    var: EnvVar[Any]
    raw: str | None
    """The string that was set, or None when nothing set it (default or inherited)."""
    value: Any
    source: Source
    error: str | None = None
    note: str = ""
    """Accepted, but the runtime reads it surprisingly: what it will do (a warning)."""

    def shown(self) -> str:
        """The value as it may be displayed: secrets masked, unset as ``unset``."""
        if self.raw is not None:
            return self.var.display(self.raw)
        if self.value is None:
            return self.var.default_text or "unset"
        return self.var.display(self.var.format(self.value))


def _pick(name: str, layers: list[tuple[Source, Mapping[str, str]]], strict: bool) -> tuple[Source, str] | None:
    for source, values in layers:
        raw = values.get(name)
        if raw is not None and (raw != "" or not strict):
            return source, raw
    return None


def read_value(var: EnvVar[Any], raw: str, strict: bool) -> Reading:
    """One raw value in the chosen mode.  Raises :class:`EnvError`."""
    if strict:
        return Reading(var.parse(raw))
    return var.read(raw)


def resolve(
    session: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    strict: bool | None = None,
) -> dict[str, Resolved]:
    """Effective value of every variable: session over process environment over inherited over default.

    Args:
        session: values set in the named session (raw strings).
        environ: the process environment (defaults to ``os.environ``); also feeds XDG defaults.
        strict: strict parsing; None reads ``SGL_CONSOLE_STRICT`` from ``environ``.
    Returns:
        name -> :class:`Resolved`, in registry order.  Bad values keep ``error`` and fall back to the default.
    """
    env = dict(os.environ if environ is None else environ)
    is_strict = strict_mode(env, strict)
    layers = [(Source.SESSION, session or {}), (Source.ENVIRONMENT, env)]
    out: dict[str, Resolved] = {}
    for var in list(REGISTRY.values()):
        picked = _pick(var.name, layers, is_strict)
        if picked is not None:
            source, raw = picked
            try:
                reading = read_value(var, raw, is_strict)
                out[var.name] = Resolved(var, raw, reading.value, source, note=reading.note)
            except EnvError as exc:
                out[var.name] = Resolved(var, raw, var.default_value(env), source, str(exc))
            continue
        if var.inherits_from and var.inherits_from in out:
            parent = out[var.inherits_from]
            out[var.name] = Resolved(var, None, parent.value, Source.INHERITED)
            continue
        out[var.name] = Resolved(var, None, var.default_value(env), Source.DEFAULT)
    return out


class Settings:
    """Typed, validated settings for the backend: ``settings.cache_dit_rdt`` or ``settings[CACHE_DIT_RDT]``."""

    def __init__(self, resolved: Mapping[str, Resolved]) -> None:
        self._resolved = dict(resolved)
        self._by_attr = {r.var.attr: r for r in resolved.values()}

    def __getitem__(self, var: EnvVar[T]) -> T:
        return self._resolved[var.name].value

    def __getattr__(self, attr: str) -> Any:
        try:
            return self._by_attr[attr].value
        except KeyError:
            raise AttributeError(attr) from None

    def is_set(self, var: EnvVar[Any]) -> bool:
        """True when the variable was given explicitly (not default, not inherited)."""
        return self._resolved[var.name].raw is not None

    def resolved(self) -> dict[str, Resolved]:
        return dict(self._resolved)

    def notes(self) -> list[str]:
        """What the runtime reads surprisingly (warnings for the backend's log)."""
        return [r.note for r in self._resolved.values() if r.note]

    def masked(self) -> dict[str, str]:
        """Every effective value as display text with secrets masked (dev endpoints, logs)."""
        return {name: r.shown() for name, r in self._resolved.items()}


def cache_root(environ: Mapping[str, str] | None = None) -> str:
    """``SGLANG_DIFFUSION_CACHE_ROOT`` as resolved from ``environ`` (``os.environ`` if None): the XDG
    default when unset, ``~`` expanded.  The one place the console finds runs, logs and caches under."""
    env = os.environ if environ is None else environ
    return os.path.expanduser(str(resolve({}, env)[Runtime.CACHE_ROOT.name].value))


def load_settings(environ: Mapping[str, str] | None = None, strict: bool | None = None) -> Settings:
    """Parse every variable from ``environ`` (default ``os.environ``) for the backend.

    Raises:
        EnvError: the first invalid value; the message names variable, value and what is allowed.
    """
    env = dict(os.environ if environ is None else environ)
    is_strict = strict_mode(env, strict)
    resolved = resolve(None, env, is_strict)
    for r in resolved.values():
        if r.error:
            read_value(r.var, r.raw or "", is_strict)  # raises the same EnvError, with its exact message
    return Settings(resolved)


def to_json_safe(resolved: Mapping[str, Resolved]) -> list[dict[str, Any]]:
    """Rows for ``env show --json``: secrets masked, values as display strings."""
    return [
        {"name": r.var.name, "pane": r.var.pane.value if r.var.pane else "", "value": r.shown(),
         "source": r.source.value, "default": r.var.describe_default(), "secret": r.var.secret,
         "error": r.error, "note": r.note or None, "origin": r.var.origin}
        for r in resolved.values()
    ]
