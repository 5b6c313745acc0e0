"""The scalar kinds: booleans, integers, log levels, floats and choices.

Why its own module: these kinds share the runtime's numeric and boolean readings (``int()``,
``float()``, ``get_bool_env_var``) and their surprises (``1.5`` for an int, ``maybe`` for a bool).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from backend.envs.kinds import (
    INT_RE,
    STRICT_BOOL_FALSE,
    STRICT_BOOL_TRUE,
    UPSTREAM_BOOL_FALSE,
    UPSTREAM_BOOL_TRUE,
    EnvError,
    Kind,
    Reading,
)


@dataclass(frozen=True)
class BoolKind(Kind):
    widget = "switch"
    empty_is_value = True

    def parse(self, name: str, raw: str) -> bool:
        word = raw.strip().lower()
        if word in STRICT_BOOL_TRUE:
            return True
        if word in STRICT_BOOL_FALSE:
            return False
        raise EnvError(name, raw, self.allowed())

    def read(self, name: str, raw: str) -> Reading:
        word = raw.strip().lower()
        if word in UPSTREAM_BOOL_TRUE:
            return Reading(True)
        if word == "":
            return Reading(False, f"{name} is set but empty: sglang reads it as false (not as unset)")
        if word in UPSTREAM_BOOL_FALSE:
            return Reading(False)
        return Reading(False, f"{name}={raw!r} is not a boolean sglang understands; the runtime reads it as false")

    def allowed(self) -> str:
        return "true/false, 1/0, yes/no, on/off (any case)"

    def format(self, value: Any) -> str:
        return "true" if value else "false"

    def examples(self) -> tuple[str, ...]:
        return ("true", "0", "YES", "off")


@dataclass(frozen=True)
class OneKind(Kind):
    """A flag that is either the literal ``1`` or unset (SGLANG_USE_MLX)."""

    widget = "switch"

    def parse(self, name: str, raw: str) -> bool:
        if raw.strip() == "1":
            return True
        raise EnvError(name, raw, self.allowed())

    def read(self, name: str, raw: str) -> Reading:
        if raw.strip() == "1":
            return Reading(True)
        return Reading(False, f"{name}={raw!r}: only the literal 1 turns it on; the runtime treats this as off")

    def allowed(self) -> str:
        return "1 (or leave unset)"

    def format(self, value: Any) -> str:
        return "1" if value else ""

    def examples(self) -> tuple[str, ...]:
        return ("1",)


def python_int(name: str, raw: str, allowed: str) -> int:
    """``int(raw)`` as the runtime calls it (whitespace, sign, ``_`` separators); EnvError when it raises."""
    try:
        return int(raw)
    except ValueError:
        reason = "empty: sglang's int() raises" if not raw.strip() else "int() raises ValueError at run time"
        raise EnvError(name, raw, allowed, reason) from None


@dataclass(frozen=True)
class IntKind(Kind):
    minimum: int | None = None
    choices: tuple[int, ...] = ()
    widget = "number"

    def parse(self, name: str, raw: str) -> int:
        text = raw.strip()
        if not INT_RE.match(text):
            raise EnvError(name, raw, self.allowed(), "not an integer")
        try:
            value = int(text)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            raise EnvError(name, raw, self.allowed(), "too many digits") from None
        if self.choices and value not in self.choices:
            raise EnvError(name, raw, self.allowed())
        if self.minimum is not None and value < self.minimum:
            raise EnvError(name, raw, self.allowed(), f"below {self.minimum}")
        return value

    def read(self, name: str, raw: str) -> Reading:
        value = python_int(name, raw, "an integer (Python int())")
        if self.choices and value not in self.choices:
            return Reading(value, f"{name}={value} is outside the documented {self.allowed()}; "
                                  f"the runtime passes {value} on unchecked")
        if self.minimum is not None and value < self.minimum:
            return Reading(value, f"{name}={value} is below the documented minimum {self.minimum}; "
                                  f"the runtime passes {value} on unchecked")
        return Reading(value)

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.minimum is not None:
            return f"an integer >= {self.minimum}"
        return "an integer"

    def examples(self) -> tuple[str, ...]:
        if self.choices:
            return tuple(str(c) for c in self.choices)
        low = self.minimum or 0
        return (str(low), str(low + 3), str(low + 12))


@dataclass(frozen=True)
class LevelKind(Kind):
    """A logging level read with ``int()`` and compared with ``>=`` thresholds (kernel API logging).

    Upstream, a value ``int()`` cannot read is logged once and replaced by the default 0: logging
    silently stays off, so that is an error here.  Any integer works; between thresholds it acts
    as the level below (2 as 1, 4 as 3), and a negative level is not 0, so it logs as level 1.
    """

    levels: tuple[int, ...] = (0, 1, 3, 5, 10)
    widget = "number"

    @property
    def choices(self) -> tuple[int, ...]:
        """The documented levels (what the console's picker offers)."""
        return self.levels

    def parse(self, name: str, raw: str) -> int:
        return IntKind(choices=self.levels).parse(name, raw)

    def effective(self, value: int) -> int:
        """The documented level that ``value`` behaves as."""
        if value == 0:
            return 0
        below = [lvl for lvl in self.levels if 0 < lvl <= value]
        return max(below) if below else min(lvl for lvl in self.levels if lvl > 0)

    def read(self, name: str, raw: str) -> Reading:
        try:
            value = int(raw)
        except ValueError:
            raise EnvError(name, raw, "an integer", "sglang cannot read it as int and silently keeps logging off") from None
        if value in self.levels:
            return Reading(value)
        return Reading(value, f"{name}={value} is not a documented level; the runtime behaves as level "
                              f"{self.effective(value)}")

    def allowed(self) -> str:
        return "one of " + ", ".join(str(c) for c in self.levels)

    def examples(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.levels)


@dataclass(frozen=True)
class FloatKind(Kind):
    exclusive_minimum: float | None = None
    widget = "number"

    def parse(self, name: str, raw: str) -> float:
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            raise EnvError(name, raw, self.allowed(), "not a number") from None
        if not math.isfinite(value):
            raise EnvError(name, raw, self.allowed(), "not a finite number")
        if self.exclusive_minimum is not None and value <= self.exclusive_minimum:
            raise EnvError(name, raw, self.allowed(), f"must be > {self.exclusive_minimum:g}")
        return value

    def read(self, name: str, raw: str) -> Reading:
        try:
            value = float(raw)
        except ValueError:
            reason = "empty: sglang's float() raises" if not raw.strip() else "float() raises ValueError at run time"
            raise EnvError(name, raw, "a number (Python float())", reason) from None
        if not math.isfinite(value):
            return Reading(value, f"{name}={raw!r} is not finite; the runtime uses {value} as is")
        if self.exclusive_minimum is not None and value <= self.exclusive_minimum:
            return Reading(value, f"{name}={value:g} is not above {self.exclusive_minimum:g} as documented; "
                                  f"the runtime uses it as is")
        return Reading(value)

    def allowed(self) -> str:
        if self.exclusive_minimum is not None:
            return f"a finite number > {self.exclusive_minimum:g}"
        return "a finite number"

    def format(self, value: Any) -> str:
        return repr(float(value))

    def examples(self) -> tuple[str, ...]:
        return ("0.08", "0.24", "1.5")


@dataclass(frozen=True)
class EnumKind(Kind):
    """One of a set of words.

    ``runtime_exact``: the runtime compares the raw string exactly (cache-dit's preset names), so
    another case or spelling is passed on unchanged and, where it is used, fails there.
    ``runtime_aliases``: extra spellings the runtime itself accepts (FP4 backend ``cudnn``).
    """

    choices: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    case_sensitive: bool = True
    runtime_aliases: tuple[tuple[str, str], ...] = ()
    ignored_when_unknown: bool = False
    """The runtime silently ignores any other value (storage type): an error, not a note."""
    widget = "select"

    def _table(self, extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
        fold = (lambda s: s) if self.case_sensitive else str.lower
        table = {fold(c): c for c in self.choices}
        table.update({fold(a): c for a, c in self.aliases + extra})
        return table

    def parse(self, name: str, raw: str) -> str:
        text = raw.strip()
        table = self._table()
        key = text if self.case_sensitive else text.lower()
        if key in table:
            return table[key]
        near = difflib.get_close_matches(key, list(table), n=1)
        reason = f"did you mean {table[near[0]]!r}?" if near else ""
        raise EnvError(name, raw, self.allowed(), reason)

    def read(self, name: str, raw: str) -> Reading:
        table = self._table(self.runtime_aliases)
        key = raw if self.case_sensitive else raw.strip().lower()
        if key in table:
            return Reading(table[key])
        near = difflib.get_close_matches(raw.strip().lower(), [c.lower() for c in self.choices], n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        if self.ignored_when_unknown:
            raise EnvError(name, raw, self.allowed(runtime=True), "the runtime silently ignores any other value" + hint)
        return Reading(raw, f"{name}={raw!r} is none of {self.allowed(runtime=True)}; the runtime receives "
                            f"{raw!r} unchanged{hint}")

    def allowed(self, runtime: bool = False) -> str:
        text = ", ".join(self.choices)
        aliases = self.aliases + (self.runtime_aliases if runtime else ())
        if aliases:
            text += " (aliases: " + ", ".join(f"{a}={c}" for a, c in aliases) + ")"
        if not self.case_sensitive:
            text += ", any case"
        return text

    def examples(self) -> tuple[str, ...]:
        return self.choices
