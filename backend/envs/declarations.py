"""Every variable the product manages, each declared once.

Why classes: as in SGLang's ``srt/environ.py``, a variable's name is the attribute it is declared
under (plus its family's ``PREFIX``), set by ``EnvVar.__set_name__``, so no name is spelt twice.
``FAMILIES`` is the explicit, ordered registry (pane order); :data:`REGISTRY` is built from it.
Names and defaults are SGLang diffusion's own (``shared/spec/env-vars.md`` is the contract).

Importing this module reads nothing, writes no ``os.environ`` and creates no directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, ClassVar, Generic, TypeVar

from backend.envs.kinds import EnvError, Kind, Reading
from backend.envs.masking import SECRET_NAMES, mask_secret, mask_url_userinfo
from backend.envs.scalar_kinds import BoolKind, EnumKind, FloatKind, IntKind, LevelKind, OneKind
from backend.envs.text_kinds import (
    BucketKind,
    IntListKind,
    LogDestKind,
    PathKind,
    PatternsKind,
    RegionKind,
    SecretKind,
    UrlKind,
)

T = TypeVar("T")


class Pane(str, Enum):
    """The console pane a variable is edited in."""

    RUNTIME = "Runtime"
    PLATFORM = "Platform"
    CACHING = "Caching"
    STORAGE = "Storage"
    DEBUG = "Debug"


DefaultFn = Callable[[Mapping[str, str]], Any]


@dataclass(frozen=True)
class EnvVar(Generic[T]):
    """One managed variable.  Everything the console and the backend know about it is here."""

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
    pane: Pane | None = None
    """None: the pane of the family it is declared in."""
    name: str = ""
    """Set from the attribute name by ``__set_name__``; given only for discovered variables."""
    origin: str = "spec"
    """``spec`` for the built-in declarations, else the release it was discovered in (``sglang 0.5.23``)."""
    prefix: str | None = field(default=None, compare=False)
    """Overrides the family's prefix for one variable (a family mixes ``SGLANG_`` and ``SGLANG_DIFFUSION_``)."""

    def __post_init__(self) -> None:
        if self.secret and self.name:  # a discovered variable: named at construction
            SECRET_NAMES.add(self.name)

    def __set_name__(self, owner: type, attr: str) -> None:
        prefix = self.prefix if self.prefix is not None else getattr(owner, "PREFIX", "")
        object.__setattr__(self, "name", prefix + attr)
        if self.secret:
            SECRET_NAMES.add(self.name)
        if self.pane is None:
            object.__setattr__(self, "pane", getattr(owner, "PANE", Pane.RUNTIME))

    @property
    def attr(self) -> str:
        """Settings attribute name: lower case, without the ``SGLANG_`` prefix."""
        return self.name.removeprefix("SGLANG_").lower()

    @property
    def short(self) -> str:
        """The module-level name in ``backend.envs`` (``envs.CACHE_DIT_FN``, ``envs.TARGET_DEVICE``)."""
        return self.name.removeprefix("SGLANG_").removeprefix("DIFFUSION_")

    def parse(self, raw: str) -> T:
        """Parse a raw, non-empty string strictly.  Raises :class:`EnvError`."""
        value = self.kind.parse(self.name, raw)
        if "\0" in raw:  # no environment variable can hold a NUL (execve would refuse it)
            raise EnvError(self.name, raw, self.kind.allowed(), "contains a NUL", secret=self.secret)
        return value

    def read(self, raw: str) -> Reading:
        """Read a raw string as the runtime does (see :meth:`Kind.read`).  Raises :class:`EnvError`."""
        reading = self.kind.read(self.name, raw)
        if "\0" in raw:
            raise EnvError(self.name, raw, self.kind.allowed(), "contains a NUL", secret=self.secret)
        return reading

    def default_value(self, environ: Mapping[str, str] | None = None) -> T | None:
        """The default, computed for XDG-derived paths from ``environ`` (``os.environ`` if None)."""
        if callable(self.default):
            return self.default(os.environ if environ is None else environ)
        return self.default

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


class Family:
    """A group of declarations sharing a name prefix and a default pane."""

    PREFIX: ClassVar[str] = "SGLANG_"
    PANE: ClassVar[Pane] = Pane.RUNTIME

    @classmethod
    def members(cls) -> list[EnvVar[Any]]:
        """The declarations of this family, in declaration order."""
        return [v for v in vars(cls).values() if isinstance(v, EnvVar)]


