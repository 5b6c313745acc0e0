"""Upper bounds on one request's work, and an estimate of its memory, checked before anything is allocated.

Why: without them ``{"steps": 100000000}`` grew ``serve`` to 24 GB until the kernel killed it and
``--batch-size 100000`` allocated for minutes while SIGTERM waited (issue 10, defect 2).  Every bound
is a flag of ``generate`` and ``serve`` (``--max-steps``, ``--max-batch-size``, ``--max-pixels``,
``--max-request-memory``); a request over one is refused with a sentence naming the field, its value,
the bound and the flag that raises it.  The memory estimate is deliberately generous (activations of
the VAE decoder at full resolution, the attention matrix if the math kernel materialises it, the
latents, the guidance batch) and is compared with what the device has free right now.
No torch import here: the CLI checks the static bounds before the model loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backend.exit_codes import BackendError, ExitCode

DEFAULT_MAX_STEPS = 1000
DEFAULT_MAX_BATCH = 64
DEFAULT_MAX_PIXELS = 4096 * 4096
"""Per image, height x width."""
MAX_SIDE = 16384
MEMORY_HEADROOM = 0.9
"""Without ``--max-request-memory``, a request may use at most this share of the free memory."""

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: str) -> int:
    """``"512M"``, ``"2G"``, ``"1.5GiB"``, ``"4096"`` -> bytes.  Raises ``ValueError`` with the allowed forms."""
    m = _SIZE_RE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a size: give a positive number of bytes with an optional K, M, G or T")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class Limits:
    """The bounds in force for one process (from its flags)."""

    max_steps: int = DEFAULT_MAX_STEPS
    max_batch: int = DEFAULT_MAX_BATCH
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_request_bytes: int | None = None
    """``--max-request-memory``; None: :data:`MEMORY_HEADROOM` of the free memory."""

    @classmethod
    def from_args(cls, args: Any) -> Limits:
        """Read the ``--max-*`` flags (absent ones keep their defaults)."""
        return cls(
            max_steps=getattr(args, "max_steps", None) or DEFAULT_MAX_STEPS,
            max_batch=getattr(args, "max_batch_size", None) or DEFAULT_MAX_BATCH,
            max_pixels=getattr(args, "max_pixels", None) or DEFAULT_MAX_PIXELS,
            max_request_bytes=getattr(args, "max_request_memory", None),
        )

    def problems(self, steps: int | None, batch: int | None, height: int | None, width: int | None,
                 names: dict[str, str] | None = None) -> list[str]:
        """Every bound the request breaks, as sentences; ``names`` maps field -> how the caller spells it."""
        spell = {"steps": "--num-inference-steps", "batch": "--batch-size", "height": "--height",
                 "width": "--width", **(names or {})}
        out = []
        if steps is not None and steps > self.max_steps:
            out.append(f"{spell['steps']} {steps} is over the limit of {self.max_steps} steps (raise it with --max-steps)")
        if batch is not None and batch > self.max_batch:
            out.append(f"{spell['batch']} {batch} is over the limit of {self.max_batch} images per request "
                       "(raise it with --max-batch-size)")
        for key, side in (("height", height), ("width", width)):
            if side is not None and side > MAX_SIDE:
                out.append(f"{spell[key]} {side} is over the largest side of {MAX_SIDE} pixels")
        if height is not None and width is not None and height * width > self.max_pixels:
            out.append(f"{width}x{height} is {height * width} pixels per image, over the limit of {self.max_pixels} "
                       "(raise it with --max-pixels)")
        return out

    def check(self, steps: int | None, batch: int | None, height: int | None, width: int | None) -> None:
        """Raise ``BackendError(BAD_REQUEST)`` naming the first bound broken."""
        found = self.problems(steps, batch, height, width)
        if found:
            raise BackendError(ExitCode.BAD_REQUEST, f"Bad request: {found[0]}")


def _cfg(component: Any, key: str, default: int) -> int:
    config = getattr(component, "config", None)
    value = config.get(key) if isinstance(config, dict) else getattr(config, key, None)
    if isinstance(value, list | tuple):
        value = max(value) if value else None
    return int(value) if isinstance(value, int | float) and value > 0 else default


def estimate_request_bytes(pipe: Any, steps: int, batch: int, height: int, width: int, guided: bool,
                           element_size: int = 4) -> int:
    """A generous upper estimate of the memory one request needs beyond the loaded weights."""
    vae = getattr(pipe, "vae", None)
    transformer = getattr(pipe, "transformer", None)
    scale = int(getattr(pipe, "vae_scale_factor", 0) or 8)
    latent_ch = _cfg(vae, "latent_channels", 16)
    vae_ch = _cfg(vae, "block_out_channels", 512)
    patch = _cfg(transformer, "patch_size", 2)
    heads = _cfg(transformer, "num_attention_heads", 24)
    head_dim = _cfg(transformer, "attention_head_dim", 128)
    model_batch = batch * (2 if guided else 1)
    lat_h, lat_w = max(1, height // scale), max(1, width // scale)
    tokens = max(1, (lat_h // patch) * (lat_w // patch))
    latents = model_batch * latent_ch * lat_h * lat_w * element_size * 4
    hidden = model_batch * tokens * heads * head_dim * element_size * 12
    attention = model_batch * heads * tokens * tokens * element_size * 2
    decode = batch * vae_ch * height * width * element_size * 3
    images = batch * height * width * 4 * 2
    schedule = steps * 64
    return latents + hidden + attention + decode + images + schedule


def free_memory_bytes(device: Any) -> int | None:
    """Free memory where the request will run: the device's for CUDA, the host's available RAM else."""
    if getattr(device, "type", "cpu") == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return None
    return int(psutil.virtual_memory().available)


def check_memory(limits: Limits, estimate: int, device: Any) -> None:
    """Refuse (``BAD_REQUEST``) a request whose estimate is over ``--max-request-memory`` or the free memory."""
    if limits.max_request_bytes is not None:
        if estimate > limits.max_request_bytes:
            raise BackendError(ExitCode.BAD_REQUEST, (
                f"Bad request: needs about {human_bytes(estimate)}, over --max-request-memory "
                f"{human_bytes(limits.max_request_bytes)} (fewer images, fewer pixels, or raise the limit)"))
        return
    free = free_memory_bytes(device)
    if free is not None and estimate > free * MEMORY_HEADROOM:
        raise BackendError(ExitCode.BAD_REQUEST, (
            f"Bad request: needs about {human_bytes(estimate)} but only {human_bytes(free)} is free on "
            f"{getattr(device, 'type', 'cpu')} (fewer images, fewer pixels, or set --max-request-memory)"))
