"""Paths into the genuine upstream fixtures (tests/data/upstream/, made by
scripts/make_upstream_fixtures.py from the sglang wheel's own logging code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RELEASE = "0.5.23"
UPSTREAM = Path(__file__).parent / "data" / "upstream" / f"sglang-{RELEASE}"


def scenario(name: str) -> Path:
    return UPSTREAM / name


def manifest() -> dict[str, Any]:
    return json.loads((UPSTREAM / "MANIFEST.json").read_text())  # type: ignore[no-any-return]


def logs(name: str, *, kernel: bool = True, perf: bool = True) -> list[str]:
    """The scenario's console captures, then its kernel API log(s) and performance.log."""
    d = scenario(name)
    out = [str(d / n) for n in ("console.log", "stdout.log", "stderr.log") if (d / n).is_file()]
    if kernel:
        out += [str(p) for p in sorted(d.glob("kernel_api*.log"))]
    if perf and (d / "perf" / "performance.log").is_file():
        out.append(str(d / "perf" / "performance.log"))
    return out


def refuse_constant(name: str) -> Any:
    """``parse_constant`` for json.loads: strict JSON has no NaN / Infinity."""
    raise ValueError(f"non-strict JSON constant {name}")
