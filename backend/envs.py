"""The variable registry: every environment variable the product manages, declared once.

Why one module: the console's panes, validation, the session file, the docs table and
the backend's typed settings are all generated from these declarations, so adding a
variable is one entry here (see ``shared/spec/env-vars.md``, the contract).

Importing this module reads nothing, writes no ``os.environ`` and creates no directory;
it imports neither torch nor textual.

Parsing is strict where real SGLang is lax: an unknown boolean, ``RDT=abc`` or a
misspelt enum is rejected with a message naming the variable, the value and what is
allowed.  **Empty strings**: a variable set to the empty string is treated exactly as
if it were unset (its default or inherited value applies) and ``check`` reports a
warning saying so; SGLang itself would read ``""`` as false for booleans and as an
empty path for strings, which is never what an operator means.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from backend.platforms import PLATFORM_NAMES, detect_host_platforms

T = TypeVar("T")


class Pane(str, Enum):
    """The console pane a variable is edited in."""

    RUNTIME = "Runtime"
    PLATFORM = "Platform"
    CACHING = "Caching"
    STORAGE = "Storage"
    DEBUG = "Debug"


class EnvError(ValueError):
    """A value a variable cannot take; the message names the variable, value and what is allowed."""

    def __init__(self, name: str, value: str, allowed: str, reason: str = "") -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        self.reason = reason
        shown = _mask_if_secret(name, value)
        why = f" ({reason})" if reason else ""
        super().__init__(f"{name}={shown!r} is not valid{why}; allowed: {allowed}")


# ---------------------------------------------------------------------------------------
# Kinds: one strict parser per kind of value, shared by every variable of that kind.
# ---------------------------------------------------------------------------------------

_BOOL_TRUE = frozenset({"true", "1", "yes", "on"})
_BOOL_FALSE = frozenset({"false", "0", "no", "off"})
_INT_RE = re.compile(r"^[+-]?\d+$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_URL_RE = re.compile(r"^https?://[^\s/?#]+(:\d+)?(/[^\s]*)?$", re.IGNORECASE)


class Kind:
    """How a raw string becomes a typed value.  Subclasses stay stateless apart from options."""

    widget = "input"
    """Which editor widget the console uses: input, switch, select, number, path."""

    def parse(self, name: str, raw: str) -> Any:
        raise NotImplementedError

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

    def parse(self, name: str, raw: str) -> bool:
        word = raw.strip().lower()
        if word in _BOOL_TRUE:
            return True
        if word in _BOOL_FALSE:
            return False
        raise EnvError(name, raw, self.allowed())

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

    def allowed(self) -> str:
        return "1 (or leave unset)"

    def format(self, value: Any) -> str:
        return "1" if value else ""

    def examples(self) -> tuple[str, ...]:
        return ("1",)


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
    choices: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    case_sensitive: bool = True
    widget = "select"

    def parse(self, name: str, raw: str) -> str:
        text = raw.strip()
        key = text if self.case_sensitive else text.lower()
        table = {c if self.case_sensitive else c.lower(): c for c in self.choices}
        table.update({a if self.case_sensitive else a.lower(): c for a, c in self.aliases})
        if key in table:
            return table[key]
        near = difflib.get_close_matches(key, list(table), n=1)
        reason = f"did you mean {table[near[0]]!r}?" if near else ""
        raise EnvError(name, raw, self.allowed(), reason)

    def allowed(self) -> str:
        text = ", ".join(self.choices)
        if self.aliases:
            text += " (aliases: " + ", ".join(f"{a}={c}" for a, c in self.aliases) + ")"
        if not self.case_sensitive:
            text += ", any case"
        return text

    def examples(self) -> tuple[str, ...]:
        return self.choices


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

    def allowed(self) -> str:
        return "comma-separated wildcard patterns, e.g. backend.attention.*,*decode*"

    def format(self, value: Any) -> str:
        return ",".join(value)

    def examples(self) -> tuple[str, ...]:
        return ("backend.attention.*", "*decode*,*norm*")


@dataclass(frozen=True)
class UrlKind(Kind):
    def parse(self, name: str, raw: str) -> str:
        text = raw.strip()
        if not _URL_RE.match(text):
            raise EnvError(name, raw, self.allowed())
        return text

    def allowed(self) -> str:
        return "an http:// or https:// URL, e.g. http://127.0.0.1:9000"

    def examples(self) -> tuple[str, ...]:
        return ("http://127.0.0.1:9000", "https://s3.example.com")


@dataclass(frozen=True)
class BucketKind(Kind):
    def parse(self, name: str, raw: str) -> str:
        text = raw.strip()
        if not _BUCKET_RE.match(text) or ".." in text:
            raise EnvError(name, raw, self.allowed())
        return text

    def allowed(self) -> str:
        return "an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens, starting and ending alphanumeric"

    def examples(self) -> tuple[str, ...]:
        return ("outputs", "my-bucket.images")


@dataclass(frozen=True)
class RegionKind(Kind):
    def parse(self, name: str, raw: str) -> str:
        text = raw.strip()
        if not _REGION_RE.match(text):
            raise EnvError(name, raw, self.allowed())
        return text

    def allowed(self) -> str:
        return "a region name of lower-case letters, digits and hyphens, e.g. us-east-1"

    def examples(self) -> tuple[str, ...]:
        return ("us-east-1", "eu-central-1", "oss-cn-hangzhou")


@dataclass(frozen=True)
class SecretKind(Kind):
    """A credential: any non-blank text without whitespace; never shown or logged."""

    def parse(self, name: str, raw: str) -> str:
        if not raw.strip() or any(ch.isspace() for ch in raw) or "\0" in raw:
            raise EnvError(name, raw, self.allowed())
        return raw

    def allowed(self) -> str:
        return "non-empty text without whitespace"

    def examples(self) -> tuple[str, ...]:
        return ("AKIAEXAMPLE", "s3cr3t/Key+value")


# ---------------------------------------------------------------------------------------
# The variable declaration.
# ---------------------------------------------------------------------------------------

DefaultFn = Callable[[Mapping[str, str]], Any]


@dataclass(frozen=True)
class EnvVar(Generic[T]):
    """One managed variable.  Everything the console and the backend know about it is here."""

    name: str
    pane: Pane
    kind: Kind
    doc: str
    default: Any = None
    """The typed default; ``None`` means unset.  A callable takes the environment (XDG paths)."""
    default_text: str | None = None
    """How the default is shown when it is not a plain value (e.g. ``auto``)."""
    inherits_from: str | None = None
    """Secondary-transformer variables take their primary twin's value when unset."""
    platforms: tuple[str, ...] = ()
    """Platforms it has an effect on; empty means every platform."""
    secret: bool = False
    group: str = ""
    """Sub-heading inside the pane (e.g. ``Secondary transformer``)."""
    hot_reload: bool = False
    """True when a running backend picks up changes without a restart."""

    @property
    def attr(self) -> str:
        """Settings attribute name: lower case, without the ``SGLANG_`` prefix."""
        return self.name.removeprefix("SGLANG_").lower()

    def parse(self, raw: str) -> T:
        """Parse a raw, non-empty string strictly.  Raises :class:`EnvError`."""
        value = self.kind.parse(self.name, raw)
        if "\0" in raw:  # no environment variable can hold a NUL (execve would refuse it)
            raise EnvError(self.name, raw, self.kind.allowed(), "contains a NUL")
        return value  # type: ignore[no-any-return]

    def default_value(self, environ: Mapping[str, str] | None = None) -> T | None:
        """The default, computed for XDG-derived paths from ``environ`` (``os.environ`` if None)."""
        if callable(self.default):
            return self.default(os.environ if environ is None else environ)  # type: ignore[no-any-return]
        return self.default  # type: ignore[no-any-return]

    def format(self, value: Any) -> str:
        """The canonical string for ``value``; an empty string for unset."""
        if value is None:
            return ""
        return self.kind.format(value)

    def describe_default(self, environ: Mapping[str, str] | None = None) -> str:
        if self.default_text is not None:
            return self.default_text
        if self.inherits_from:
            return f"inherits {self.inherits_from}"
        value = self.default_value(environ)
        return "unset" if value is None else self.format(value)

    def display(self, raw: str | None) -> str:
        """What may be shown on screen or in a log: secrets are masked, and so is a URL's password."""
        if raw is None:
            return ""
        return mask_secret(raw) if self.secret else mask_url_userinfo(raw)


