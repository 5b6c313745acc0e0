"""Per-request outcome lines and exception lines: the records that scope a crash to one request.

Why a module of its own: the crash report must tell the request that died from earlier ones that
failed and were handled, and a CPU ``RuntimeError`` from a CUDA error. These are the lines that
say so, in SGLang 0.5.23's shapes (``log_generation_timer``: ``Processing prompt N/M: ...``,
``Pixel data generated successfully in X seconds``, ``Failed to generate output for prompt N: ...``;
traceback last lines ``Type: message``) and our backend's older ones (``Generated N output(s) in``).
:mod:`backend.records` re-exports every name and calls :func:`parse_request_line` from ``parse_line``.
Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestStarted:
    """``Processing prompt N/M: <prompt>`` (the CLI path) or our backend's ``Request <id> ...`` line."""

    index: int | None = None
    total: int | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class GenerationDone:
    """The request produced its pixels: ``Pixel data generated successfully in X seconds``."""

    seconds: float
    outputs: int | None = None
    """Our backend's ``Generated N output(s) in X seconds`` says how many."""


@dataclass(frozen=True)
class GenerationFailed:
    """``Failed to generate output for prompt N: <str(exc)>`` (N absent outside the CLI batch path)."""

    index: int | None
    message: str


@dataclass(frozen=True)
class ExceptionRaised:
    """A traceback's last line, ``Type: message`` (``torch.AcceleratorError: ...`` keeps its module).

    ``cuda`` is set when the *text* is a CUDA/accelerator error (see :func:`cuda_kind`); the class
    name alone decides nothing: a CPU ``RuntimeError: shape mismatch`` has ``cuda=None``.
    """

    exc_type: str
    message: str
    cuda: str | None = None


_CUDA_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("device_assert", re.compile(r"device-side assert triggered|Assertion `.*` failed")),
    ("oom", re.compile(r"(?:CUDA|HIP|XPU)? ?out of memory|OutOfMemoryError")),
    (
        "cuda",
        re.compile(
            r"CUDA error|CUBLAS_STATUS_|CUDNN_STATUS_|cuDNN error|cuBLAS error|AcceleratorError|NCCL error|"
            r"illegal memory access|unspecified launch failure|misaligned address|"
            r"CUDA driver error|HIP error|hipError"
        ),
    ),
)


def cuda_kind(text: str) -> str | None:
    """``device_assert``, ``oom`` or ``cuda`` when ``text`` reads as a CUDA/accelerator error, else None."""
    for kind, regex in _CUDA_RULES:
        if regex.search(text):
            return kind
    return None


_REQUEST_RE = re.compile(r"^Processing prompt (\d+)/(\d+)(?::|$)")
_OUR_REQUEST_RE = re.compile(r"^Request (\S+) (?:started|received|accepted)\b")
_DONE_RE = re.compile(r"^Pixel data generated successfully in (\d+(?:\.\d+)?) seconds")
_OUR_DONE_RE = re.compile(r"^Generated (\d+) outputs?(?:\(s\))? in (\d+(?:\.\d+)?) seconds")
_FAILED_RE = re.compile(r"^Failed to generate output for prompt(?: (\d+))?: (.*)$")
_EXCEPTION_RE = re.compile(
    r"^((?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Interrupt|Exit|Warning)): (.*)$"
)


def request_started_message(request_id: str, detail: str) -> str:
    """``Request <id> started: <detail>`` (parsed as :class:`RequestStarted` with its id): a worker's
    tagged line that ties its ``performance.log`` record (same id) to the worker."""
    return f"Request {request_id} started: {detail}"


def parse_request_line(msg: str) -> RequestStarted | GenerationDone | GenerationFailed | ExceptionRaised | None:
    """Recognise one message (prefix and ANSI already removed), or return None."""
    if m := _REQUEST_RE.match(msg):
        return RequestStarted(int(m.group(1)), int(m.group(2)))
    if m := _OUR_REQUEST_RE.match(msg):
        return RequestStarted(request_id=m.group(1))
    if m := _DONE_RE.match(msg):
        return GenerationDone(float(m.group(1)))
    if m := _OUR_DONE_RE.match(msg):
        return GenerationDone(float(m.group(2)), int(m.group(1)))
    if m := _FAILED_RE.match(msg):
        return GenerationFailed(int(m.group(1)) if m.group(1) else None, m.group(2))
    if m := _EXCEPTION_RE.match(msg):
        return ExceptionRaised(m.group(1), m.group(2), cuda_kind(msg))
    return None


__all__ = [
    "ExceptionRaised",
    "GenerationDone",
    "GenerationFailed",
    "RequestStarted",
    "cuda_kind",
    "parse_request_line",
]
