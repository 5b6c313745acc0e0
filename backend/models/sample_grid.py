"""Render the model-card sample grid: eight prompts through the default model, captioned.

python -m backend.models.sample_grid screenshots/model_samples.png
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import torch
from PIL import Image, ImageDraw

from backend.models.shapes_pipeline import load_pipeline

PROMPTS: tuple[str, ...] = (
    "a red circle",
    "a blue square",
    "a small green triangle at the top left",
    "a large yellow diamond",
    "a purple cross at the bottom right",
    "an orange circle on the left",
    "a tiny cyan square at the top",
    "a big pink triangle in the center",
)


def sample_grid(cell: int = 128, caption: int = 28) -> Image.Image:
    """Four by two grid, seed i for prompt i, nearest-neighbour upscaled so the pixels stay honest."""
    pipe = load_pipeline("single")
    generators = [torch.Generator().manual_seed(i) for i in range(len(PROMPTS))]
    images = cast(list[Image.Image], pipe(list(PROMPTS), generator=generators).images)
    grid = Image.new("RGB", (4 * cell, 2 * (cell + caption)), "white")
    draw = ImageDraw.Draw(grid)
    for i, (prompt, image) in enumerate(zip(PROMPTS, images, strict=True)):
        x, y = (i % 4) * cell, (i // 4) * (cell + caption)
        grid.paste(image.resize((cell, cell), Image.Resampling.NEAREST), (x, y))
        words = prompt.split()
        for line_no, line in enumerate((" ".join(words[:4]), " ".join(words[4:]))):
            draw.text((x + 3, y + cell + 2 + 12 * line_no), line, fill=(40, 40, 40))
    return grid


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots/model_samples.png")
    sample_grid().save(target, optimize=True)
    print(target)