def mask_secret(raw: str) -> str:
    """Mask a secret: its length class only, never any of its characters."""
    return "********" if raw else ""


_URL_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s/?#@:]*)(?::[^\s/?#@]*)?@")


def mask_url_userinfo(text: str) -> str:
    """Mask the password of every URL in ``text``: ``http://user:pw@host`` -> ``http://user:********@host``.

    A userinfo without a colon (``http://token@host``) is all secret and masked whole.
    """
    if "@" not in text or "://" not in text:
        return text

    def masked(m: re.Match[str]) -> str:
        if ":" in m.group(0)[len(m.group("scheme")):]:
            return f"{m.group('scheme')}{m.group('user')}:{mask_secret('x')}@"
        return f"{m.group('scheme')}{mask_secret('x')}@"

    return _URL_USERINFO_RE.sub(masked, text)


def _mask_if_secret(name: str, value: str) -> str:
    var = REGISTRY.get(name) if "REGISTRY" in globals() else None
    return mask_secret(value) if var is not None and var.secret else mask_url_userinfo(value)


def _xdg_default(xdg_var: str, fallback: str) -> DefaultFn:
    def default(environ: Mapping[str, str]) -> str:
        base = environ.get(xdg_var, "")
        if not base:  # an empty XDG variable is treated as unset (SGLang would make a relative path)
            home = environ.get("HOME") or os.path.expanduser("~")
            base = os.path.join(home, fallback)
        return os.path.join(os.path.expanduser(base), "sgl_diffusion")

    return default