def _xdg_default(xdg_var: str, fallback: str) -> DefaultFn:
    def default(environ: Mapping[str, str]) -> str:
        base = environ.get(xdg_var, "")
        if not base:  # an empty XDG variable is treated as unset (SGLang would make a relative path)
            home = environ.get("HOME") or os.path.expanduser("~")
            base = os.path.join(home, fallback)
        return os.path.join(os.path.expanduser(base), "sgl_diffusion")

    return default


DEVICES = ("cuda", "rocm", "xpu", "npu", "musa", "mps", "cpu")
ATTENTION_BACKENDS = (
    "fa", "torch_sdpa", "sliding_tile_attn", "sage_attn", "sage_attn_3", "video_sparse_attn",
    "vmoba_attn", "aiter", "aiter_sage", "sla_attn", "sage_sla_attn", "sparse_video_gen_2_attn",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SCM_PRESETS = ("none", "slow", "medium", "fast", "ultra")
KERNEL_API_LEVELS = (0, 1, 3, 5, 10)
FP4_BACKENDS = ("flashinfer_cudnn", "flashinfer_cutlass", "flashinfer_trtllm")
FP4_RUNTIME_ALIASES = (("auto", "auto"), ("cudnn", "flashinfer_cudnn"), ("trtllm", "flashinfer_trtllm"))
"""sglang 0.5.23 envs.py comment: also ``auto`` and the legacy aliases ``cudnn`` and ``trtllm``."""


class Runtime(Family):
    PREFIX = "SGLANG_DIFFUSION_"
    PANE = Pane.RUNTIME

    TARGET_DEVICE: EnvVar[str] = EnvVar(
        EnumKind(DEVICES), "Device the backend runs on; unset picks cuda where present, else the best device found.",
        default=None, default_text="auto (cuda where present)")
    ATTENTION_BACKEND: EnvVar[str] = EnvVar(
        EnumKind(ATTENTION_BACKENDS, aliases=(("fa3", "fa"), ("fa4", "fa")), case_sensitive=False),
        "Forces one attention implementation; one that is unavailable falls back to torch_sdpa with a warning.",
        default=None, default_text="auto")
    ATTENTION_CONFIG: EnvVar[str] = EnvVar(
        PathKind(suffixes=(".json", ".yaml", ".yml")),
        "Per-backend attention parameters file; watched and re-applied on every save.", hot_reload=True)
    STAGE_LOGGING: EnvVar[bool] = EnvVar(
        BoolKind(), "Records per-stage and per-step timings and appends them to performance.log.", default=False)
    SERVER_DEV_MODE: EnvVar[bool] = EnvVar(
        BoolKind(), "Adds debugging HTTP endpoints (health, settings, memory, timings) to a resident backend.",
        default=False)
    TORCH_PROFILER_DIR: EnvVar[str] = EnvVar(
        PathKind(absolute=True), "When set, every request writes a torch profiler trace into this absolute directory.")
    CACHE_ROOT: EnvVar[str] = EnvVar(
        PathKind(), "Where caches go (compile caches, the console's full logs).",
        default=_xdg_default("XDG_CACHE_HOME", ".cache"),
        default_text="$XDG_CACHE_HOME/sgl_diffusion, else ~/.cache/sgl_diffusion")
    CONFIG_ROOT: EnvVar[str] = EnvVar(
        PathKind(), "Where configuration goes; the console keeps its named sessions under it.",
        default=_xdg_default("XDG_CONFIG_HOME", ".config"),
        default_text="$XDG_CONFIG_HOME/sgl_diffusion, else ~/.config/sgl_diffusion")
    LOGGING_LEVEL: EnvVar[str] = EnvVar(
        EnumKind(LOG_LEVELS, case_sensitive=False),
        "Log level of the runtime (our backend honours it; real SGLang reads --log-level instead).",
        default="INFO")
    WORKER_MULTIPROC_METHOD: EnvVar[str] = EnvVar(
        EnumKind(("fork", "spawn")), "How worker processes are started when a batch is split across workers.",
        default="fork")
    USE_RUNAI_MODEL_STREAMER: EnvVar[bool] = EnvVar(
        BoolKind(), "Streams safetensors weights with the Run:AI model streamer when that package is installed.",
        default=True, prefix="SGLANG_")


class Platform(Family):
    PREFIX = "SGLANG_"
    PANE = Pane.PLATFORM

    USE_MLX: EnvVar[bool] = EnvVar(
        OneKind(), "Apple MPS only: MLX fused Metal kernels for the norm ops.", platforms=("mps",))
    USE_ROCM_VAE: EnvVar[bool] = EnvVar(
        BoolKind(), "ROCm only: swap the VAE's GroupNorm for AITer's fused GroupNorm.", default=False,
        platforms=("rocm",))
    USE_ROCM_CUDNN_BENCHMARK: EnvVar[bool] = EnvVar(
        BoolKind(), "ROCm only: let MIOpen auto-tune the VAE convolutions.", default=False, platforms=("rocm",))
    FLASHINFER_FP4_GEMM_BACKEND: EnvVar[str] = EnvVar(
        EnumKind(FP4_BACKENDS, runtime_aliases=FP4_RUNTIME_ALIASES),
        "FP4 GEMM kernel family for NVFP4-quantized weights (acts only on such weights).",
        platforms=("cuda",), group="Quantization", prefix="SGLANG_DIFFUSION_")


class CacheDit(Family):
    PREFIX = "SGLANG_CACHE_DIT_"
    PANE = Pane.CACHING

    ENABLED: EnvVar[bool] = EnvVar(BoolKind(), "Turns Cache-DiT block caching on.", default=False)
    FN: EnvVar[int] = EnvVar(
        IntKind(minimum=0), "First N transformer blocks, always computed.", default=1, group="Primary transformer")
    BN: EnvVar[int] = EnvVar(
        IntKind(minimum=0), "Last N transformer blocks, always computed.", default=0, group="Primary transformer")
    WARMUP: EnvVar[int] = EnvVar(
        IntKind(minimum=0), "Steps always computed before caching may start.", default=4,
        group="Primary transformer")
    RDT: EnvVar[float] = EnvVar(
        FloatKind(exclusive_minimum=0.0),
        "Residual-difference threshold under which a step reuses the cache (higher: faster, lossier).",
        default=0.24, group="Primary transformer")
    MC: EnvVar[int] = EnvVar(
        IntKind(minimum=0), "Most consecutive steps that may come from the cache.", default=3,
        group="Primary transformer")
    TAYLORSEER: EnvVar[bool] = EnvVar(
        BoolKind(), "TaylorSeer calibration of cached residuals.", default=False, group="Primary transformer")
    TS_ORDER: EnvVar[int] = EnvVar(
        IntKind(choices=(1, 2)), "TaylorSeer order.", default=1, group="Primary transformer")
    SCM_PRESET: EnvVar[str] = EnvVar(
        EnumKind(SCM_PRESETS), "Step computation mask preset: which steps are computed and which come from the cache.",
        default="none", group="Step computation mask")
    SCM_POLICY: EnvVar[str] = EnvVar(
        EnumKind(("dynamic", "static")), "How masked steps are served: dynamic (residual-gated) or static cache.",
        default="dynamic", group="Step computation mask")
    SCM_COMPUTE_BINS: EnvVar[tuple[int, ...]] = EnvVar(
        IntListKind(), "Custom mask: lengths of the computed runs (needs SCM_CACHE_BINS too).",
        group="Step computation mask")
    SCM_CACHE_BINS: EnvVar[tuple[int, ...]] = EnvVar(
        IntListKind(), "Custom mask: lengths of the cached runs (needs SCM_COMPUTE_BINS too).",
        group="Step computation mask")


def secondary(primary: EnvVar[T]) -> EnvVar[T]:
    """The second transformer's twin of ``primary``: same kind, inherits when unset."""
    doc = f"Second transformer (low-noise expert): {primary.doc[0].lower()}{primary.doc[1:]}"
    return EnvVar(primary.kind, doc, inherits_from=primary.name, group="Secondary transformer")


class CacheDitSecondary(Family):
    PREFIX = "SGLANG_CACHE_DIT_SECONDARY_"
    PANE = Pane.CACHING

    FN = secondary(CacheDit.FN)
    BN = secondary(CacheDit.BN)
    WARMUP = secondary(CacheDit.WARMUP)
    RDT = secondary(CacheDit.RDT)
    MC = secondary(CacheDit.MC)
    TAYLORSEER = secondary(CacheDit.TAYLORSEER)
    TS_ORDER = secondary(CacheDit.TS_ORDER)


class Storage(Family):
    PREFIX = "SGLANG_"
    PANE = Pane.STORAGE

    CLOUD_STORAGE_TYPE: EnvVar[str] = EnvVar(
        EnumKind(("s3",), case_sensitive=False, ignored_when_unknown=True), "s3 turns uploading of every output on.")
    S3_BUCKET_NAME: EnvVar[str] = EnvVar(BucketKind(), "Target bucket; required when storage is on.")
    S3_ENDPOINT_URL: EnvVar[str] = EnvVar(
        UrlKind(), "Custom S3-compatible endpoint (MinIO, OSS, ...); unset is AWS.")
    S3_REGION_NAME: EnvVar[str] = EnvVar(RegionKind(), "Region of the bucket.", default="us-east-1")
    S3_ACCESS_KEY_ID: EnvVar[str] = EnvVar(
        SecretKind(), "Access key id; unset uses boto3's normal credential chain.", secret=True)
    S3_SECRET_ACCESS_KEY: EnvVar[str] = EnvVar(
        SecretKind(), "Secret access key: masked on screen, never logged.", secret=True)


class KernelApi(Family):
    PREFIX = "SGLANG_KERNEL_API_"
    PANE = Pane.DEBUG

    LOGLEVEL: EnvVar[int] = EnvVar(
        LevelKind(KERNEL_API_LEVELS),
        "0 off; 1 call names; 3 adds argument shapes; 5 adds tensor statistics; 10 also dumps inputs/outputs.",
        default=0)
    LOGDEST: EnvVar[str] = EnvVar(
        LogDestKind(), "Where kernel API records go: stdout, stderr or a file (%i becomes the process id).",
        default="stdout")
    DUMP_DIR: EnvVar[str] = EnvVar(
        PathKind(), "Where level-10 dumps go (%i becomes the process id).", default="sglang_kernel_api_dumps")
    DUMP_INCLUDE: EnvVar[tuple[str, ...]] = EnvVar(
        PatternsKind(), "Only API names matching one pattern are dumped.")
    DUMP_EXCLUDE: EnvVar[tuple[str, ...]] = EnvVar(
        PatternsKind(), "API names matching one pattern are not dumped.")


FAMILIES: tuple[type[Family], ...] = (Runtime, Platform, CacheDit, CacheDitSecondary, Storage, KernelApi)
"""The explicit registry, in pane order; each family's members in declaration order."""

SPEC: tuple[EnvVar[Any], ...] = tuple(v for family in FAMILIES for v in family.members())
"""The spec's variables (the contract), in pane order."""

REGISTRY: dict[str, EnvVar[Any]] = {v.name: v for v in SPEC}
"""Every managed variable by name, in pane order (then declaration order).  ``install_discovered``
adds the variables of the installed sglang release after these."""

SHORT_NAMES: dict[str, EnvVar[Any]] = {v.short: v for v in SPEC}
"""``backend.envs.<short>`` lookups: ``CACHE_DIT_FN`` -> the declaration of ``SGLANG_CACHE_DIT_FN``."""

MANAGED_PREFIXES = ("SGLANG_DIFFUSION_", "SGLANG_CACHE_DIT_", "SGLANG_KERNEL_API_", "SGLANG_S3_",
                    "SGLANG_CLOUD_", "SGLANG_USE_")
"""Prefixes under which an unknown name is probably a typo of a managed one."""


def is_secret(name: str) -> bool:
    var = REGISTRY.get(name)
    return var is not None and var.secret


def install_discovered(found: list[EnvVar[Any]]) -> list[EnvVar[Any]]:
    """Add the variables discovered in an installed sglang; the spec's own declarations win.

    Returns the ones added.  Idempotent: a second call with the same release adds nothing.
    """
    added = []
    for var in found:
        if var.name in REGISTRY:
            continue
        REGISTRY[var.name] = var
        added.append(var)
    return added


def remove_discovered() -> None:
    """Back to the spec alone (tests; a console that switched interpreters)."""
    for name in [n for n, v in REGISTRY.items() if v.origin != "spec"]:
        del REGISTRY[name]


def discovered(var: EnvVar[Any], name: str, pane: Pane, origin: str) -> EnvVar[Any]:
    """A copy of ``var`` named ``name`` (for variables read from an installed release)."""
    return replace(var, name=name, pane=pane, origin=origin)


def by_pane(pane: Pane) -> list[EnvVar[Any]]:
    """The variables of one pane, in declaration order (discovered ones after the spec's)."""
    return [v for v in REGISTRY.values() if v.pane == pane]
