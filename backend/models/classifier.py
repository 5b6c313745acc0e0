"""A small CNN that labels a shapes image with its colour, shape, size and position.

It is the judge of the quality test: trained by `train_shapes.py` on the same procedural renderer as the
diffusion model (with blur and noise so it also reads slightly soft generated images), it says whether a
generated sample shows what its prompt asked for. Shipped next to the model (`backend/models/classifier/`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from PIL import Image
from torch import nn

from backend.models.vocab import COLOURS, POSITIONS, SHAPES, SIZES

CLASSIFIER_DIR = Path(__file__).with_name("classifier")
HEADS: dict[str, tuple[str, ...]] = {
    "colour": tuple(COLOURS),
    "shape": SHAPES,
    "size": SIZES,
    "position": POSITIONS,
}
"""Each output head and its label names, in logit order."""


class ShapeClassifier(ModelMixin, ConfigMixin):  # type: ignore[misc]  # diffusers' two config_name types
    """Four strided conv stages, then one linear layer per head over the flattened 4x4 map (so it keeps
    where the shape is, which a global pool would throw away)."""

    @register_to_config
    def __init__(self, channels: tuple[int, ...] = (24, 48, 64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.GroupNorm(8, width), nn.SiLU()]
            previous = width
        layers += [nn.Conv2d(previous, 16, 1), nn.SiLU(), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.heads = nn.ModuleDict(
            {name: nn.Linear(16 * 4 * 4, len(labels)) for name, labels in HEADS.items()}
        )

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per head for (B, 3, 64, 64) images in [-1, 1]."""
        features = self.features(images)
        return {name: head(features) for name, head in self.heads.items()}

    @torch.no_grad()
    def label(self, images: list[Image.Image]) -> list[dict[str, str]]:
        """The most likely label of every head for each PIL image (resized to 64x64 if needed)."""
        arrays = [
            np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)) for image in images
        ]
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().to(self.device) / 127.5 - 1
        logits = self(batch.to(self.dtype))
        return [
            {name: HEADS[name][int(logits[name][row].argmax())] for name in HEADS}
            for row in range(len(images))
        ]


def load_classifier(path: Path = CLASSIFIER_DIR) -> ShapeClassifier:
    """The shipped classifier in float32 eval mode, on the CPU."""
    model = ShapeClassifier.from_pretrained(path, dtype=torch.float32, low_cpu_mem_usage=False)
    return model.eval()