# ---------------------------------------------------------------------------------------
# The declarations, in pane order.  Names and defaults are SGLang diffusion's own.
# ---------------------------------------------------------------------------------------

_R, _P, _C, _S, _D = Pane.RUNTIME, Pane.PLATFORM, Pane.CACHING, Pane.STORAGE, Pane.DEBUG
DEVICES = ("cuda", "rocm", "xpu", "npu", "musa", "mps", "cpu")
ATTENTION_BACKENDS = (
    "fa", "torch_sdpa", "sliding_tile_attn", "sage_attn", "sage_attn_3", "video_sparse_attn",
    "vmoba_attn", "aiter", "aiter_sage", "sla_attn", "sage_sla_attn", "sparse_video_gen_2_attn",
)  # fmt: skip
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SCM_PRESETS = ("none", "slow", "medium", "fast", "ultra")
KERNEL_API_LEVELS = (0, 1, 3, 5, 10)

TARGET_DEVICE: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_TARGET_DEVICE", _R, EnumKind(DEVICES),
    "Device the backend runs on; unset picks cuda where present, else the best device found.",
    default=None, default_text="auto (cuda where present)")  # fmt: skip
ATTENTION_BACKEND: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_ATTENTION_BACKEND", _R,
    EnumKind(ATTENTION_BACKENDS, aliases=(("fa3", "fa"), ("fa4", "fa")), case_sensitive=False),
    "Forces one attention implementation; one that is unavailable falls back to torch_sdpa with a warning.",
    default=None, default_text="auto")  # fmt: skip
ATTENTION_CONFIG: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_ATTENTION_CONFIG", _R, PathKind(suffixes=(".json", ".yaml", ".yml")),
    "Per-backend attention parameters file; watched and re-applied on every save.",
    hot_reload=True)  # fmt: skip
STAGE_LOGGING: EnvVar[bool] = EnvVar(
    "SGLANG_DIFFUSION_STAGE_LOGGING", _R, BoolKind(),
    "Records per-stage and per-step timings and appends them to performance.log.", default=False)  # fmt: skip
SERVER_DEV_MODE: EnvVar[bool] = EnvVar(
    "SGLANG_DIFFUSION_SERVER_DEV_MODE", _R, BoolKind(),
    "Adds debugging HTTP endpoints (health, settings, memory, timings) to a resident backend.",
    default=False)  # fmt: skip
