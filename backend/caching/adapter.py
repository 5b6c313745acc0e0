r"""The one builder of cache-dit's adapter and configuration, for the runtime and for the model's own tools.

The runtime's controller (:mod:`backend.caching.controller`) and the embedded model's quality check,
training script and bench all hand cache-dit the same two things: a ``BlockAdapter`` over the
transformer(s) and a ``DBCacheConfig`` per transformer.  Both are built here, so what the quality
number measures is what the runtime mounts.

Why ``BlockAdapter`` and not cache-dit's registry: the registry keys adapters by pipeline class name and
``ShapesPipeline`` is not in it.  The shapes blocks are diffusers' ``BasicTransformerBlock`` (PixArt),
which return only hidden states (``ForwardPattern.Pattern_3``, the contract of cache-dit's own PixArt
adapter); the dual variant lists both experts, the way cache-dit's Wan2.2 adapter does, so per-transformer
``ParamsModifier``\ s (the secondary-transformer settings) apply to ``transformer_2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend import envs
from backend.caching.quiet_import import import_cache_dit
from backend.caching.scm import CacheConfigError
from backend.exit_codes import ExitCode


@dataclass(frozen=True)
class ExpertCacheConfig:
    """DBCache settings of one transformer (the primary or the secondary expert)."""

    fn: int
    bn: int
    warmup: int
    rdt: float
    mc: int
    taylorseer: bool
    ts_order: int

    @classmethod
    def from_settings(cls, settings: envs.Settings, secondary: bool = False) -> ExpertCacheConfig:
        """Read the primary variables, or their ``SECONDARY_*`` twins (already inherited when unset)."""
        v = envs.CacheDitSecondary if secondary else envs.CacheDit
        return cls(
            fn=settings[v.FN], bn=settings[v.BN], warmup=settings[v.WARMUP], rdt=float(settings[v.RDT]),
            mc=settings[v.MC], taylorseer=bool(settings[v.TAYLORSEER]), ts_order=settings[v.TS_ORDER],
        )

    @classmethod
    def defaults(cls) -> ExpertCacheConfig:
        """The registry's defaults (F1B0, warm-up 4, threshold 0.24, at most 3 cached in a row, no TaylorSeer)."""
        return cls.from_settings(envs.load_settings({}))

    def describe(self) -> str:
        ts = f"TaylorSeer=on(order={self.ts_order})" if self.taylorseer else "TaylorSeer=off"
        return f"Fn={self.fn}, Bn={self.bn}, W={self.warmup}, R={self.rdt:g}, MC={self.mc}, {ts}"


def _blocks_of(transformer: Any) -> Any:
    blocks = getattr(transformer, "transformer_blocks", None)
    if blocks is None:
        raise CacheConfigError(
            f"{type(transformer).__name__} has no transformer_blocks; cache-dit cannot adapt it",
            ExitCode.MODEL_ERROR,
        )
    return blocks


@dataclass(frozen=True)
class BlockLayout:
    """What cache-dit wraps in one transformer: one run of blocks, the attribute it stands in for,
    the attributes emptied while it runs, and the blocks' ``ForwardPattern`` name."""

    blocks: Any
    name: str
    pattern: str
    dummies: tuple[str, ...] = ()


def block_layout(transformer: Any) -> BlockLayout:
    """How ``transformer``'s blocks are cached: one list, so that Fn/Bn count over all of them.

    Our shapes transformer (and PixArt-like ones) have one list whose blocks return only the hidden
    states (``Pattern_3``).  Flux-family transformers add ``single_transformer_blocks``; in the
    diffusers we run, both kinds take and return ``(encoder_hidden_states, hidden_states)``
    (``Pattern_1``) and nothing runs between the two loops, so the 19 + 38 blocks are cached as one
    run standing in for ``transformer_blocks`` while ``single_transformer_blocks`` is empty, as
    cache-dit's own Flux adapter does.  Two separate lists would each compute their own first
    ``Fn`` blocks on a cached step (measured on an H200: 6.8 ms per cached step instead of 3.8 ms).
    """
    blocks = _blocks_of(transformer)
    single = getattr(transformer, "single_transformer_blocks", None)
    if single is not None:
        import torch

        return BlockLayout(torch.nn.ModuleList([*blocks, *single]), "transformer_blocks", "Pattern_1",
                           ("single_transformer_blocks",))
    return BlockLayout(blocks, "transformer_blocks", "Pattern_3")


