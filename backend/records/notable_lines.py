"""A few notable SGLang lines: profiler traces saved, metrics dumped, uploaded, output saved, and CUDA
errors judged by their text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from backend.records.log_lines import CYAN, GREEN, RESET


@dataclass(frozen=True)
class ProfilerTracesSaved:
    path: str


@dataclass(frozen=True)
class MetricsDumped:
    path: str


@dataclass(frozen=True)
class Uploaded:
    path: str
    url: str
    """The URL, or ``"presigned URL"`` for the newer presigned-upload message."""


@dataclass(frozen=True)
class OutputSaved:
    path: str


@dataclass(frozen=True)
class CudaError:
    message: str
    kind: str
    """``device_assert``, ``oom`` or ``cuda`` (other CUDA/accelerator errors), judged by the text only:
    a CPU ``RuntimeError`` is an :class:`ExceptionRaised`, not a CudaError."""


def output_saved_message(path: str | os.PathLike[str]) -> str:
    """``Output saved to <path>``, the path in cyan, as SGLang 0.5.23 writes it."""
    return f"Output saved to {CYAN}{path}{RESET}"


def generation_completed_message(seconds: float) -> str:
    """``Pixel data generated successfully in <s, 2 decimals> seconds``, the duration in green
    (parsed as :class:`GenerationDone`)."""
    return f"Pixel data generated successfully in {GREEN}{seconds:.2f}{RESET} seconds"
