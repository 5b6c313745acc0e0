"""Does the shipped model draw what it is asked? 100 fixed-seed samples, judged by the shipped classifier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest

from backend.caching.adapter import scm_cache_config, shapes_block_adapter
from backend.models.classifier import ShapeClassifier, load_classifier
from backend.models.quality import QualityReport, evaluate, quality_prompts
from backend.models.shapes_pipeline import ShapesPipeline, load_pipeline

PROMPTS = quality_prompts(100)


@pytest.fixture(scope="module")
def classifier() -> ShapeClassifier:
    return load_classifier()


def _explain(report: QualityReport) -> str:
    return f"{report.matched}/{report.total} matched; misses: {report.failures[:10]}"


def test_prompt_mix_covers_every_colour_and_shape_and_starts_with_a_red_circle() -> None:
    assert PROMPTS[0] == "a red circle"
    assert len(set(PROMPTS)) == 100


@pytest.mark.parametrize("variant", ["single", "dual"])
def test_quality_plain(variant: Literal["single", "dual"], classifier: ShapeClassifier) -> None:
    report = evaluate(load_pipeline(variant), classifier, PROMPTS)
    assert report.accuracy >= 0.90, _explain(report)


@pytest.fixture
def cached_pipe() -> Iterator[ShapesPipeline]:
    """cache-dit patches `ShapesPipeline.__call__` class-wide; undo it so other tests run uncached."""
    import cache_dit

    pipe = load_pipeline("single")
    cache_dit.enable_cache(shapes_block_adapter(pipe), cache_config=scm_cache_config("fast", 8))
    try:
        yield pipe
    finally:
        cache_dit.disable_cache(pipe)


def test_quality_with_cache_dit_scm_fast(cached_pipe: ShapesPipeline, classifier: ShapeClassifier) -> None:
    computed = [0]
    hooks = [
        block.register_forward_hook(lambda *_: computed.__setitem__(0, computed[0] + 1))
        for block in cached_pipe.transformer.transformer_blocks
    ]
    try:
        report = evaluate(cached_pipe, classifier, PROMPTS)
    finally:
        for hook in hooks:
            hook.remove()
    blocks_per_run = computed[0] / 2  # two batches of 50
    assert blocks_per_run < 8 * len(cached_pipe.transformer.transformer_blocks), (
        "the cache never served a step"
    )
    assert report.accuracy >= 0.85, _explain(report)
