"""What the kernel API logs can and cannot say about a death: per process, the call in flight (or
the last one logged), kernel exceptions scoped fatal/history, and the first NaN/Inf seen.

Why separate from :mod:`tui.crash`: the certainty rules live here. At level >= 3 a block without
``Output:`` did not return, so it was in flight; at level 1 only headers are written, so the last
header may have returned long before the process died (level 1 cannot tell). A kernel exception
followed by more calls in the same process was survived (history), never the cause. Blocks are
parsed by :class:`backend.records.KernelApiLogParser`; nothing here parses a line shape.

Imports neither textual nor rich.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend.records import KernelApiCall, KernelApiLogParser, TensorDesc, ValueDesc
from tui.crash_scope import SourceLine

IN_FLIGHT = "in_flight"
LAST_LOGGED = "last_logged"
BETWEEN_CALLS = "between_calls"
RAISED = "raised"
LEVEL1_CAVEAT = "last call logged (level 1 cannot tell whether it finished)"
_PID_RE = re.compile(r"(?:^|[_.-])(\d{2,8})(?:\.[A-Za-z]+)?$")


def pid_from_name(path: str) -> int | None:
    """The pid a ``%i`` in ``SGLANG_KERNEL_API_LOGDEST`` put in the file name, if any."""
    m = _PID_RE.search(os.path.basename(path))
    return int(m.group(1)) if m else None


@dataclass
class KernelSource:
    """The kernel API blocks of one file or stream: one process's calls."""

    source: str
    pid: int | None
    detailed: bool
    """Level >= 3 (arguments / outputs are logged); False means level 1."""
    calls: list[KernelApiCall]
    """In the order they started."""

    @property
    def level_text(self) -> str:
        return ">=3" if self.detailed else "1"

    def open_calls(self) -> list[KernelApiCall]:
        return [c for c in self.calls if not c.completed and c.exception is None]

    def verdict(self) -> tuple[str, KernelApiCall | None, list[str]]:
        """``(status, call, enclosing names)``: in flight (level >= 3, no ``Output:``), the last call
        logged (level 1), or between calls (level >= 3, every call returned or raised)."""
        if not self.calls:
            return BETWEEN_CALLS, None, []
        if not self.detailed:
            return LAST_LOGGED, self.calls[-1], []
        pending = self.open_calls()
        if pending:
            call = max(pending, key=lambda c: (c.depth, c.index))
            enclosing = [c.api_name for c in sorted(pending, key=lambda c: c.depth) if c.depth < call.depth]
            return IN_FLIGHT, call, enclosing
        last = self.calls[-1]
        return (RAISED if last.exception is not None else BETWEEN_CALLS), last, []

    def exceptions(self) -> list[tuple[KernelApiCall, bool]]:
        """``(call, fatal)`` for each call that raised; fatal when no call started after it."""
        return [(c, all(o.index <= c.index or o.depth > c.depth for o in self.calls))
                for c in self.calls if c.exception is not None]


def kernel_source(name: str, lines: Sequence[SourceLine] | Sequence[str]) -> KernelSource | None:
    """Parse one source's kernel blocks; None when it holds none."""
    parser = KernelApiLogParser()
    calls: list[KernelApiCall] = []
    for line in lines:
        calls += parser.feed(line.text if isinstance(line, SourceLine) else line)
    calls += parser.flush()
    if not calls:
        return None
    return KernelSource(name, pid_from_name(name), parser.detailed, sorted(calls, key=lambda c: c.index))


def _tensors(value: ValueDesc, label: str) -> list[tuple[str, TensorDesc]]:
    if isinstance(value, TensorDesc):
        return [(label, value)]
    out: list[tuple[str, TensorDesc]] = []
    for sub, item in value.items:
        out += _tensors(item, f"{label}[{sub}]")
    return out


def first_non_finite(sources: Sequence[KernelSource]) -> dict[str, Any] | None:
    """The first call (by time, then log order) with a NaN or Inf in an argument or its output."""
    ordered = sorted(((c.timestamp.isoformat() if c.timestamp else "", n, c.index, c, s)
                      for n, s in enumerate(sources) for c in s.calls), key=lambda t: t[:3])
    for stamp, _n, _i, call, src in ordered:
        parts = [("input", name, v) for name, v in call.inputs]
        if call.output is not None:
            parts.append(("output", "return", call.output))
        for part, name, value in parts:
            for label, tensor in _tensors(value, name):
                st = tensor.stats
                if st is None or not (st.nan_count or st.inf_count):
                    continue
                return {
                    "api_name": call.api_name, "part": part, "argument": label, "nan_count": st.nan_count,
                    "inf_count": st.inf_count, "shape": list(tensor.shape), "dtype": tensor.dtype,
                    "timestamp": stamp.replace("T", " ") or None, "source": src.source, "pid": src.pid,
                    "call_index": call.index, "call_number": sum(1 for c in src.calls if c.api_name == call.api_name and c.index <= call.index),
                    "inputs_clean": part == "output" and call.nan_total("inputs") == 0
                    and call.inf_total("inputs") == 0,
                }
    return None


def finite_or_text(value: Any) -> Any:
    """Strict-JSON form of a value: NaN/Inf floats become the strings ``nan``/``inf``/``-inf``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: finite_or_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_text(v) for v in value]
    return value


__all__ = [
    "BETWEEN_CALLS", "IN_FLIGHT", "LAST_LOGGED", "RAISED", "LEVEL1_CAVEAT", "KernelSource", "finite_or_text",
    "first_non_finite", "kernel_source", "pid_from_name",
]
