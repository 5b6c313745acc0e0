"""The procedural renderer and sampler, and the shipped classifier that judges generated images."""

from __future__ import annotations

import torch

from backend.models.classifier import HEADS, load_classifier
from backend.models.shapes_data import NAMED_PROBABILITY, ShapeSampler, render
from backend.models.vocab import token_list


def test_render_is_a_function_of_the_seed() -> None:
    colour, shape, size, position = (
        torch.tensor([0, 3]),
        torch.tensor([1, 2]),
        torch.tensor([2, 0]),
        torch.tensor([4, 8]),
    )
    first = render(colour, shape, size, position, torch.Generator().manual_seed(7))
    second = render(colour, shape, size, position, torch.Generator().manual_seed(7))
    assert first.shape == (2, 3, 64, 64)
    assert torch.equal(first, second)
    assert first.min() >= -1 and first.max() <= 1


def test_sampler_names_size_and_position_about_half_the_time() -> None:
    sampler = ShapeSampler()
    batch = sampler.sample(2000, torch.Generator().manual_seed(0))
    vocab = token_list()
    texts = [" ".join(vocab[i] for i in row if i > 1) for row in batch.tokens.tolist()]
    named_size = sum(any(w in t.split() for w in ("small", "tiny", "medium", "large", "big")) for t in texts)
    assert abs(named_size / len(texts) - NAMED_PROBABILITY) < 0.05


def test_classifier_reads_fresh_renders() -> None:
    """The judge of the quality test must itself be right on ground truth it never saw."""
    classifier = load_classifier()
    batch = ShapeSampler().sample(256, torch.Generator().manual_seed(12345))
    with torch.no_grad():
        logits = classifier(batch.images)
    for name in ("colour", "shape"):
        accuracy = (logits[name].argmax(1) == getattr(batch, name)).float().mean().item()
        assert accuracy >= 0.98, (name, accuracy)
    assert set(logits) == set(HEADS)
