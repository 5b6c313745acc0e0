"""Exit codes of ``sgl-backend``, one table, and the error type that carries them.

Why one table: the console decodes a backend's exit status into words, the README documents it,
and every failure path raises :class:`BackendError` with one of these codes, so the three can never
drift.  Codes 0-2 follow Unix/argparse habit; 128+N is "killed by signal N" (the shell's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Every status ``sgl-backend`` exits with on purpose."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    BAD_ENV = 3
    BAD_ATTENTION_CONFIG = 4
    DEVICE_UNAVAILABLE = 5
    MODEL_ERROR = 6
    BAD_REQUEST = 7
    OUT_OF_MEMORY = 8
    RUNTIME_ERROR = 9
    OUTPUT_ERROR = 10
    UPLOAD_FAILED = 11
    WORKER_FAILED = 12
    CANCELLED = 143


EXIT_CODES: dict[int, str] = {
    ExitCode.OK: "success: every output was written (and uploaded, when storage is on)",
    ExitCode.INTERNAL: "unexpected internal error (a bug: the traceback follows at DEBUG level)",
    ExitCode.USAGE: "bad command line (unknown flag, bad flag value, bad --inject-fault spec)",
    ExitCode.BAD_ENV: "an environment variable has an invalid value (the line names it and what is allowed)",
    ExitCode.BAD_ATTENTION_CONFIG: "the attention backend config cannot be read, parsed or validated",
    ExitCode.DEVICE_UNAVAILABLE: "SGLANG_DIFFUSION_TARGET_DEVICE names a device this host does not have",
    ExitCode.MODEL_ERROR: "the model directory is missing, is not a diffusers pipeline, or failed to load",
    ExitCode.BAD_REQUEST: "the request cannot be generated (prompt the model cannot draw, bad size or steps)",
    ExitCode.OUT_OF_MEMORY: "the device ran out of memory",
    ExitCode.RUNTIME_ERROR: "generation failed on the device (CUDA/accelerator or other runtime error)",
    ExitCode.OUTPUT_ERROR: "the output directory or file cannot be written",
    ExitCode.UPLOAD_FAILED: "images were generated and saved locally, but the cloud upload failed (warning)",
    ExitCode.WORKER_FAILED: "a worker process (--num-workers) died or reported a failure",
    ExitCode.CANCELLED: "stopped by SIGTERM/SIGINT at a step boundary (128 + SIGTERM)",
}
"""Meaning of each code, in words (README table, console crash report)."""


@dataclass
class BackendError(Exception):
    """A failure that ends a request (or the process) with one clear line and a documented code."""

    code: ExitCode
    message: str

    def __str__(self) -> str:
        return self.message


def describe(code: int) -> str:
    """Words for an exit status, including signals (negative for Popen, 128+N for shells)."""
    if code in EXIT_CODES:
        return EXIT_CODES[code]
    if code < 0 or code > 128:
        import signal

        num = -code if code < 0 else code - 128
        try:
            return f"killed by signal {signal.Signals(num).name}"
        except ValueError:
            return f"killed by signal {num}"
    return "unknown exit status"


def markdown_table() -> str:
    """The README table, generated from :data:`EXIT_CODES`."""
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| {int(code)} | {text} |" for code, text in EXIT_CODES.items()]
    return "\n".join(rows)
