"""What one request's stages share: its inputs, its intermediates and its metrics.

Why a module of its own: the stages fill it and the output writers (``backend.artifacts``) read it;
neither should import the other for its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from backend.pipeline import limits
from backend.pipeline.request import CancelToken, GenerationRequest, RequestMetrics


@dataclass
class StageContext:
    """Everything one request's stages share: inputs, intermediates and metrics."""

    pipe: Any
    request: GenerationRequest
    settings: Any
    device: torch.device
    timing: bool
    cancel: CancelToken = field(default_factory=CancelToken)
    limits: limits.Limits = field(default_factory=limits.Limits)
    rank: int = 0
    """Worker rank; only rank 0 draws the progress bar, as upstream's main rank."""
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    extra_metadata: dict[str, str] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    negatives: list[str] | None = None
    num_steps: int = 0
    height: int = 0
    width: int = 0
    guidance_scale: float = 1.0
    cond: Any = None
    timesteps: Any = None
    latents: torch.Tensor | None = None
    images: list[Any] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
