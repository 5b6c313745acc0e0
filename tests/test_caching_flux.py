"""backend/caching/controller.py on a Flux-family transformer (diffusers' ``FluxTransformer2DModel``, tiny, CPU).

Why: the controller must adapt the model that the GPU benchmark measures (bench/bench_cachedit_gpu.py)
the way cache-dit's own Flux adapter does: the double and single blocks as ONE cached run, so that a
cached step computes ``Fn`` blocks in all, not ``Fn`` per list.  Counts and block calls only, never
time.  The fast mask for 28 steps (11 computed, 17 cached) is cache-dit 1.5.3's table, worked out by
hand and hard-coded on purpose.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from backend import envs
from backend.caching.adapter import block_layout
from backend.caching.controller import CacheController

STATIC_FAST = {"SGLANG_CACHE_DIT_ENABLED": "true", "SGLANG_CACHE_DIT_SCM_PRESET": "fast",
               "SGLANG_CACHE_DIT_SCM_POLICY": "static"}
FLUX_TINY = dict(patch_size=1, in_channels=16, num_layers=2, num_single_layers=3, attention_head_dim=8,
                 num_attention_heads=2, joint_attention_dim=16, pooled_projection_dim=8, guidance_embeds=True,
                 axes_dims_rope=(2, 2, 4))


class Pipe:
    """Only what the controller reads: ``transformer``."""

    def __init__(self, transformer: Any) -> None:
        self.transformer = transformer


@pytest.fixture(scope="module")
def pipe() -> Pipe:
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    model: Any = FluxTransformer2DModel(**FLUX_TINY)
    return Pipe(model.eval())


def _step(pipe: Pipe, t: int) -> torch.Tensor:
    tokens, text = 16, 4
    g = torch.Generator().manual_seed(t)
    return pipe.transformer(
        hidden_states=torch.randn(1, tokens, 16, generator=g), encoder_hidden_states=torch.randn(1, text, 16, generator=g),
        pooled_projections=torch.randn(1, 8, generator=g), timestep=torch.tensor([1.0 - t / 28]),
        img_ids=torch.zeros(tokens, 3), txt_ids=torch.zeros(text, 3), guidance=torch.tensor([3.5]),
        return_dict=False,
    )[0]


def test_flux_blocks_are_one_run(pipe: Pipe) -> None:
    layout = block_layout(pipe.transformer)
    assert len(layout.blocks) == 2 + 3
    assert layout.pattern == "Pattern_1"
    assert layout.dummies == ("single_transformer_blocks",)


def test_fast_static_counts_and_block_calls(pipe: Pipe, cache_controller: CacheController) -> None:
    """28 steps at ``fast``: 17 from cache; a cached step runs only the first block (Fn=1)."""
    calls = {"n": 0}

    def count(*_: Any) -> None:
        calls["n"] += 1

    blocks = [*pipe.transformer.transformer_blocks, *pipe.transformer.single_transformer_blocks]
    hooks = [b.register_forward_pre_hook(count) for b in blocks]
    try:
        cache_controller.prepare(pipe, envs.load_settings(STATIC_FAST), 28)
        with torch.no_grad():
            for t in range(28):
                out = _step(pipe, t)
                assert torch.isfinite(out).all()
    finally:
        for h in hooks:
            h.remove()
    stats = cache_controller.stats(log=False)
    assert stats is not None
    assert (stats["computed_steps"], stats["cached_steps"]) == (11, 17)
    assert calls["n"] == 11 * 5 + 17 * 1


def test_unmount_restores_the_blocks(pipe: Pipe, cache_controller: CacheController) -> None:
    cache_controller.prepare(pipe, envs.load_settings(STATIC_FAST), 8)
    cache_controller.unmount()
    assert len(pipe.transformer.single_transformer_blocks) == 3
    with torch.no_grad():
        assert torch.isfinite(_step(pipe, 0)).all()