TORCH_PROFILER_DIR: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_TORCH_PROFILER_DIR", _R, PathKind(absolute=True),
    "When set, every request writes a torch profiler trace into this absolute directory.")  # fmt: skip
CACHE_ROOT: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_CACHE_ROOT", _R, PathKind(),
    "Where caches go (compile caches, the console's full logs).",
    default=_xdg_default("XDG_CACHE_HOME", ".cache"),
    default_text="$XDG_CACHE_HOME/sgl_diffusion, else ~/.cache/sgl_diffusion")  # fmt: skip
CONFIG_ROOT: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_CONFIG_ROOT", _R, PathKind(),
    "Where configuration goes; the console keeps its named sessions under it.",
    default=_xdg_default("XDG_CONFIG_HOME", ".config"),
    default_text="$XDG_CONFIG_HOME/sgl_diffusion, else ~/.config/sgl_diffusion")  # fmt: skip
LOGGING_LEVEL: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_LOGGING_LEVEL", _R, EnumKind(LOG_LEVELS, case_sensitive=False),
    "Log level of the runtime (our backend honours it; real SGLang reads --log-level instead).",
    default="INFO")  # fmt: skip
WORKER_MULTIPROC_METHOD: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD", _R, EnumKind(("fork", "spawn")),
    "How worker processes are started when a batch is split across workers.", default="fork")  # fmt: skip
USE_RUNAI_MODEL_STREAMER: EnvVar[bool] = EnvVar(
    "SGLANG_USE_RUNAI_MODEL_STREAMER", _R, BoolKind(),
    "Streams safetensors weights with the Run:AI model streamer when that package is installed.",
    default=True)  # fmt: skip

USE_MLX: EnvVar[bool] = EnvVar(
    "SGLANG_USE_MLX", _P, OneKind(),
    "Apple MPS only: MLX fused Metal kernels for the norm ops.", platforms=("mps",))  # fmt: skip
USE_ROCM_VAE: EnvVar[bool] = EnvVar(
    "SGLANG_USE_ROCM_VAE", _P, BoolKind(),
    "ROCm only: swap the VAE's GroupNorm for AITer's fused GroupNorm.", default=False,
    platforms=("rocm",))  # fmt: skip
USE_ROCM_CUDNN_BENCHMARK: EnvVar[bool] = EnvVar(
    "SGLANG_USE_ROCM_CUDNN_BENCHMARK", _P, BoolKind(),
    "ROCm only: let MIOpen auto-tune the VAE convolutions.", default=False, platforms=("rocm",))  # fmt: skip
FLASHINFER_FP4_GEMM_BACKEND: EnvVar[str] = EnvVar(
    "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND", _P,
    EnumKind(("flashinfer_cudnn", "flashinfer_cutlass", "flashinfer_trtllm")),
    "FP4 GEMM kernel family for NVFP4-quantized weights (acts only on such weights).",
    platforms=("cuda",), group="Quantization")  # fmt: skip

CACHE_DIT_ENABLED: EnvVar[bool] = EnvVar(
    "SGLANG_CACHE_DIT_ENABLED", _C, BoolKind(), "Turns Cache-DiT block caching on.", default=False)
CACHE_DIT_FN: EnvVar[int] = EnvVar(
    "SGLANG_CACHE_DIT_FN", _C, IntKind(minimum=0), "First N transformer blocks, always computed.",
    default=1, group="Primary transformer")  # fmt: skip
CACHE_DIT_BN: EnvVar[int] = EnvVar(
    "SGLANG_CACHE_DIT_BN", _C, IntKind(minimum=0), "Last N transformer blocks, always computed.",
    default=0, group="Primary transformer")  # fmt: skip
CACHE_DIT_WARMUP: EnvVar[int] = EnvVar(
    "SGLANG_CACHE_DIT_WARMUP", _C, IntKind(minimum=0), "Steps always computed before caching may start.",
    default=4, group="Primary transformer")  # fmt: skip
