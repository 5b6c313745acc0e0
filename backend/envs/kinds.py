"""Value kinds: how a raw environment string becomes a typed value, one parser per kind.

Why two readings per kind: :meth:`Kind.read` reads a value the way the runtime that consumes it
does (sglang's ``get_bool_env_var``, plain ``int()``/``float()``, strings as-is), so every value the
runtime accepts is accepted, and what it accepts but reads surprisingly comes back as a note
(a warning saying what the runtime will do). :meth:`Kind.parse` is the strict reading (``--strict``):
only the documented spellings.  Built-in declarations and variables discovered in an installed
sglang go through the same kinds.

Rooms: this module is the contract every kind follows (:class:`Kind`, :class:`Reading`,
:class:`EnvError`); :mod:`~backend.envs.scalar_kinds` holds the booleans, numbers, levels and
choices, :mod:`~backend.envs.text_kinds` the strings (paths, patterns, lists, URLs, secrets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backend.envs.masking import SECRET_NAMES, mask_secret, mask_url_userinfo

STRICT_BOOL_TRUE = frozenset({"true", "1", "yes", "on"})
STRICT_BOOL_FALSE = frozenset({"false", "0", "no", "off"})
UPSTREAM_BOOL_TRUE = frozenset({"1", "true", "yes", "y", "t", "on"})
"""sglang 0.5.23 ``multimodal_gen/runtime/utils/common.py:get_bool_env_var``: stripped, lower-cased."""
UPSTREAM_BOOL_FALSE = frozenset({"0", "false", "no", "n", "f", "off", ""})
INT_RE = re.compile(r"^[+-]?\d+$")
"""An integer as Python's ``int()`` reads it (sign, digits)."""


class EnvError(ValueError):
    """A value a variable cannot take; the message names the variable, value and what is allowed."""

    def __init__(self, name: str, value: str, allowed: str, reason: str = "", secret: bool | None = None) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        self.reason = reason
        if secret is None:
            secret = name in SECRET_NAMES
        shown = mask_secret(value) if secret else mask_url_userinfo(value)
        why = f" ({reason})" if reason else ""
        super().__init__(f"{name}={shown!r} is not valid{why}; allowed: {allowed}")


@dataclass(frozen=True)
class Reading:
    """What the runtime makes of a raw value, plus a note when that is surprising."""

    value: Any
    note: str = ""


class Kind:
    """How a raw string becomes a typed value.  Subclasses stay stateless apart from options."""

    widget = "input"
    """Which editor widget the console uses: input, switch, select, number, path."""
    empty_is_value = False
    """True when the runtime reads ``""`` as a value (booleans: false), not as a failure."""

    def parse(self, name: str, raw: str) -> Any:
        """Strict reading: only documented spellings.  Raises :class:`EnvError`."""
        raise NotImplementedError

    def read(self, name: str, raw: str) -> Reading:
        """Upstream reading (the runtime's own rules).  Raises :class:`EnvError` only for what
        would crash the runtime or be silently ignored by it.  Default: the strict reading."""
        return Reading(self.parse(name, raw))

    def allowed(self) -> str:
        """Human description of what is allowed, used in every error message."""
        raise NotImplementedError

    def format(self, value: Any) -> str:
        """The canonical string for a typed value (used for defaults and exports)."""
        return str(value)

    def examples(self) -> tuple[str, ...]:
        """A few valid raw values (docs, tests, placeholders)."""
        return ()
