"""Step computation masks (SCM) for Cache-DiT: which denoising steps are computed, which come from the cache.

Why a module of its own: the rules that decide whether a mask exists for a step count are needed
*before* a request runs (to refuse it with a clear message) and at startup, where importing
cache-dit (about 7 s: it pulls torch, diffusers and transformers) would be wasteful. So the checks
here are plain Python mirroring cache-dit's own asserts in ``cache_dit.steps_mask``; the mask
itself is still produced by cache-dit (:func:`build_mask`), so the preset tables are never copied.

cache-dit's rules, as read in ``cache_dit/caching/cache_interface.py`` (cache-dit 1.5.3):

* presets ``slow``/``medium``/``fast``/``ultra`` exist for any step count >= 8, and for exactly
  4 or 6 steps; any other count below 8 fails an ``assert`` deep inside the request;
* custom bins alternate compute runs and cache runs, starting with a compute run; their total
  must be at least the step count (another ``assert``); the mask is cut to the step count;
* a preset mask always computes its last step; a custom mask is used as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend import envs
from backend.caching.quiet_import import import_cache_dit
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import get_logger

logger = get_logger("caching")

SMALL_STEP_COUNTS = (4, 6)
"""Below 8 steps, cache-dit's presets exist only for these step counts."""
MIN_PRESET_STEPS = 8


class CacheConfigError(BackendError, ValueError):
    """A Cache-DiT setting that cannot work for this request; the message names the variables and steps.

    A :class:`BackendError` (exit code ``BAD_REQUEST`` by default), so the backend's usual handler
    reports it as one line before anything runs.
    """

    def __init__(self, message: str, code: ExitCode = ExitCode.BAD_REQUEST) -> None:
        super().__init__(code, message)


@dataclass(frozen=True)
class ScmSpec:
    """The step computation mask a request asks for, after the lone-bin fallback.

    ``active`` is False when no mask applies (preset ``none`` and no custom bins).
    """

    preset: str
    policy: str
    compute_bins: tuple[int, ...] | None = None
    cache_bins: tuple[int, ...] | None = None

    @property
    def custom(self) -> bool:
        """True when both custom bin lists are given (they override the preset)."""
        return self.compute_bins is not None and self.cache_bins is not None

    @property
    def active(self) -> bool:
        return self.custom or self.preset != "none"

    def describe(self) -> str:
        """Short text for log lines, e.g. ``preset=fast policy=static`` or ``bins=3,1/1,2``."""
        if self.custom:
            return (f"bins={envs.IntListKind().format(self.compute_bins)}/"
                    f"{envs.IntListKind().format(self.cache_bins)} policy={self.policy}")
        return f"preset={self.preset} policy={self.policy}"


def scm_from_settings(settings: envs.Settings, warn: bool = True) -> ScmSpec:
    """Resolve the SCM variables: custom bins need both lists; a lone one warns and the preset applies.

    Args:
        settings: From :func:`backend.envs.load_settings`.
        warn: Log the lone-bin warning (the controller warns once per configuration, not per request).
    """
    compute = settings[envs.CACHE_DIT_SCM_COMPUTE_BINS]
    cache = settings[envs.CACHE_DIT_SCM_CACHE_BINS]
    preset = settings[envs.CACHE_DIT_SCM_PRESET]
    policy = settings[envs.CACHE_DIT_SCM_POLICY]
    if (compute is None) != (cache is None):
        if warn:
            lone = envs.CACHE_DIT_SCM_COMPUTE_BINS if compute is not None else envs.CACHE_DIT_SCM_CACHE_BINS
            other = envs.CACHE_DIT_SCM_CACHE_BINS if compute is not None else envs.CACHE_DIT_SCM_COMPUTE_BINS
            logger.warning(
                "%s is set without %s: SCM custom bins need both; falling back to preset %r",
                lone.name, other.name, preset,
            )
        return ScmSpec(preset, policy)
    return ScmSpec(preset, policy, compute, cache)


def check_steps(spec: ScmSpec, steps: int) -> None:
    """Raise :class:`CacheConfigError` when cache-dit would refuse to build a mask for ``steps``.

    The message names the variables, their values and the step count, and says what would work.
    """
    if steps < 1:
        raise CacheConfigError(f"num_inference_steps={steps}: at least 1 step is needed")
    if not spec.active:
        return
    if spec.custom:
        assert spec.compute_bins is not None and spec.cache_bins is not None
        covered = sum(spec.compute_bins) + sum(spec.cache_bins)
        if covered < steps:
            raise CacheConfigError(
                f"{envs.CACHE_DIT_SCM_COMPUTE_BINS.name}={envs.IntListKind().format(spec.compute_bins)} and "
                f"{envs.CACHE_DIT_SCM_CACHE_BINS.name}={envs.IntListKind().format(spec.cache_bins)} cover "
                f"{covered} steps but the request has {steps} steps; the bins must add up to at least "
                f"the step count"
            )
        return
    if steps < MIN_PRESET_STEPS and steps not in SMALL_STEP_COUNTS:
        raise CacheConfigError(
            f"{envs.CACHE_DIT_SCM_PRESET.name}={spec.preset} has no mask for {steps} steps: cache-dit's "
            f"presets need {MIN_PRESET_STEPS} or more steps, or exactly 4 or 6; use another step count, "
            f"set {envs.CACHE_DIT_SCM_PRESET.name}=none, or give both custom bin variables"
        )


def build_mask(spec: ScmSpec, steps: int) -> list[int] | None:
    """The mask for ``steps`` from ``cache_dit.steps_mask`` (1 compute, 0 cache), or None without SCM.

    Raises:
        CacheConfigError: for a step count cache-dit refuses (checked before cache-dit is asked).
    """
    check_steps(spec, steps)
    if not spec.active:
        return None
    cache_dit = import_cache_dit()  # only now: a heavy import, needed only when there is a mask

    mask: list[int] = cache_dit.steps_mask(
        compute_bins=list(spec.compute_bins or ()) if spec.custom else None,
        cache_bins=list(spec.cache_bins or ()) if spec.custom else None,
        total_steps=steps,
        mask_policy=spec.preset if spec.preset != "none" else "medium",
    )
    return [int(m) for m in mask]


def split_mask(mask: Sequence[int] | None, first: int) -> tuple[list[int] | None, list[int] | None]:
    """Cut a whole-run mask at the expert boundary: ``first`` steps for the high-noise transformer.

    Each expert's first step is forced to compute: its cache is empty until it has run once (with
    the ``static`` policy cache-dit would otherwise serve that step from a cache that does not
    exist). An expert with no steps gets None.
    """
    if mask is None:
        return None, None
    parts = [list(mask[:first]), list(mask[first:])]
    out: list[list[int] | None] = []
    for part in parts:
        if part:
            part[0] = 1
        out.append(part or None)
    return out[0], out[1]


def mask_text(mask: Sequence[int] | None) -> str | None:
    """``11101001``-style text of a mask (what cache-dit's own config strings use)."""
    return None if mask is None else "".join(str(int(m)) for m in mask)


def mask_counts(mask: Sequence[Any] | None) -> tuple[int, int]:
    """(steps to compute, steps the mask allows from cache)."""
    if not mask:
        return 0, 0
    computed = sum(1 for m in mask if int(m) == 1)
    return computed, len(mask) - computed


__all__ = [
    "CacheConfigError", "ScmSpec", "build_mask", "check_steps", "mask_counts", "mask_text",
    "scm_from_settings", "split_mask",
]