CACHE_DIT_RDT: EnvVar[float] = EnvVar(
    "SGLANG_CACHE_DIT_RDT", _C, FloatKind(exclusive_minimum=0.0),
    "Residual-difference threshold under which a step reuses the cache (higher: faster, lossier).",
    default=0.24, group="Primary transformer")  # fmt: skip
CACHE_DIT_MC: EnvVar[int] = EnvVar(
    "SGLANG_CACHE_DIT_MC", _C, IntKind(minimum=0), "Most consecutive steps that may come from the cache.",
    default=3, group="Primary transformer")  # fmt: skip
CACHE_DIT_TAYLORSEER: EnvVar[bool] = EnvVar(
    "SGLANG_CACHE_DIT_TAYLORSEER", _C, BoolKind(), "TaylorSeer calibration of cached residuals.",
    default=False, group="Primary transformer")  # fmt: skip
CACHE_DIT_TS_ORDER: EnvVar[int] = EnvVar(
    "SGLANG_CACHE_DIT_TS_ORDER", _C, IntKind(choices=(1, 2)), "TaylorSeer order.",
    default=1, group="Primary transformer")  # fmt: skip
CACHE_DIT_SCM_PRESET: EnvVar[str] = EnvVar(
    "SGLANG_CACHE_DIT_SCM_PRESET", _C, EnumKind(SCM_PRESETS),
    "Step computation mask preset: which steps are computed and which come from the cache.",
    default="none", group="Step computation mask")  # fmt: skip
CACHE_DIT_SCM_POLICY: EnvVar[str] = EnvVar(
    "SGLANG_CACHE_DIT_SCM_POLICY", _C, EnumKind(("dynamic", "static")),
    "How masked steps are served: dynamic (residual-gated) or static cache.",
    default="dynamic", group="Step computation mask")  # fmt: skip
CACHE_DIT_SCM_COMPUTE_BINS: EnvVar[tuple[int, ...]] = EnvVar(
    "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS", _C, IntListKind(),
    "Custom mask: lengths of the computed runs (needs SCM_CACHE_BINS too).",
    group="Step computation mask")  # fmt: skip
CACHE_DIT_SCM_CACHE_BINS: EnvVar[tuple[int, ...]] = EnvVar(
    "SGLANG_CACHE_DIT_SCM_CACHE_BINS", _C, IntListKind(),
    "Custom mask: lengths of the cached runs (needs SCM_COMPUTE_BINS too).",
    group="Step computation mask")  # fmt: skip


def _secondary(primary: EnvVar[Any], suffix: str) -> EnvVar[Any]:
    """The second transformer's twin of ``primary``: same kind, inherits when unset."""
    return EnvVar(
        f"SGLANG_CACHE_DIT_SECONDARY_{suffix}", _C, primary.kind,
        f"Second transformer (low-noise expert): {primary.doc[0].lower()}{primary.doc[1:]}",
        inherits_from=primary.name, group="Secondary transformer")  # fmt: skip


CACHE_DIT_SECONDARY_FN = _secondary(CACHE_DIT_FN, "FN")
CACHE_DIT_SECONDARY_BN = _secondary(CACHE_DIT_BN, "BN")
CACHE_DIT_SECONDARY_WARMUP = _secondary(CACHE_DIT_WARMUP, "WARMUP")
CACHE_DIT_SECONDARY_RDT = _secondary(CACHE_DIT_RDT, "RDT")
CACHE_DIT_SECONDARY_MC = _secondary(CACHE_DIT_MC, "MC")
CACHE_DIT_SECONDARY_TAYLORSEER = _secondary(CACHE_DIT_TAYLORSEER, "TAYLORSEER")
CACHE_DIT_SECONDARY_TS_ORDER = _secondary(CACHE_DIT_TS_ORDER, "TS_ORDER")

CLOUD_STORAGE_TYPE: EnvVar[str] = EnvVar(
    "SGLANG_CLOUD_STORAGE_TYPE", _S, EnumKind(("s3",), case_sensitive=False),
    "s3 turns uploading of every output on.")  # fmt: skip
S3_BUCKET_NAME: EnvVar[str] = EnvVar(
    "SGLANG_S3_BUCKET_NAME", _S, BucketKind(), "Target bucket; required when storage is on.")
