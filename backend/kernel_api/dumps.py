"""Level-10 dumps of a kernel API call: ``inputs.pt`` and ``metadata.json`` written and fsynced
before the call (so a hard crash leaves them), then ``completed`` (plus ``outputs.pt``) or
``exception``.

Why its own module: the dump folder's layout and its crash-safe writing are the contract the
console's crash view reads (:mod:`backend.records.dump_records`), apart from the log lines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from backend.kernel_api.config import STATE, KernelApiConfig
from backend.records import DumpMetadata, dump_dir_name, dump_timestamp


def _json_value(value: Any) -> Any:
    if isinstance(value, torch.dtype):
        return {"type": "torch.dtype", "value": str(value)}
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value[:16]]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in list(value.items())[:32]}
    return {"type": type(value).__name__, "repr": repr(value)[:200]}


def _collect(prefix: str, value: Any, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach().cpu()
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _collect(f"{prefix}_{i}", item, tensors, meta)
        meta[f"{prefix}__container"] = {"type": type(value).__name__, "length": len(value)}
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(f"{prefix}_{key}", item, tensors, meta)
        meta[f"{prefix}__container"] = {"type": "dict", "keys": [str(k) for k in value]}
    else:
        meta[prefix] = _json_value(value)


def _fsync_write(path: Path, text: str) -> None:
    """Write via a temp file + rename (never a half-written metadata.json), flushed and fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    with open(path, "wb") as fh:
        torch.save(tensors, fh)
        fh.flush()
        os.fsync(fh.fileno())


def dump_inputs(
    cfg: KernelApiConfig,
    api: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> tuple[Path, DumpMetadata]:
    """Write the call's inputs (before it runs); returns the folder and the metadata written."""
    with STATE.lock:
        n = STATE.counters.get(api, 0) + 1
        STATE.counters[api] = n
    stamp = dump_timestamp()
    folder = cfg.resolved_dump_dir() / dump_dir_name(stamp, os.getpid(), api, n)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for i, arg in enumerate(args):
        _collect(f"arg_{i}", arg, tensors, meta)
    for key, value in kwargs.items():
        _collect(f"kwarg_{key}", value, tensors, meta)
    if tensors:
        _save_tensors(tensors, folder / "inputs.pt")
    metadata = DumpMetadata(api, stamp, os.getpid(), "inputs_saved", meta, tuple(tensors))
    _fsync_write(folder / "metadata.json", metadata.to_json())
    return folder, metadata


def dump_outputs(folder: Path, metadata: DumpMetadata, result: Any) -> None:
    """Write the result and mark the dump ``completed``."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    _collect("result", result, tensors, meta)
    if tensors:
        _save_tensors(tensors, folder / "outputs.pt")
    done = replace(
        metadata, execution_status="completed", output_metadata=meta, output_tensor_keys=tuple(tensors)
    )
    _fsync_write(folder / "metadata.json", done.to_json())


def mark_exception(folder: Path, metadata: DumpMetadata, exc: BaseException) -> None:
    """Mark the dump ``exception`` with the exception's type and message."""
    failed = replace(
        metadata, execution_status="exception", exception={"type": type(exc).__name__, "message": str(exc)}
    )
    _fsync_write(folder / "metadata.json", failed.to_json())
