"""Figures of the reliability drills (``tests/reliability/``): each drill reports one line, and the
end of the pytest run prints them together, also under pytest-xdist.

Why a file and not a fixture's return value: with ``-n`` the drills run in worker processes, and
only the controller prints the summary.  The controller creates the file (0600, in a private
temporary directory) before the workers start; workers inherit its path through the environment.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIGURES_VARIABLE = "SGL_DRILL_FIGURES"
LONG_VARIABLE = "SGL_DRILLS_LONG"
"""``1``: the long variants (``./run.sh drills --long``); otherwise the short ones CI runs."""


def long_drills() -> bool:
    return os.environ.get(LONG_VARIABLE, "") not in ("", "0")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or os.environ.get(FIGURES_VARIABLE):
        return
    folder = tempfile.mkdtemp(prefix="sgl-drills-")
    os.environ[FIGURES_VARIABLE] = os.path.join(folder, "figures.jsonl")
    config._sgl_drill_folder = folder  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = getattr(config, "_sgl_drill_folder", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(FIGURES_VARIABLE, None)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    path = os.environ.get(FIGURES_VARIABLE)
    if hasattr(config, "workerinput") or not path or not os.path.exists(path):
        return
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if not rows:
        return
    terminalreporter.section(f"drill figures ({'long' if long_drills() else 'short'} variants)")
    for row in sorted(rows, key=lambda r: r["drill"]):
        terminalreporter.write_line(f"{row['drill']:<22} {row['figure']}")


def record_figure(drill: str, figure: str) -> None:
    """Append one drill's figure line (one ``write`` on an O_APPEND file: lines never interleave)."""
    path = os.environ.get(FIGURES_VARIABLE)
    print(f"[drill] {drill}: {figure}")
    if not path:
        return
    data = (json.dumps({"drill": drill, "figure": figure}) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@pytest.fixture
def figure() -> Callable[[str, str], None]:
    """``figure(drill, text)``: report a drill's figure line."""
    return record_figure