def cache_configs(cfg: ExpertCacheConfig, steps: int, mask: list[int] | None, policy: str,
                  **overrides: Any) -> tuple[Any, Any]:
    """cache-dit's ``DBCacheConfig`` for one transformer, and its TaylorSeer calibrator config (or None).

    Args:
        cfg: the transformer's DBCache settings.
        steps: denoising steps this transformer runs per request.
        mask: its step computation mask (1 compute, 0 cache), or None without SCM.
        policy: ``dynamic`` or ``static`` (``steps_computation_policy``).
        **overrides: any other ``DBCacheConfig`` field.
    """
    cache_dit = import_cache_dit()
    fields: dict[str, Any] = {
        "Fn_compute_blocks": cfg.fn,
        "Bn_compute_blocks": cfg.bn,
        "max_warmup_steps": cfg.warmup,
        "residual_diff_threshold": cfg.rdt,
        "max_continuous_cached_steps": cfg.mc,
        "num_inference_steps": steps,
        "steps_computation_mask": mask,
        "steps_computation_policy": policy,
        "enable_separate_cfg": False,  # ShapesPipeline runs guidance as one batch of 2B
    }
    fields.update(overrides)
    calibrator = cache_dit.TaylorSeerCalibratorConfig(taylorseer_order=cfg.ts_order) if cfg.taylorseer else None
    return cache_dit.DBCacheConfig(**fields), calibrator


def block_adapter(transformers: Sequence[Any], pipe: Any = None, **kwargs: Any) -> Any:
    """A ``cache_dit.BlockAdapter`` over one transformer or several experts, from their block layouts.

    Args:
        transformers: the transformer, or the experts in the order they run.
        pipe: the pipeline whose ``__call__`` cache-dit wraps to reset its contexts (class-wide: undo with
            ``cache_dit.disable_cache(pipe)``), or None for persistent contexts that the caller refreshes
            (``cache_dit.refresh_context``) before each request: what a caller that drives the stages
            itself needs, since it never enters that wrapper.
        **kwargs: passed to ``BlockAdapter`` (``params_modifiers``: one per transformer).

    Returns:
        The adapter, for ``cache_dit.enable_cache(adapter, cache_config=...)``; typed ``Any`` because
        cache-dit ships no type information.
    """
    cache_dit = import_cache_dit()
    layouts = [block_layout(t) for t in transformers]

    def one(items: list[Any]) -> Any:  # cache-dit's nesting: a bare item where there is one
        return items[0] if len(items) == 1 else items

    return cache_dit.BlockAdapter(
        pipe=pipe,
        transformer=one(list(transformers)),
        blocks=one([lay.blocks for lay in layouts]),
        blocks_name=one([lay.name for lay in layouts]),
        dummy_blocks_names=one([list(lay.dummies) for lay in layouts]),
        forward_pattern=one([getattr(cache_dit.ForwardPattern, lay.pattern) for lay in layouts]),
        check_forward_pattern=True,
        has_separate_cfg=False,  # negative and positive share one batched forward
        **kwargs,
    )


def shapes_block_adapter(pipe: Any, stagewise: bool = False, **kwargs: Any) -> Any:
    """:func:`block_adapter` over a ``ShapesPipeline``'s transformer(s), single or dual.

    Args:
        pipe: a shapes pipeline.
        stagewise: for stage-by-stage driving (persistent contexts, see :func:`block_adapter`) instead
            of ``pipe(...)``.
        **kwargs: passed to ``BlockAdapter``.
    """
    experts = [t for t in (pipe.transformer, pipe.transformer_2) if t is not None]
    return block_adapter(experts, pipe=None if stagewise else pipe, **kwargs)


def scm_cache_config(preset: str = "fast", num_steps: int = 8, **overrides: Any) -> Any:
    """A ``DBCacheConfig`` with cache-dit's step computation mask preset for ``num_steps`` steps.

    The other fields are the registry's defaults (:meth:`ExpertCacheConfig.defaults`, dynamic policy);
    with a mask set, the mask decides which steps compute, so cache-dit's own warm-up default of 8
    would not turn an 8-step run into a no-op.

    Args:
        preset: "slow", "medium", "fast" or "ultra" (cache-dit's ``steps_mask`` policies).
        num_steps: denoising steps of the runs it will serve.
        **overrides: any other ``DBCacheConfig`` field.
    """
    cache_dit = import_cache_dit()
    mask = [int(m) for m in cache_dit.steps_mask(mask_policy=preset, total_steps=num_steps)]
    config, _ = cache_configs(ExpertCacheConfig.defaults(), num_steps, mask, "dynamic", **overrides)
    return config
