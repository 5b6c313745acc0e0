"""Turn an untrusted request body (HTTP or a stdin JSON line) into a :class:`GenerationRequest`.

A body is written by whoever can reach the port: any local process, or a web page in the operator's
browser.  So nothing in it may name a place on disk: ``output_file_name`` and ``perf_dump_path`` are
bare file names, and both land inside the server's own ``--output-path``.  Every field is type-checked
and bounded here, so a bad body is a 400 with a sentence naming the field, never a 500.
"""

from __future__ import annotations

import math
import os
from typing import Any

from backend.exit_codes import BackendError, ExitCode
from backend.pipeline.limits import MAX_SIDE, Limits
from backend.pipeline.request import GenerationRequest

MAX_N = 16
"""Images per body unless the server's ``--max-batch-size`` is lower."""
MAX_SEED = 2**63 - 1
MAX_PROMPT_CHARS = 10_000
MAX_NAME_CHARS = 200


def bad(message: str) -> BackendError:
    return BackendError(ExitCode.BAD_REQUEST, f"Bad request: {message}")


def parse_size(size: Any, max_pixels: int | None = None) -> tuple[int | None, int | None]:
    """``"WxH"`` → (height, width); ``None``/``""``/``"auto"`` → the model's default.

    Each side must be 1..16384 and, with ``max_pixels``, ``W*H`` at most that (``--max-pixels``).
    """
    if size in (None, "", "auto"):
        return None, None
    try:
        w, h = str(size).lower().split("x")
        height, width = int(h), int(w)
    except ValueError:
        raise bad(f"'size' {str(size)[:40]!r} is not WIDTHxHEIGHT") from None
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise bad(f"'size' {size!r}: each side must be from 1 to {MAX_SIDE} pixels")
    if max_pixels is not None and height * width > max_pixels:
        raise bad(f"'size' {size!r} is {height * width} pixels, over the server's limit of {max_pixels} (--max-pixels)")
    return height, width


def bare_file_name(key: str, value: Any) -> str | None:
    """A file name with no directory part, or None; anything that could leave the output directory is refused."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise bad(f"{key!r} must be a non-empty string (a file name), got {type(value).__name__}")
    if (
        "/" in value or "\\" in value or "\x00" in value or value in (".", "..")
        or value.startswith(".") or os.path.isabs(value) or len(value) > MAX_NAME_CHARS
    ):
        raise bad(f"{key!r} must be a plain file name (no directory, no leading dot, at most "
                  f"{MAX_NAME_CHARS} characters), got {value[:80]!r}")
    return value


def integer(body: dict[str, Any], key: str, default: int | None, low: int, high: int) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad(f"{key!r} must be an integer from {low} to {high}, got {str(value)[:40]!r}")
    return value


def optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_PROMPT_CHARS:
        raise bad(f"{key!r} must be a string of at most {MAX_PROMPT_CHARS} characters")
    return value


def request_from_body(body: Any, output_path: str, max_steps: int | None = None,
                      limits: Limits | None = None) -> GenerationRequest:
    """Build a request from an OpenAI-style body; raises BackendError(BAD_REQUEST) for any bad field.

    Args:
        body: the decoded JSON.
        output_path: the server's output directory; the only place a body's files may land.
        max_steps: the server's upper bound on denoising steps (overrides ``limits.max_steps``).
        limits: the server's ``--max-*`` bounds (steps, images per request, pixels per image).
    """
    bounds = limits or Limits()
    max_steps = max_steps if max_steps is not None else bounds.max_steps
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS:
        raise bad(f"'prompt' must be a non-empty string of at most {MAX_PROMPT_CHARS} characters")
    height, width = parse_size(body.get("size"), bounds.max_pixels)
    guidance = body.get("guidance_scale")
    if guidance is not None and (
        isinstance(guidance, bool) or not isinstance(guidance, int | float) or not math.isfinite(guidance)
    ):
        raise bad("'guidance_scale' must be a finite number")
    n = integer(body, "n", 1, 1, min(MAX_N, bounds.max_batch)) or 1
    steps_key = "steps" if "steps" in body else "num_inference_steps"
    steps = integer(body, steps_key, None, 1, max_steps)
    output_file_name = bare_file_name("output_file_name", body.get("output_file_name"))
    perf_name = bare_file_name("perf_dump_path", body.get("perf_dump_path"))
    return GenerationRequest(
        prompt=prompt, negative_prompt=optional_text(body, "negative_prompt"), num_inference_steps=steps,
        height=height, width=width, seed=integer(body, "seed", 42, 0, MAX_SEED) or 0, batch_size=n,
        total_batch=n, guidance_scale=guidance, output_path=output_path, output_file_name=output_file_name,
        perf_dump_path=os.path.join(output_path, perf_name) if perf_name else None,
        perf_dump_tag="server_perf_dump",
    )
