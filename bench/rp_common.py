"""What every real-path scenario shares: the private environment of one run (:class:`Env`), the
console's landmarks on screen, and the shape of one result row.

Why its own module: the scenarios (:mod:`rp_latency`, :mod:`rp_throughput`) and the driver
(``bench_realpath.py``) all use these; none of it measures anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rp_tmux import Pane

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
CHILD = [PY, str(HERE / "rp_children.py")]
FOOTER = "f2 Settings"
FIRST_PANE = "SGLANG_DIFFUSION_TARGET_DEVICE"
SETTINGS_TABS = "Runtime  Platform"
LIVE_TABS = "Output  Timings"

Row = dict[str, Any]
EXIT_WAIT_S = 15.0
"""How long past the child's death the exit may take to show before it counts as a miss."""


def row(metric: str, c_text: str, a_text: str, ratio: float | None, budget: str, ok: bool | None, /,
        **figures: Any) -> Row:
    """One line of RESULTS.md: the console's figure, its anchor's, their ratio, the budget, pass/fail."""
    return {"metric": metric, "console": c_text, "anchor": a_text, "ratio": ratio, "budget": budget,
            "ok": ok, "figures": figures}


class Env:
    """A private root for one benchmark run: config, cache, sessions, run logs, FIFOs."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sgl-bench-"))
        from tests.demo import demo_environ

        self.env = demo_environ(str(self.root))
        self.env["PYTHONPATH"] = os.pathsep.join([str(ROOT), self.env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def path(self, name: str) -> str:
        return str(self.root / name)

    def session(self, **values: str) -> None:
        """Writes the default session through ``sgl-console env set`` (the operator's own path)."""

        base = [PY, "-m", "tui", "env"]
        subprocess.run([*base, "unset", "default", "SGLANG_KERNEL_API_LOGDEST", "SGLANG_KERNEL_API_LOGLEVEL",
                        "SGLANG_DIFFUSION_ATTENTION_CONFIG"], env=self.env, capture_output=True)
        if values:
            subprocess.run([*base, "set", "default", *(f"{k}={v}" for k, v in values.items())], env=self.env,
                           check=True, capture_output=True)

    def console(self, command: list[str] | None = None) -> Pane:
        import shlex

        argv = [PY, "-m", "tui"]
        if command:
            argv += ["--command", " ".join(shlex.quote(c) for c in command)]
        return Pane(argv, env=self.env, cwd=str(self.root))

    def pane(self, argv: list[str]) -> Pane:
        return Pane(argv, env=self.env, cwd=str(self.root))


def ready(p: Pane, timeout: float = 30.0) -> float | None:
    """Console start finished: first pane and footer drawn."""
    return p.wait_text(FIRST_PANE, FOOTER, timeout=timeout)


def switch(p: Pane, key: str, text: str, timeout: float = 10.0) -> float | None:
    """Press ``key``; seconds until ``text`` is on screen (None past the deadline)."""
    t0 = time.monotonic()
    p.keys(key)
    seen = p.wait_text(text, timeout=timeout)
    return None if seen is None else seen - t0


def ms(v: float) -> str:
    """Seconds as milliseconds for a row (``miss`` for NaN)."""
    return "miss" if v != v else f"{v * 1000:.0f} ms" if v >= 0.1 else f"{v * 1000:.1f} ms"
