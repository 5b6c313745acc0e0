"""The string kinds: free text, paths, log destinations, integer lists, kernel API patterns,
matched strings (URL, bucket, region) and secrets.

Why its own module: these are read as strings by the runtime; what they check is shape (absolute
path, ``fnmatch`` patterns, a bucket name's characters), not number parsing.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from backend.envs.kinds import INT_RE, EnvError, Kind, Reading

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_URL_RE = re.compile(r"^https?://[^\s/?#]+(:\d+)?(/[^\s]*)?$", re.IGNORECASE)


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
            values = tuple(int(p) if INT_RE.match(p) else 0 for p in items)
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