S3_ENDPOINT_URL: EnvVar[str] = EnvVar(
    "SGLANG_S3_ENDPOINT_URL", _S, UrlKind(), "Custom S3-compatible endpoint (MinIO, OSS, ...); unset is AWS.")
S3_REGION_NAME: EnvVar[str] = EnvVar(
    "SGLANG_S3_REGION_NAME", _S, RegionKind(), "Region of the bucket.", default="us-east-1")
S3_ACCESS_KEY_ID: EnvVar[str] = EnvVar(
    "SGLANG_S3_ACCESS_KEY_ID", _S, SecretKind(),
    "Access key id; unset uses boto3's normal credential chain.", secret=True)  # fmt: skip
S3_SECRET_ACCESS_KEY: EnvVar[str] = EnvVar(
    "SGLANG_S3_SECRET_ACCESS_KEY", _S, SecretKind(),
    "Secret access key: masked on screen, never logged.", secret=True)  # fmt: skip

KERNEL_API_LOGLEVEL: EnvVar[int] = EnvVar(
    "SGLANG_KERNEL_API_LOGLEVEL", _D, IntKind(choices=KERNEL_API_LEVELS),
    "0 off; 1 call names; 3 adds argument shapes; 5 adds tensor statistics; 10 also dumps inputs/outputs.",
    default=0)  # fmt: skip
KERNEL_API_LOGDEST: EnvVar[str] = EnvVar(
    "SGLANG_KERNEL_API_LOGDEST", _D, LogDestKind(),
    "Where kernel API records go: stdout, stderr or a file (%i becomes the process id).",
    default="stdout")  # fmt: skip
KERNEL_API_DUMP_DIR: EnvVar[str] = EnvVar(
    "SGLANG_KERNEL_API_DUMP_DIR", _D, PathKind(),
    "Where level-10 dumps go (%i becomes the process id).", default="sglang_kernel_api_dumps")  # fmt: skip
KERNEL_API_DUMP_INCLUDE: EnvVar[tuple[str, ...]] = EnvVar(
    "SGLANG_KERNEL_API_DUMP_INCLUDE", _D, PatternsKind(), "Only API names matching one pattern are dumped.")
KERNEL_API_DUMP_EXCLUDE: EnvVar[tuple[str, ...]] = EnvVar(
    "SGLANG_KERNEL_API_DUMP_EXCLUDE", _D, PatternsKind(), "API names matching one pattern are not dumped.")


def _collect() -> dict[str, EnvVar[Any]]:
    found = {v.name: v for v in globals().values() if isinstance(v, EnvVar)}
    return dict(sorted(found.items(), key=lambda kv: list(Pane).index(kv[1].pane)))


REGISTRY: dict[str, EnvVar[Any]] = _collect()
"""Every managed variable by name, in pane order (then declaration order)."""

MANAGED_PREFIXES = ("SGLANG_DIFFUSION_", "SGLANG_CACHE_DIT_", "SGLANG_KERNEL_API_", "SGLANG_S3_",
                    "SGLANG_CLOUD_", "SGLANG_USE_")  # fmt: skip
"""Prefixes under which an unknown name is probably a typo of a managed one."""


def by_pane(pane: Pane) -> list[EnvVar[Any]]:
    """The variables of one pane, in declaration order."""
    return [v for v in REGISTRY.values() if v.pane == pane]


# ---------------------------------------------------------------------------------------
# Resolution: effective values and where each came from.
# ---------------------------------------------------------------------------------------


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

    def shown(self) -> str:
        """The value as it may be displayed: secrets masked, unset as ``unset``."""
        if self.raw is not None:
            return self.var.display(self.raw)
        if self.value is None:
            return self.var.default_text or "unset"
        return self.var.display(self.var.format(self.value))


def _pick(name: str, layers: list[tuple[Source, Mapping[str, str]]]) -> tuple[Source, str] | None:
    for source, values in layers:
        raw = values.get(name)
        if raw is not None and raw != "":
            return source, raw
    return None


