"""How cache-dit finds the transformer blocks of a `ShapesPipeline`, and its SCM presets for it.

cache-dit's registry keys adapters by pipeline class name, and `ShapesPipeline` is not in it, so the
backend passes `shapes_block_adapter(pipe)` to `cache_dit.enable_cache`. The blocks are diffusers'
`BasicTransformerBlock` (PixArt), which return only hidden states: `ForwardPattern.Pattern_3`, the same
contract cache-dit's own PixArt adapter uses. The dual variant lists both experts, the way cache-dit's
Wan2.2 adapter does, so per-transformer `ParamsModifier`s (secondary-transformer settings) apply to
`transformer_2`.
"""

from __future__ import annotations

from typing import Any

from backend.models.shapes_pipeline import ShapesPipeline


def shapes_block_adapter(pipe: ShapesPipeline, stagewise: bool = False, **kwargs: Any) -> Any:
    """A `cache_dit.BlockAdapter` over the pipeline's transformer(s).

    cache-dit resets its cache context by wrapping the pipeline class's `__call__` (class-wide: undo
    with `cache_dit.disable_cache(pipe)`). Code that drives the stages itself never enters that
    wrapper, so with `stagewise=True` the adapter is built without the pipeline, which gives each
    transformer a persistent context; call `cache_dit.refresh_context(t, cache_config=...)` on every
    transformer before each generation.

    Args:
        pipe: A shapes pipeline, single or dual.
        stagewise: Build for stage-by-stage driving (see above) instead of `pipe(...)`.
        **kwargs: Passed to `BlockAdapter` (e.g. `params_modifiers`, one per transformer for the dual
            variant).

    Returns:
        The adapter, for `cache_dit.enable_cache(adapter, cache_config=...)`. Typed `Any` because
        cache-dit ships no type information.
    """
    from cache_dit import BlockAdapter, ForwardPattern

    owner = None if stagewise else pipe
    if pipe.transformer_2 is None:
        return BlockAdapter(
            pipe=owner,
            transformer=pipe.transformer,
            blocks=pipe.transformer.transformer_blocks,
            forward_pattern=ForwardPattern.Pattern_3,
            check_forward_pattern=True,
            has_separate_cfg=False,  # negative and positive share one batched forward
            **kwargs,
        )
    return BlockAdapter(
        pipe=owner,
        transformer=[pipe.transformer, pipe.transformer_2],
        blocks=[pipe.transformer.transformer_blocks, pipe.transformer_2.transformer_blocks],
        forward_pattern=[ForwardPattern.Pattern_3, ForwardPattern.Pattern_3],
        check_forward_pattern=True,
        has_separate_cfg=False,
        **kwargs,
    )


def scm_cache_config(preset: str = "fast", num_steps: int = 8, **overrides: Any) -> Any:
    """A `DBCacheConfig` using cache-dit's step computation mask preset for `num_steps` steps.

    The other fields default to the runtime's documented defaults (F1B0, warm-up 4, threshold 0.24, at
    most 3 consecutive cached steps, dynamic policy); with a mask set, the mask decides which steps
    compute, so cache-dit's own warm-up default of 8 would not turn an 8-step run into a no-op.

    Args:
        preset: "slow", "medium", "fast" or "ultra" (cache-dit's `steps_mask` policies).
        num_steps: Denoising steps of the runs it will serve.
        **overrides: Any other `DBCacheConfig` field.
    """
    from cache_dit import DBCacheConfig, steps_mask

    fields: dict[str, Any] = {
        "Fn_compute_blocks": 1,
        "Bn_compute_blocks": 0,
        "max_warmup_steps": 4,
        "residual_diff_threshold": 0.24,
        "max_continuous_cached_steps": 3,
        "steps_computation_mask": steps_mask(mask_policy=preset, total_steps=num_steps),
        "steps_computation_policy": "dynamic",
    }
    fields.update(overrides)
    return DBCacheConfig(**fields)
