"""Value kinds: how a raw environment string becomes a typed value, one parser per kind.

Why two readings per kind: :meth:`Kind.read` reads a value the way the runtime that consumes it
does (sglang's ``get_bool_env_var``, plain ``int()``/``float()``, strings as-is), so every value the
runtime accepts is accepted, and what it accepts but reads surprisingly comes back as a note
(a warning saying what the runtime will do). :meth:`Kind.parse` is the strict reading (``--strict``):
only the documented spellings.  Built-in declarations and variables discovered in an installed
sglang go through the same kinds.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import os
import re
from dataclasses import dataclass
from typing import Any, ClassVar

STRICT_BOOL_TRUE = frozenset({"true", "1", "yes", "on"})
STRICT_BOOL_FALSE = frozenset({"false", "0", "no", "off"})
UPSTREAM_BOOL_TRUE = frozenset({"1", "true", "yes", "y", "t", "on"})
"""sglang 0.5.23 ``multimodal_gen/runtime/utils/common.py:get_bool_env_var``: stripped, lower-cased."""
UPSTREAM_BOOL_FALSE = frozenset({"0", "false", "no", "n", "f", "off", ""})
_INT_RE = re.compile(r"^[+-]?\d+$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_URL_RE = re.compile(r"^https?://[^\s/?#]+(:\d+)?(/[^\s]*)?$", re.IGNORECASE)
MASK = "********"
SECRET_NAMES: set[str] = set()
"""Names of the secret variables, added as each is declared (``EnvVar``), so that an :class:`EnvError`
raised down here for one of them masks its value without asking the registry above (no import cycle)."""


def mask_secret(raw: str) -> str:
    """Mask a secret: never any of its characters (not even its length)."""
    return MASK if raw else ""


_URL_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s/?#@:]*)(?::[^\s/?#@]*)?@")


def mask_url_userinfo(text: str) -> str:
    """Mask the password of every URL in ``text``: ``http://user:pw@host`` -> ``http://user:********@host``.

    Why here: an endpoint URL is no secret variable, yet its userinfo is; every display path
    (errors, the registry's ``display``, the backend's log lines) goes through this one function.
    A userinfo without a colon (``http://token@host``) is all secret and masked whole.
    """
    if "@" not in text or "://" not in text:
        return text

    def masked(m: re.Match[str]) -> str:
        if ":" in m.group(0)[len(m.group("scheme")):]:
            return f"{m.group('scheme')}{m.group('user')}:{MASK}@"
        return f"{m.group('scheme')}{MASK}@"

    return _URL_USERINFO_RE.sub(masked, text)


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
        if not _INT_RE.match(text):
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


@dataclass(frozen=True)
class TextKind(Kind):
    """Any text, passed to the runtime as-is (discovered string variables)."""

    def parse(self, name: str, raw: str) -> str:
        if "\0" in raw or "\n" in raw:
            raise EnvError(name, raw, self.allowed(), "contains a NUL or newline")
        return raw

    def read(self, name: str, raw: str) -> Reading:
        value = self.parse(name, raw)
        if raw == "":
            return Reading(raw, f"{name} is set but empty: the runtime reads the empty string, not the default")
        return Reading(value)

    def allowed(self) -> str:
        return "any text on one line"

    def examples(self) -> tuple[str, ...]:
        return ("auto",)


@dataclass(frozen=True)
class PathKind(Kind):
    """A filesystem path; ``~`` is expanded as SGLang does."""

    absolute: bool = False
    suffixes: tuple[str, ...] = ()
    widget = "path"

    def parse(self, name: str, raw: str) -> str:
        if "\0" in raw or "\n" in raw:
            raise EnvError(name, raw, self.allowed(), "contains a NUL or newline")
        path = os.path.expanduser(raw)
        if self.absolute and not os.path.isabs(path):
            raise EnvError(name, raw, self.allowed(), "relative path")
        if self.suffixes and not path.lower().endswith(self.suffixes):
            raise EnvError(name, raw, self.allowed(), "unsupported file type")
        return path

    def read(self, name: str, raw: str) -> Reading:
        if "\0" in raw or "\n" in raw:
            raise EnvError(name, raw, self.allowed(), "contains a NUL or newline")
        path = os.path.expanduser(raw)
        if raw == "":
            return Reading(path, f"{name} is set but empty: the runtime reads the empty path, not the default")
        if self.suffixes and not path.lower().endswith(self.suffixes):
            raise EnvError(name, raw, self.allowed(), "unsupported file type: it cannot be loaded")
        if self.absolute and not os.path.isabs(path):
            return Reading(path, f"{name}={raw!r} is relative: it is resolved against the runtime's working directory")
        return Reading(path)

    def allowed(self) -> str:
        parts = ["an absolute path" if self.absolute else "a path"]
        if self.suffixes:
            parts.append("ending in " + "/".join(self.suffixes))
        return " ".join(parts)

    def examples(self) -> tuple[str, ...]:
        if self.suffixes:
            return tuple(f"/tmp/attn{s}" for s in self.suffixes)
        return ("/tmp/sgl", "/var/tmp/sgl diffusion")


@dataclass(frozen=True)
class LogDestKind(Kind):
    """``stdout``, ``stderr`` or a file path in which ``%i`` becomes the process id."""

    widget = "path"

    def parse(self, name: str, raw: str) -> str:
        text = raw.strip()
        if text in ("stdout", "stderr"):
            return text
        if "\0" in raw or "\n" in raw:
            raise EnvError(name, raw, self.allowed(), "contains a NUL or newline")
        return raw

    def read(self, name: str, raw: str) -> Reading:
        value = self.parse(name, raw)
        if raw != raw.strip() and raw.strip() in ("stdout", "stderr"):
            return Reading(raw, f"{name}={raw!r}: the runtime compares exactly, so this is a file named {raw!r}")
        return Reading(value)

    def allowed(self) -> str:
        return "stdout, stderr, or a file path (%i becomes the process id)"

    def examples(self) -> tuple[str, ...]:
        return ("stdout", "stderr", "/tmp/kernel_api_%i.log")


@dataclass(frozen=True)
class IntListKind(Kind):
    """Comma-separated positive integers (SCM custom bins)."""

    def parse(self, name: str, raw: str) -> tuple[int, ...]:
        items = [p.strip() for p in raw.split(",")]
        try:
            values = tuple(int(p) if _INT_RE.match(p) else 0 for p in items)
        except ValueError:  # more digits than int() converts
            values = (0,)
        if not items or any(v <= 0 for v in values):
            raise EnvError(name, raw, self.allowed())
        return values

    def read(self, name: str, raw: str) -> Reading:
        try:
            values = tuple(int(p.strip()) for p in raw.split(","))
        except ValueError:
            raise EnvError(name, raw, self.allowed(), "sglang logs 'Failed to parse SCM bins' and turns SCM off") from None
        if any(v <= 0 for v in values):
            return Reading(values, f"{name}={raw!r} holds a run length <= 0; cache-dit receives it unchecked")
        return Reading(values)

    def allowed(self) -> str:
        return "comma-separated positive integers, e.g. 8,3,3,2"

    def format(self, value: Any) -> str:
        return ",".join(str(v) for v in value)

    def examples(self) -> tuple[str, ...]:
        return ("8,3,3,2", "4, 2")


@dataclass(frozen=True)
class PatternsKind(Kind):
    """Comma-separated fnmatch wildcard patterns matched against kernel API names."""

    def parse(self, name: str, raw: str) -> tuple[str, ...]:
        items = tuple(p.strip() for p in raw.split(","))
        if any(not p for p in items):
            raise EnvError(name, raw, self.allowed(), "empty pattern")
        for p in items:
            try:
                re.compile(fnmatch.translate(p))
            except re.error:
                raise EnvError(name, raw, self.allowed(), f"bad pattern {p!r}") from None
        return items

    def read(self, name: str, raw: str) -> Reading:
        items = tuple(p.strip() for p in raw.split(",") if p.strip())  # the runtime drops empty items
        if not items:
            return Reading(items, f"{name}={raw!r} holds no pattern; the runtime reads it as no filter")
        return Reading(self.parse(name, ",".join(items)))

    def allowed(self) -> str:
        return "comma-separated wildcard patterns, e.g. backend.attention.*,*decode*"

    def format(self, value: Any) -> str:
        return ",".join(value)

    def examples(self) -> tuple[str, ...]:
        return ("backend.attention.*", "*decode*,*norm*")


@dataclass(frozen=True)
class MatchedKind(Kind):
    """A string that must match one pattern (URL, bucket, region): the kinds differ only in data."""

    PATTERN: ClassVar[re.Pattern[str]] = re.compile(".*")
    ALLOWED: ClassVar[str] = ""
    EXAMPLES: ClassVar[tuple[str, ...]] = ()
    NEVER: ClassVar[tuple[str, ...]] = ()
    """Substrings the pattern lets through but the service refuses."""
    EMPTY_IS_UNSET: ClassVar[bool] = True
    """sglang passes an empty value on and boto3 reads it as unset."""

    def read(self, name: str, raw: str) -> Reading:
        if self.EMPTY_IS_UNSET and not raw.strip():
            return Reading(None, f"{name} is set but empty: the runtime reads it as unset (boto3 decides)")
        return Reading(self.parse(name, raw))

    def parse(self, name: str, raw: str) -> str:
        text = raw.strip()
        if not self.PATTERN.match(text) or any(bad in text for bad in self.NEVER):
            raise EnvError(name, raw, self.allowed())
        return text

    def allowed(self) -> str:
        return self.ALLOWED

    def examples(self) -> tuple[str, ...]:
        return self.EXAMPLES


@dataclass(frozen=True)
class UrlKind(MatchedKind):
    PATTERN = _URL_RE
    ALLOWED = "an http:// or https:// URL, e.g. http://127.0.0.1:9000"
    EXAMPLES = ("http://127.0.0.1:9000", "https://s3.example.com")


@dataclass(frozen=True)
class BucketKind(MatchedKind):
    PATTERN = _BUCKET_RE
    ALLOWED = "an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens, starting and ending alphanumeric"
    EXAMPLES = ("outputs", "my-bucket.images")
    NEVER = ("..",)
    EMPTY_IS_UNSET = False


@dataclass(frozen=True)
class RegionKind(MatchedKind):
    PATTERN = _REGION_RE
    ALLOWED = "a region name of lower-case letters, digits and hyphens, e.g. us-east-1"
    EXAMPLES = ("us-east-1", "eu-central-1", "oss-cn-hangzhou")


@dataclass(frozen=True)
class SecretKind(Kind):
    """A credential: any non-blank text without whitespace; never shown or logged."""

    def parse(self, name: str, raw: str) -> str:
        if not raw.strip() or any(ch.isspace() for ch in raw) or "\0" in raw:
            raise EnvError(name, raw, self.allowed(), secret=True)
        return raw

    def allowed(self) -> str:
        return "non-empty text without whitespace"

    def examples(self) -> tuple[str, ...]:
        return ("AKIAEXAMPLE", "s3cr3t/Key+value")
