"""Level-10 kernel API dump folders: their names, ``metadata.json`` and a scan of the dump root.

Split out of :mod:`backend.records` (the contract module, which re-exports every public name here;
callers import from there). Standard library only.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

DUMP_TIME_FORMAT = "%Y%m%d_%H%M%S_%f"
"""Folder/metadata timestamp; SGLang cuts the microseconds to milliseconds (``[:-3]``)."""
DUMP_METADATA_FILE = "metadata.json"
_DUMP_NAME_RE = re.compile(r"^(\d{8}_\d{6}_\d{3})_pid(\d+)_(.+)_call(\d{4,})$")


def dump_timestamp(when: datetime | None = None) -> str:
    """``YYYYmmdd_HHMMSS_mmm``, the folder-name and metadata timestamp."""
    return (when or datetime.now()).strftime(DUMP_TIME_FORMAT)[:-3]


def dump_dir_name(timestamp: str | datetime, pid: int, api_name: str, call_n: int) -> str:
    """``<YYYYmmdd_HHMMSS_mmm>_pid<PID>_<api name, / < > replaced by _>_call<NNNN>``."""
    stamp = dump_timestamp(timestamp) if isinstance(timestamp, datetime) else timestamp
    safe = api_name.replace("/", "_").replace("<", "_").replace(">", "_")
    return f"{stamp}_pid{pid}_{safe}_call{call_n:04d}"


@dataclass(frozen=True)
class DumpMetadata:
    """``metadata.json`` of one level-10 dump folder (SGLang's field names and order)."""

    function_name: str
    timestamp: str
    process_id: int
    execution_status: str
    """``inputs_saved`` (written before the call; stays so after a hard crash), ``completed``, ``exception``."""
    input_metadata: dict[str, Any] = field(default_factory=dict)
    input_tensor_keys: tuple[str, ...] = ()
    output_metadata: dict[str, Any] = field(default_factory=dict)
    output_tensor_keys: tuple[str, ...] = ()
    exception: dict[str, str] | None = None
    """``{"type", "message"}`` when the status is ``exception``."""

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "function_name": self.function_name,
            "timestamp": self.timestamp,
            "process_id": self.process_id,
            "execution_status": self.execution_status,
            "input_metadata": self.input_metadata,
            "input_tensor_keys": list(self.input_tensor_keys),
            "output_metadata": self.output_metadata,
            "output_tensor_keys": list(self.output_tensor_keys),
        }
        if self.exception is not None:
            data["exception"] = self.exception
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> DumpMetadata:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("metadata.json is not an object")
        return cls(
            function_name=str(data.get("function_name", "")),
            timestamp=str(data.get("timestamp", "")),
            process_id=int(data.get("process_id", 0)),
            execution_status=str(data.get("execution_status", "unknown")),
            input_metadata=dict(data.get("input_metadata") or {}),
            input_tensor_keys=tuple(data.get("input_tensor_keys") or ()),
            output_metadata=dict(data.get("output_metadata") or {}),
            output_tensor_keys=tuple(data.get("output_tensor_keys") or ()),
            exception=data.get("exception"),
        )


def read_dump_metadata(folder: str | os.PathLike[str]) -> DumpMetadata:
    """Read ``<folder>/metadata.json``; raises ``OSError`` or ``ValueError``."""
    return DumpMetadata.from_json((Path(folder) / DUMP_METADATA_FILE).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DumpEntry:
    """One dump folder: what its name says, plus its metadata when readable."""

    path: str
    timestamp: str | None
    pid: int | None
    api_name: str | None
    """The name as it appears in the folder (``/ < >`` already replaced by ``_``)."""
    call_n: int | None
    metadata: DumpMetadata | None
    error: str | None = None
    """Why ``metadata`` is missing (``"missing"`` or the read/parse error): e.g. a half-written dump."""
    has_inputs: bool = False
    has_outputs: bool = False

    @property
    def status(self) -> str:
        return self.metadata.execution_status if self.metadata is not None else "unknown"


def scan_dump_root(root: str | os.PathLike[str]) -> list[DumpEntry]:
    """All dump folders under ``root``, oldest first; a missing root gives ``[]``."""
    base = Path(root)
    try:
        children = [p for p in base.iterdir() if p.is_dir()]
    except OSError:
        return []
    entries = []
    for child in children:
        m = _DUMP_NAME_RE.match(child.name)
        meta: DumpMetadata | None = None
        error: str | None = None
        if not (child / DUMP_METADATA_FILE).exists():
            error = "missing"
        else:
            try:
                meta = read_dump_metadata(child)
            except (OSError, ValueError, TypeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        entries.append(
            DumpEntry(
                path=str(child),
                timestamp=m.group(1) if m else (meta.timestamp if meta else None),
                pid=int(m.group(2)) if m else (meta.process_id if meta else None),
                api_name=m.group(3) if m else None,
                call_n=int(m.group(4)) if m else None,
                metadata=meta,
                error=error,
                has_inputs=(child / "inputs.pt").exists(),
                has_outputs=(child / "outputs.pt").exists(),
            )
        )
    entries.sort(key=lambda e: (e.timestamp or "", e.pid or 0, e.call_n or 0, e.path))
    return entries
