"""cache-dit on the shapes pipeline: both driving styles actually serve steps from the cache."""

from __future__ import annotations

import cache_dit
import torch

from backend.caching.adapter import scm_cache_config, shapes_block_adapter
from backend.models.shapes_pipeline import ShapesPipeline, load_pipeline


def _count_blocks(pipe: ShapesPipeline) -> list[int]:
    counter = [0]
    for transformer in (pipe.transformer, pipe.transformer_2):
        for block in transformer.transformer_blocks if transformer is not None else []:
            block.register_forward_hook(lambda *_: counter.__setitem__(0, counter[0] + 1))
    return counter


def _stages(pipe: ShapesPipeline) -> None:
    cond = pipe.encode_prompt(["a red circle"])
    latents = pipe.prepare_latents(1, 64, 64, torch.Generator().manual_seed(0))
    for index, t in enumerate(pipe.prepare_timesteps(8)):
        latents = pipe.denoise_step(latents, t, index, cond)
    pipe.decode(latents)


def test_call_path_caches_masked_steps_and_disable_restores() -> None:
    pipe = load_pipeline("single")
    counter = _count_blocks(pipe)
    cache_dit.enable_cache(shapes_block_adapter(pipe),
                           cache_config=scm_cache_config("fast", 8, steps_computation_policy="static"))
    try:
        pipe("a red circle")
        # fast mask for 8 steps is 1,1,1,0,1,0,0,1: the static policy serves those three steps from the
        # cache after the probe block (the dynamic one may compute one when its residual moves)
        assert counter[0] == 8 * 6 - 3 * 5
    finally:
        cache_dit.disable_cache(pipe)
    counter[0] = 0
    pipe("a red circle")
    assert counter[0] == 8 * 6


def test_stagewise_driving_needs_the_stagewise_adapter_and_a_refresh() -> None:
    """Stage calls never enter the `__call__` wrapper, so the adapter gives persistent contexts instead."""
    pipe = load_pipeline("dual")
    counter = _count_blocks(pipe)
    config = scm_cache_config("fast", 8)
    cache_dit.enable_cache(shapes_block_adapter(pipe, stagewise=True), cache_config=config)
    counts = []
    for _ in range(2):
        for transformer in (pipe.transformer, pipe.transformer_2):
            cache_dit.refresh_context(transformer, cache_config=config)
        counter[0] = 0
        _stages(pipe)
        counts.append(counter[0])
    assert counts[0] == counts[1] < 8 * 6, counts
