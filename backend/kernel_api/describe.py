"""Describing torch values for the kernel API log: tensors by metadata (and statistics), containers
by their first items, other objects by shape/dtype/device or a short ``repr``.

Why its own module: what a value looks like in the log (SGLang's shapes, rendered by
:mod:`backend.records`) is apart from when a call is logged.
"""

from __future__ import annotations

from typing import Any

import torch

from backend.records import GRAPH_CAPTURE_NOTE, ArgDesc, TensorDesc, TensorStats, ValueDesc


def graph_capture_active() -> bool:
    """True while a CUDA or XPU graph is being captured (statistics and dumps would break it)."""
    try:
        if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
            return True
        xpu = getattr(torch, "xpu", None)
        return bool(xpu is not None and xpu.is_available() and xpu.is_current_stream_capturing())
    except Exception:  # noqa: BLE001
        return False


def is_compiling() -> bool:
    """True while torch.compile traces (calls made then are not logged)."""
    try:
        return bool(torch.compiler.is_compiling())
    except Exception:  # noqa: BLE001
        return False


def tensor_stats(tensor: torch.Tensor) -> TensorStats:
    """min/max/mean in float32 (complex: absolute value), NaN/Inf counts, or SGLang's special forms."""
    if tensor.numel() == 0:
        return TensorStats(note="empty tensor")
    if tensor.device.type in ("cuda", "xpu") and graph_capture_active():
        return TensorStats(note=f"skipped: {GRAPH_CAPTURE_NOTE}")
    try:
        t = tensor.detach()
        source = t.abs().float() if t.is_complex() else t.float()
        if t.is_complex() or t.is_floating_point():
            nan_count, inf_count = int(torch.isnan(t).sum().item()), int(torch.isinf(t).sum().item())
        else:
            nan_count = inf_count = 0
        return TensorStats(
            min=float(source.min().item()),
            max=float(source.max().item()),
            mean=float(source.mean().item()),
            nan_count=nan_count,
            inf_count=inf_count,
        )
    except Exception as exc:  # noqa: BLE001 - statistics are best effort, as in SGLang
        return TensorStats(note=f"unavailable: {type(exc).__name__}")


def describe_value(value: Any, level: int = 3, depth: int = 0) -> ValueDesc:
    """Describe ``value`` for the log: tensors by metadata (plus stats at level >= 5), containers up
    to 4 (lists/tuples) or 8 (dicts) items, nesting cut at depth 2, other objects by shape/dtype/device
    or a 200-character ``repr``."""
    if depth >= 2:
        return ArgDesc("elided", type(value).__name__)
    if isinstance(value, torch.Tensor):
        return TensorDesc(
            shape=tuple(value.shape),
            dtype=str(value.dtype),
            device=str(value.device),
            requires_grad=bool(value.requires_grad),
            is_contiguous=bool(value.is_contiguous()),
            stats=tensor_stats(value) if level >= 5 else None,
        )
    if isinstance(value, (str, int, float, bool, type(None))):
        return ArgDesc("repr", repr(value))
    if isinstance(value, (list, tuple)):
        items = tuple((str(i), describe_value(v, level, depth + 1)) for i, v in enumerate(value[:4]))
        return ArgDesc(
            "list" if isinstance(value, list) else "tuple", items=items, more=max(len(value) - 4, 0)
        )
    if isinstance(value, dict):
        pairs = list(value.items())
        items = tuple((repr(k), describe_value(v, level, depth + 1)) for k, v in pairs[:8])
        return ArgDesc("dict", items=items, more=max(len(pairs) - 8, 0))
    attrs = []
    for attr in ("shape", "dtype", "device"):
        if hasattr(value, attr):
            try:
                attrs.append((attr, str(getattr(value, attr))))
            except Exception:  # noqa: BLE001
                pass
    if not attrs:
        attrs.append(("repr", repr(value)[:200]))
    return ArgDesc("object", type(value).__name__, attrs=tuple(attrs))
