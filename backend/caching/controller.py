"""Cache-DiT block caching for the bundled pipeline, driven by the ``SGLANG_CACHE_DIT_*`` variables.

Mapping (SGLang's, see the runtime notes section 4): ``FN``/``BN``/``WARMUP``/``RDT``/``MC`` become
``DBCacheConfig(Fn_compute_blocks, Bn_compute_blocks, max_warmup_steps, residual_diff_threshold,
max_continuous_cached_steps)``; ``TAYLORSEER``/``TS_ORDER`` a ``TaylorSeerCalibratorConfig``; the SCM
variables a ``steps_computation_mask`` from ``cache_dit.steps_mask`` plus ``steps_computation_policy``;
the ``SECONDARY_*`` twins the same for ``transformer_2`` through a second ``ParamsModifier``.

Why a transformer-only ``BlockAdapter`` (``pipe=None``) and not the pipeline: cache-dit does not know
``ShapesPipeline``, and with a pipeline it patches ``type(pipe).__call__`` (for every instance of the
class) and only creates its cache contexts inside that call. Our backend drives the stages itself
(``denoise_step`` per step), so that wrapper would never run. Without a pipeline cache-dit keeps
*persistent* contexts on the transformers, as SGLang does; each request then refreshes them with
that request's step count (and, for the two experts, each expert's share of the steps).

Mounting is lazy (first request), a new step count only refreshes the contexts, and a changed
configuration (or another pipeline) unmounts with ``cache_dit.disable_cache`` and mounts again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from backend import envs
from backend.caching.adapter import ExpertCacheConfig, block_adapter, block_layout, cache_configs
from backend.caching.quiet_import import import_cache_dit
from backend.caching.scm import (
    CacheConfigError,
    ScmSpec,
    build_mask,
    check_steps,
    mask_text,
    scm_from_settings,
    split_mask,
)
from backend.exit_codes import ExitCode
from backend.logging_setup import get_logger

logger = get_logger("caching")

EXPERTS = ("transformer", "transformer_2")


@dataclass(frozen=True)
class CachePlan:
    """Everything the settings say about caching; equal plans mean "no remount needed"."""

    enabled: bool
    primary: ExpertCacheConfig
    secondary: ExpertCacheConfig
    scm: ScmSpec

    @classmethod
    def from_settings(cls, settings: envs.Settings, warn: bool = True) -> CachePlan:
        return cls(
            enabled=bool(settings[envs.CACHE_DIT_ENABLED]),
            primary=ExpertCacheConfig.from_settings(settings),
            secondary=ExpertCacheConfig.from_settings(settings, secondary=True),
            scm=scm_from_settings(settings, warn=warn),
        )


def validate_for_steps(settings: envs.Settings, steps: int, pipe: Any = None) -> None:
    """Refuse, before the run, what cache-dit would refuse with an ``assert`` in the middle of it.

    Checks the SCM mask for ``steps`` and, with ``pipe``, that ``FN``/``BN`` fit each transformer's blocks.
    Does nothing while caching is off. Cheap: cache-dit is not imported.

    Raises:
        CacheConfigError: naming the variables, their values and the step count.
    """
    plan = CachePlan.from_settings(settings, warn=False)
    if not plan.enabled:
        return
    check_steps(plan.scm, steps)
    if pipe is None:
        return
    for name, cfg, family in (("transformer", plan.primary, envs.CacheDit),
                              ("transformer_2", plan.secondary, envs.CacheDitSecondary)):
        model = getattr(pipe, name, None)
        if model is None:
            continue
        blocks = len(block_layout(model).blocks)
        for var, value in ((family.FN, cfg.fn), (family.BN, cfg.bn)):
            if value > blocks:
                raise CacheConfigError(
                    f"{var.name}={value} exceeds the {blocks} blocks of {name}", ExitCode.BAD_ENV
                )


# --------------------------------------------------------------------------------------------------
# The controller the backend calls
# --------------------------------------------------------------------------------------------------


def expert_split(pipe: Any, steps: int, timesteps: Sequence[Any] | None = None) -> tuple[int, int]:
    """How many of ``steps`` the high-noise ``transformer`` runs, and how many ``transformer_2``.

    Timesteps descend, so the first expert's steps all come before the second's. Without
    ``timesteps`` the pipeline's own ``prepare_timesteps`` is called (it only sets the scheduler
    and is repeated by the backend before the loop anyway).
    """
    if getattr(pipe, "transformer_2", None) is None:
        return steps, 0
    if timesteps is None:
        if hasattr(pipe, "prepare_timesteps"):
            timesteps = pipe.prepare_timesteps(steps)
        else:
            pipe.scheduler.set_timesteps(steps)
            timesteps = pipe.scheduler.timesteps
    assert timesteps is not None
    if len(timesteps) != steps:
        raise ValueError(f"{len(timesteps)} timesteps for {steps} steps")
    if hasattr(pipe, "expert_for"):
        high = sum(1 for t in timesteps if pipe.expert_for(t) is pipe.transformer)
    else:
        boundary = pipe.config.boundary_ratio * pipe.scheduler.config.num_train_timesteps
        high = sum(1 for t in timesteps if float(t) >= boundary)
    return high, steps - high


@dataclass
class _Mounted:
    pipe: Any
    plan: CachePlan
    adapter: Any
    transformers: list[Any]
    has_mask: tuple[bool, ...]


class CacheController:
    """Mounts cache-dit on a pipeline's transformer(s) and reports what each request saved.

    Usage by the denoising stage::

        controller.prepare(pipe, settings, steps, timesteps)   # before the loop
        ... for each step: pipe.denoise_step(...) ...
        stats = controller.stats()                               # after the loop -> cache_stats

    ``prepare`` raises :class:`CacheConfigError` (before anything runs) for a step count the
    configuration cannot serve.
    """

    def __init__(self) -> None:
        self._mounted: _Mounted | None = None
        self._warned_plan: CachePlan | None = None
        self._request: dict[str, Any] | None = None

    @property
    def mounted(self) -> bool:
        return self._mounted is not None

    def prepare(
        self,
        pipe: Any,
        settings: envs.Settings,
        num_inference_steps: int,
        timesteps: Sequence[Any] | None = None,
    ) -> None:
        """Get cache-dit ready for one request of ``num_inference_steps`` steps.

        Args:
            pipe: The pipeline (``transformer`` and optionally ``transformer_2``).
            settings: The backend's settings.
            num_inference_steps: Steps of this request.
            timesteps: This request's timesteps, if already prepared (used to split the steps
                between the two experts of a dual pipeline).
        Raises:
            CacheConfigError: the configuration cannot serve this step count (nothing was run).
        """
        self._request = None  # a refused request leaves no stale stats behind
        plan = CachePlan.from_settings(settings, warn=False)
        if plan != self._warned_plan:
            scm_from_settings(settings, warn=plan.enabled)  # the lone-bin warning, once per configuration
            self._warned_plan = plan
        if not plan.enabled:
            if self._mounted is not None:
                self.unmount()
            self._request = {"enabled": False, "steps": num_inference_steps}
            return
        validate_for_steps(settings, num_inference_steps, pipe)
        high, low = expert_split(pipe, num_inference_steps, timesteps)
        whole = build_mask(plan.scm, num_inference_steps)
        masks = split_mask(whole, high) if low else (whole, None)
        shares = (high, low)
        experts = [n for n in EXPERTS if getattr(pipe, n, None) is not None]
        has_mask = tuple(masks[i] is not None for i in range(len(experts)))
        m = self._mounted
        if m is not None and (m.pipe is not pipe or m.plan != plan or m.has_mask != has_mask):
            self.unmount()
        if self._mounted is None:
            self._mount(pipe, plan, experts, shares, masks, has_mask)
        else:
            self._refresh(plan, experts, shares, masks)
        self._request = {"enabled": True, "steps": num_inference_steps, "experts": experts,
                         "shares": shares, "masks": masks, "mask": whole, "plan": plan}

    @staticmethod
    def _configs(plan: CachePlan, index: int, steps: int, mask: list[int] | None) -> tuple[Any, Any]:
        return cache_configs(plan.primary if index == 0 else plan.secondary, steps, mask, plan.scm.policy)

    def _mount(self, pipe: Any, plan: CachePlan, experts: list[str], shares: tuple[int, int],
               masks: tuple[list[int] | None, list[int] | None], has_mask: tuple[bool, ...]) -> None:
        cache_dit = import_cache_dit()
        transformers = [getattr(pipe, n) for n in experts]
        modifiers = []
        for i in range(len(experts)):
            cache_config, calibrator = self._configs(plan, i, shares[i], masks[i])
            modifiers.append(
                cache_dit.ParamsModifier(cache_config=cache_config, calibrator_config=calibrator)
            )
        base_config, _ = self._configs(plan, 0, shares[0], masks[0])
        # pipe=None: transformer-only, persistent contexts, no patching of ShapesPipeline.__call__
        adapter = block_adapter(transformers, params_modifiers=modifiers)
        # calibrator_config stays None here: each ParamsModifier carries its own, so a secondary
        # without TaylorSeer does not inherit the primary's.
        cache_dit.enable_cache(adapter, cache_config=base_config)
        self._mounted = _Mounted(pipe, plan, adapter, transformers, has_mask)
        for i, name in enumerate(experts):
            cfg = plan.primary if i == 0 else plan.secondary
            logger.info("cache-dit enabled on %s (steps=%d, %s%s)", name, shares[i], cfg.describe(),
                        f", SCM {plan.scm.describe()} mask={mask_text(masks[i])}" if masks[i] else "")

    def _refresh(self, plan: CachePlan, experts: list[str], shares: tuple[int, int],
                 masks: tuple[list[int] | None, list[int] | None]) -> None:
        cache_dit = import_cache_dit()
        assert self._mounted is not None
        for i, transformer in enumerate(self._mounted.transformers):
            cache_config, calibrator = self._configs(plan, i, shares[i], masks[i])
            kwargs: dict[str, Any] = {"cache_config": cache_config}
            if calibrator is not None:
                kwargs["calibrator_config"] = calibrator
            cache_dit.refresh_context(transformer, **kwargs)
        logger.debug("cache-dit refreshed (steps=%s)", "+".join(str(s) for s in shares[: len(experts)]))

    def unmount(self) -> None:
        """Remove cache-dit's hooks; the transformers run uncached again."""
        m = self._mounted
        if m is None:
            return
        cache_dit = import_cache_dit()
        cache_dit.disable_cache(m.adapter)
        self._mounted = None
        logger.info("cache-dit disabled")

    def contexts(self) -> list[Any]:
        """The live cache-dit contexts, one per mounted transformer (for tests and the dev endpoint)."""
        m = self._mounted
        if m is None:
            return []
        out = []
        for transformer in m.transformers:
            manager = transformer._context_manager
            out.append(manager.get_context(transformer._context_names[0]))
        return out

    def stats(self, log: bool = True) -> dict[str, Any] | None:
        """What the last prepared request computed and served from cache, for ``cache_stats``.

        Returns None before any request. With caching off: ``{"enabled": False, ...}`` with every
        step computed. Call after the denoising loop; also writes one log line.
        """
        req = self._request
        if req is None:
            return None
        steps = req["steps"]
        if not req["enabled"]:
            return {
                "enabled": False,
                "steps": steps,
                "computed_steps": steps,
                "cached_steps": 0,
                "hit_ratio": 0.0,
            }
        plan: CachePlan = req["plan"]
        experts: list[str] = req["experts"]
        contexts = self.contexts()
        per: list[dict[str, Any]] = []
        offset = 0
        for i, (name, context) in enumerate(zip(experts, contexts, strict=True)):
            ran = int(context.executed_steps)
            cached = sorted(int(s) for s in context.cached_steps)
            cfg = plan.primary if i == 0 else plan.secondary
            per.append({
                "transformer": name,
                "steps": req["shares"][i],
                "executed_steps": ran,
                "computed_steps": ran - len(cached),
                "cached_steps": len(cached),
                "hit_ratio": _ratio(len(cached), ran),
                "cached_step_indices": [offset + s for s in cached],
                "mask": mask_text(req["masks"][i]),
                "config": asdict(cfg),
            })
            offset += req["shares"][i]
        ran = sum(p["executed_steps"] for p in per)
        cached_total = sum(p["cached_steps"] for p in per)
        result: dict[str, Any] = {
            "enabled": True,
            "steps": steps,
            "computed_steps": ran - cached_total,
            "cached_steps": cached_total,
            "hit_ratio": _ratio(cached_total, ran),
            "scm": {
                "preset": plan.scm.preset,
                "policy": plan.scm.policy,
                "custom_bins": plan.scm.custom,
                "mask": mask_text(req["mask"]),
            }
            if plan.scm.active
            else None,
            "primary": per[0],
        }
        if len(per) > 1:
            result["secondary"] = per[1]
        if log:
            logger.info("%s", stats_line(result))
        return result


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def stats_line(stats: dict[str, Any]) -> str:
    """The one log line per request, e.g. ``cache-dit: 5 of 8 steps computed, 3 from cache (hit ratio 0.375)``."""
    if not stats.get("enabled"):
        return f"cache-dit: off, {stats['computed_steps']} of {stats['steps']} steps computed"
    line = (f"cache-dit: {stats['computed_steps']} of {stats['steps']} steps computed, "
            f"{stats['cached_steps']} from cache (hit ratio {stats['hit_ratio']:g})")
    if "secondary" in stats:
        parts = [f"{p['transformer']} {p['computed_steps']}+{p['cached_steps']}"
                 for p in (stats["primary"], stats["secondary"])]
        line += " [computed+cached: " + ", ".join(parts) + "]"
    return line


__all__ = [
    "CacheConfigError", "CacheController", "CachePlan", "expert_split", "stats_line", "validate_for_steps",
]
