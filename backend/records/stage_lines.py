"""Stage lines, as SGLang's ``StageProfiler`` writes them: ``[Stage] started...``, ``finished in S seconds``,
``Error during execution after X ms: <message>``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageStarted:
    stage: str
    free_gb: float | None = None
    """Free device memory; only newer SGLang revisions at DEBUG level print it."""


@dataclass(frozen=True)
class StageFinished:
    stage: str
    seconds: float


@dataclass(frozen=True)
class StageError:
    stage: str
    ms: float
    error: str


def stage_started_message(stage: str) -> str:
    return f"[{stage}] started..."


def stage_finished_message(stage: str, seconds: float) -> str:
    return f"[{stage}] finished in {seconds:.4f} seconds"


def stage_error_message(stage: str, ms: float, exc_text: str) -> str:
    return f"[{stage}] Error during execution after {ms:.4f} ms: {exc_text}"
