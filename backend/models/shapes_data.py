"""Procedural training data: one coloured shape on a plain light background, with a matching prompt.

Everything is drawn with tensor arithmetic (4x supersampled signed regions, then averaged), so a batch
is generated on the GPU in well under a millisecond and the training scripts never touch a file or
the network. A `torch.Generator` drives every random choice, which makes a training run a pure
function of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from backend.models.vocab import (
    COLOURS,
    MAX_TOKENS,
    SHAPES,
    SIZE_WORDS,
    START_TOKEN,
    position_phrases,
    token_list,
    training_prompts,
    words_of,
)

IMAGE_SIZE = 64
SIZE_RADII: tuple[tuple[float, float], ...] = ((6.0, 9.0), (11.0, 14.0), (17.0, 21.0))
"""Half-extent ranges in pixels of the small, medium and large classes (for a 64-pixel image)."""
NAMED_PROBABILITY = 0.5
"""How often a training prompt names the size, and (independently) the position."""
_SUPERSAMPLE = 4
_JITTER = 4.0


@dataclass
class ShapeBatch:
    """A batch of images in [-1, 1] with their labels and prompt tokens."""

    images: torch.Tensor
    """(B, 3, 64, 64) float32."""
    colour: torch.Tensor
    shape: torch.Tensor
    size: torch.Tensor
    position: torch.Tensor
    tokens: torch.Tensor
    """(B, MAX_TOKENS) int64 token ids, padded with 0."""


def render(
    colour: torch.Tensor,
    shape: torch.Tensor,
    size: torch.Tensor,
    position: torch.Tensor,
    generator: torch.Generator,
    image_size: int = IMAGE_SIZE,
) -> torch.Tensor:
    """Draw one shape per label set.

    Args:
        colour, shape, size, position: (B,) int64 label indices (see `backend.models.vocab`).
        generator: Source of the jitter (exact size, centre, colour and background shade).
        image_size: Square output size in pixels.

    Returns:
        (B, 3, image_size, image_size) float32 images in [-1, 1], on the generator's device.
    """
    device = generator.device
    batch = colour.shape[0]
    scale = image_size / IMAGE_SIZE

    def uniform(low: torch.Tensor | float, high: torch.Tensor | float) -> torch.Tensor:
        return low + (high - low) * torch.rand(batch, generator=generator, device=device)

    radii = torch.tensor(SIZE_RADII, device=device)[size] * scale
    radius = uniform(radii[:, 0], radii[:, 1])
    row, column = position // 3, position % 3
    centres = []
    for cell in (column, row):
        centre = (cell.float() + 0.5) * image_size / 3 + uniform(-_JITTER, _JITTER) * scale
        centres.append(torch.minimum(torch.maximum(centre, radius + 1), image_size - 1 - radius))
    cx, cy = (c[:, None, None] for c in centres)

    fine = image_size * _SUPERSAMPLE
    grid = (torch.arange(fine, device=device, dtype=torch.float32) + 0.5) / _SUPERSAMPLE
    dx = grid[None, None, :] - cx
    dy = grid[None, :, None] - cy
    r = radius[:, None, None]
    inside = torch.zeros(batch, fine, fine, dtype=torch.bool, device=device)
    kind = shape[:, None, None]
    inside |= (kind == SHAPES.index("circle")) & (dx * dx + dy * dy <= r * r)
    inside |= (kind == SHAPES.index("square")) & (torch.maximum(dx.abs(), dy.abs()) <= 0.85 * r)
    inside |= (kind == SHAPES.index("diamond")) & (dx.abs() + dy.abs() <= 1.15 * r)
    arm = (dx.abs() <= r) & (dy.abs() <= 0.33 * r) | (dx.abs() <= 0.33 * r) & (dy.abs() <= r)
    inside |= (kind == SHAPES.index("cross")) & arm
    tri_r = 1.15 * r  # circumradius; the apex points up (image y grows downwards)
    s = math.sqrt(3) / 2
    triangle = (dy <= tri_r / 2) & (-s * dx - 0.5 * dy <= tri_r / 2) & (s * dx - 0.5 * dy <= tri_r / 2)
    inside |= (kind == SHAPES.index("triangle")) & triangle
    mask = torch.nn.functional.avg_pool2d(inside[:, None].float(), _SUPERSAMPLE)

    palette = torch.tensor(list(COLOURS.values()), device=device, dtype=torch.float32)
    jitter = (torch.rand(batch, 3, generator=generator, device=device) - 0.5) * 20
    fg = (palette[colour] + jitter).clamp(0, 255)[:, :, None, None]
    bg = uniform(236.0, 252.0)[:, None, None, None]
    image = bg * (1 - mask) + fg * mask
    return image / 127.5 - 1


class ShapeSampler:
    """Draws (image, prompt) batches from the full training grammar.

    Prompts name size and position about half the time each; an attribute a prompt leaves out is drawn
    uniformly, so "a red circle" learns the marginal over sizes and positions.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        table = training_prompts()
        vocab = token_list()
        index = {word: i for i, word in enumerate(vocab)}
        tokens = torch.zeros(len(table), MAX_TOKENS, dtype=torch.long)
        for row, (text, *_labels) in enumerate(table):
            ids = [index[START_TOKEN], *(index[w] for w in words_of(text))]
            tokens[row, : len(ids)] = torch.tensor(ids)
        labels = torch.tensor([labels for _text, *labels in table], dtype=torch.long)
        self.texts = [text for text, *_ in table]
        self.tokens = tokens.to(self.device)
        self.labels = labels.to(self.device)
        self.vocab = vocab
        self.axes = (len(COLOURS), len(SHAPES), len(SIZE_WORDS) + 1, len(list(position_phrases())) + 1, 2)
        assert math.prod(self.axes) == len(table)

    def sample(self, batch: int, generator: torch.Generator) -> ShapeBatch:
        """One batch; all randomness from `generator` (which must live on the sampler's device)."""

        def pick(n: int) -> torch.Tensor:
            return torch.randint(0, n, (batch,), generator=generator, device=self.device)

        def optional(n_options: int) -> torch.Tensor:
            named = torch.rand(batch, generator=generator, device=self.device) < NAMED_PROBABILITY
            return torch.where(named, 1 + pick(n_options - 1), 0)

        axes = self.axes
        rows = pick(axes[0])
        for axis, n in enumerate(axes[1:], start=1):
            rows = rows * n + (optional(n) if axis in (2, 3) else pick(n))
        labels = self.labels[rows]
        size = torch.where(
            labels[:, 2] >= 0,
            labels[:, 2],
            torch.randint(0, 3, (batch,), generator=generator, device=self.device),
        )
        position = torch.where(
            labels[:, 3] >= 0,
            labels[:, 3],
            torch.randint(0, 9, (batch,), generator=generator, device=self.device),
        )
        images = render(labels[:, 0], labels[:, 1], size, position, generator)
        return ShapeBatch(images, labels[:, 0], labels[:, 1], size, position, self.tokens[rows])
