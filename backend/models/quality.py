"""The quality check of the embedded model: generate a fixed prompt mix and let the classifier judge it.

Shared by the test suite (`tests/models/test_quality.py`), the training script (to pick the guidance
scale on the GPU) and the bench, so all three report the same number for the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from PIL import Image

from backend.models.classifier import ShapeClassifier
from backend.models.shapes_pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, ShapesPipeline
from backend.models.vocab import COLOURS, POSITIONS, SHAPES, SIZES, parse_prompt


def quality_prompts(count: int = 100) -> list[str]:
    """A fixed prompt mix: every colour x shape pair bare first ("a red circle" is the first), then
    again with a size, with a position, and with both."""
    colours, prompts = list(COLOURS), []
    for i in range(count):
        colour, shape = colours[i % len(colours)], SHAPES[(i // len(colours)) % len(SHAPES)]
        size, position = SIZES[i % 3], POSITIONS[(i * 5) % 9]
        style = (i // (len(colours) * len(SHAPES))) % 4
        article = "an" if colour[0] in "aeiou" and style in (0, 2) else "a"
        if style == 0:
            prompts.append(f"{article} {colour} {shape}")
        elif style == 1:
            prompts.append(f"a {size} {colour} {shape}")
        elif style == 2:
            where = "in the center" if position == "center" else f"at the {position}"
            prompts.append(f"{article} {colour} {shape} {where}")
        else:
            prompts.append(f"a {size} {colour} {shape} on the {position}".replace("the center", "the middle"))
    return prompts


@dataclass
class QualityReport:
    """How many samples showed the colour and shape their prompt asked for."""

    total: int
    matched: int
    colour_matched: int
    shape_matched: int
    failures: list[tuple[str, dict[str, str]]]
    """(prompt, classifier labels) of every mismatch, for the assertion message."""

    @property
    def accuracy(self) -> float:
        return self.matched / self.total


@torch.no_grad()
def evaluate(
    pipe: ShapesPipeline,
    classifier: ShapeClassifier,
    prompts: list[str],
    first_seed: int = 1000,
    num_inference_steps: int = DEFAULT_STEPS,
    guidance_scale: float = DEFAULT_GUIDANCE,
    batch_size: int = 50,
) -> QualityReport:
    """Generate one image per prompt (seed `first_seed + index`) and compare colour and shape.

    Batches go through `pipe.__call__`, so hooks installed on it (cache-dit) are exercised; a per-image
    generator keeps each image independent of the batch size.
    """
    matched = colour_matched = shape_matched = 0
    failures: list[tuple[str, dict[str, str]]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        generators = [torch.Generator().manual_seed(first_seed + start + i) for i in range(len(chunk))]
        output = pipe(
            chunk,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=generators,
        )
        images = cast(list[Image.Image], output.images)
        for prompt, labels in zip(chunk, classifier.label(images), strict=True):
            wanted = parse_prompt(prompt)
            colour_ok, shape_ok = labels["colour"] == wanted.colour, labels["shape"] == wanted.shape
            colour_matched += colour_ok
            shape_matched += shape_ok
            matched += colour_ok and shape_ok
            if not (colour_ok and shape_ok):
                failures.append((prompt, labels))
    return QualityReport(len(prompts), matched, colour_matched, shape_matched, failures)