def resolve(
    session: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Resolved]:
    """Effective value of every variable: session over process environment over inherited over default.

    Args:
        session: values set in the named session (raw strings).
        environ: the process environment (defaults to ``os.environ``); also feeds XDG defaults.
    Returns:
        name -> :class:`Resolved`, in registry order.  Bad values keep ``error`` and fall back to the default.
    """
    env = dict(os.environ if environ is None else environ)
    layers = [(Source.SESSION, session or {}), (Source.ENVIRONMENT, env)]
    out: dict[str, Resolved] = {}
    for var in REGISTRY.values():
        picked = _pick(var.name, layers)
        if picked is not None:
            source, raw = picked
            try:
                out[var.name] = Resolved(var, raw, var.parse(raw), source)
            except EnvError as exc:
                out[var.name] = Resolved(var, raw, var.default_value(env), source, str(exc))
            continue
        if var.inherits_from:
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
        return self._resolved[var.name].value  # type: ignore[no-any-return]

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

    def masked(self) -> dict[str, str]:
        """Every effective value as display text with secrets masked (dev endpoints, logs)."""
        return {name: r.shown() for name, r in self._resolved.items()}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse every variable from ``environ`` (default ``os.environ``) for the backend.

    Raises:
        EnvError: the first invalid value; the message names variable, value and what is allowed.
    """
    resolved = resolve(None, environ)
    for r in resolved.values():
        if r.error:
            r.var.parse(r.raw or "")  # raises the same EnvError, with its exact message
    return Settings(resolved)


# ---------------------------------------------------------------------------------------
# Checks: per-value errors plus the spec's cross-variable rules.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    severity: str
    """``error`` blocks a launch; ``warning`` does not."""
    names: tuple[str, ...]
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def line(self) -> str:
        return f"{self.severity}: {self.message}"


def _error(message: str, *names: str) -> Problem:
    return Problem("error", names, message)


def _warning(message: str, *names: str) -> Problem:
    return Problem("warning", names, message)


def unknown_names(names: Iterable[str]) -> list[Problem]:
    """Warn about names under a managed prefix that the registry does not know (likely typos)."""
    problems = []
    for name in names:
        if name in REGISTRY or not name.startswith(MANAGED_PREFIXES):
            continue
        near = difflib.get_close_matches(name, list(REGISTRY), n=1, cutoff=0.8)
        hint = f"; did you mean {near[0]}?" if near else ""
        problems.append(_warning(f"{name} is not a variable this console manages{hint}", name))
    return problems


def _attention_config_problem(path: str, backend: str | None) -> Problem | None:
    name = ATTENTION_CONFIG.name
    if not os.path.isfile(path):
        return _error(f"{name}={path!r}: file does not exist", name)
    try:
        from backend.attention_config import AttentionConfigError, load_attention_config
    except ImportError:  # pragma: no cover - the module ships with the package
        return None
    try:
        load_attention_config(path, backend)
    except AttentionConfigError as exc:
        return _error(f"{name}={path!r}: {exc}", name)
    return None


def _free_space_text(path: str) -> str:
    probe = os.path.abspath(path)
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return "free space unknown"
    return f"{free / 2**30:.1f} GiB free"


def check(
    session: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    host_platforms: frozenset[str] | None = None,
) -> list[Problem]:
    """Every problem of the effective configuration, errors first.

    Args:
        session: the session's raw values.
        environ: the process environment (``os.environ`` when None).
        host_platforms: platforms present on this host (detected when None).
    """
    env = dict(os.environ if environ is None else environ)
    resolved = resolve(session, env)
    host = detect_host_platforms() if host_platforms is None else host_platforms
    problems: list[Problem] = []
    for layer in (session or {}, env):
        for name, raw in layer.items():
            if name in REGISTRY and raw == "":
                problems.append(_warning(f"{name} is set but empty; treated as unset", name))
    for r in resolved.values():
        if r.error:
            problems.append(_error(r.error, r.var.name))
    problems += unknown_names(set(session or {}))

    def val(var: EnvVar[T]) -> T:
        return resolved[var.name].value  # type: ignore[no-any-return]

    def given(var: EnvVar[Any]) -> bool:
        return resolved[var.name].raw is not None and not resolved[var.name].error

    if val(CLOUD_STORAGE_TYPE) == "s3" and not given(S3_BUCKET_NAME):
        problems.append(_error(
            f"{CLOUD_STORAGE_TYPE.name}=s3 needs {S3_BUCKET_NAME.name} (storage on without a bucket)",
            CLOUD_STORAGE_TYPE.name, S3_BUCKET_NAME.name))  # fmt: skip
    if given(CACHE_DIT_SCM_COMPUTE_BINS) != given(CACHE_DIT_SCM_CACHE_BINS):
        lone = CACHE_DIT_SCM_COMPUTE_BINS if given(CACHE_DIT_SCM_COMPUTE_BINS) else CACHE_DIT_SCM_CACHE_BINS
        problems.append(_warning(
            f"{lone.name} is set alone: SCM custom bins need both COMPUTE_BINS and CACHE_BINS; "
            f"falling back to preset {val(CACHE_DIT_SCM_PRESET)!r}",
            CACHE_DIT_SCM_COMPUTE_BINS.name, CACHE_DIT_SCM_CACHE_BINS.name))  # fmt: skip
    for order, switch in ((CACHE_DIT_TS_ORDER, CACHE_DIT_TAYLORSEER),
                          (CACHE_DIT_SECONDARY_TS_ORDER, CACHE_DIT_SECONDARY_TAYLORSEER)):  # fmt: skip
        if given(order) and not val(switch):
            problems.append(_warning(f"{order.name} has no effect while {switch.name} is off", order.name))
    for var in REGISTRY.values():
        if var.platforms and given(var) and val(var) and not host.intersection(var.platforms):
            where = "/".join(var.platforms)
            problems.append(_warning(f"{var.name} has no effect here: this host has no {where}", var.name))
    device = val(TARGET_DEVICE)
    if given(TARGET_DEVICE) and device not in host:
        problems.append(_warning(
            f"{TARGET_DEVICE.name}={device} but this host has no {device}; the backend will refuse to start",
            TARGET_DEVICE.name))  # fmt: skip
    if given(ATTENTION_CONFIG):
        found = _attention_config_problem(val(ATTENTION_CONFIG), val(ATTENTION_BACKEND))
        if found:
            problems.append(found)
    if val(KERNEL_API_LOGLEVEL) >= 10 and not given(KERNEL_API_DUMP_INCLUDE):
        dump = str(val(KERNEL_API_DUMP_DIR)).replace("%i", "0")
        problems.append(_warning(
            f"{KERNEL_API_LOGLEVEL.name}=10 with no {KERNEL_API_DUMP_INCLUDE.name} dumps every call's "
            f"tensors to {val(KERNEL_API_DUMP_DIR)} ({_free_space_text(dump)})",
            KERNEL_API_LOGLEVEL.name))  # fmt: skip
    return sorted(problems, key=lambda p: 0 if p.is_error else 1)


def docs_table(pane: Pane | None = None) -> str:
    """A Markdown table of the registry (for ``--help`` and the README), generated, never hand-kept."""
    rows = ["| variable | pane | allowed | default | meaning |", "|---|---|---|---|---|"]
    for var in REGISTRY.values():
        if pane is None or var.pane == pane:
            rows.append(f"| {var.name} | {var.pane.value} | {var.kind.allowed()} | "
                        f"{var.describe_default()} | {var.doc} |")  # fmt: skip
    return "\n".join(rows)


def to_json_safe(resolved: Mapping[str, Resolved]) -> list[dict[str, Any]]:
    """Rows for ``env show --json``: secrets masked, values as display strings."""
    return [
        {"name": r.var.name, "pane": r.var.pane.value, "value": r.shown(), "source": r.source.value,
         "default": r.var.describe_default(), "secret": r.var.secret, "error": r.error}
        for r in resolved.values()
    ]  # fmt: skip


__all__ = [
    "PLATFORM_NAMES", "REGISTRY", "EnvError", "EnvVar", "Pane", "Problem", "Resolved", "Settings", "Source",
    "by_pane", "check", "docs_table", "load_settings", "mask_secret", "resolve", "to_json_safe",
    "unknown_names",
]  # fmt: skip
