"""Drill: every fault kind at kernel API levels 0/1/3/5/10, through ``sgl-console run``.

Faults: segfault, abort, exception, nan, hang (the run's stall timeout stops it), exit, kill -9 (the
drill SIGKILLs the backend mid-run) and OOM (a real allocation bound: ``RLIMIT_AS`` on the child via
``prlimit``, and a size that needs more).  Required: the exit decoded (128+signal, or the backend's
code), the crash report's exit right, and 0 orphans (tag, process group and session scan).
Short variant: one level per fault for four faults; long: every fault at every level.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend.exit_codes import ExitCode
from tests.fixtures_backend import backend_command, clean_env
from tests.fixtures_drills import long_drills
from tests.fixtures_session import REPO_ROOT
from tests.reliability.support import TAG_VARIABLE, kill_tagged, new_tag, survivors, tagged, wait_until

pytestmark = pytest.mark.slow
LEVELS = (0, 1, 3, 5, 10)
FAULTS = ("segfault", "abort", "exception", "nan", "hang", "exit", "kill9", "oom")
SHORT = {("segfault", 3), ("exception", 1), ("kill9", 0), ("oom", 0)}
EXPECTED: dict[str, tuple[set[int], str | None]] = {
    "segfault": ({139}, "SIGSEGV"), "abort": ({134}, "SIGABRT"), "exception": ({int(ExitCode.RUNTIME_ERROR)}, None),
    "nan": ({0, int(ExitCode.BAD_REQUEST), int(ExitCode.RUNTIME_ERROR)}, None), "hang": ({130, 137, 143}, None),
    "exit": ({3}, None), "kill9": ({137}, "SIGKILL"), "oom": ({int(ExitCode.OUT_OF_MEMORY)}, None),
}
"""Exit codes (as ``sgl-console run`` returns them) and the signal the report must name."""
OOM_HEADROOM = 48 << 20
"""Address space the OOM child gets beyond what importing the backend maps (measured per run, so the
bound follows the installed libraries; the probe imports what the backend imports before its model
loads, diffusers' eager autoencoder package included, which pulls in transformers' models): enough
to start, not enough to load the model and generate.
The tiny model cannot be made to overrun a generous bound quickly on a CPU (a 256x256 image runs in
900 MB, a batch of 64 in 1.5 GB, at minutes per step)."""
PROBE = ("import re, torch, backend.models.shapes_pipeline, backend.server.runtime; "
         "print(re.search(r'VmPeak:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")


def _oom_bound(env: dict[str, str]) -> int:
    kb = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True,
                        timeout=300).stdout.strip()
    return int(kb) * 1024 + OOM_HEADROOM


XFAIL: dict[str, str] = {}
"""Fault -> why it is expected to fail today (empty: the backend maps CPU allocation failures to exit 8)."""


def _cases() -> list[Any]:
    out = []
    for fault in FAULTS:
        for level in LEVELS:
            marks = [pytest.mark.xfail(strict=True, reason=XFAIL[fault])] if fault in XFAIL else []
            out.append(pytest.param(fault, level, id=f"{fault}-L{level}", marks=marks))
    return out


def _argv(fault: str, tmp: Path, env: dict[str, str]) -> list[str]:
    base = ["generate", "--prompt", "a red circle", "--num-inference-steps", "2", "--output-path", str(tmp / "out")]
    inject = {"segfault": "segfault", "abort": "abort", "exception": "exception", "nan": "nan", "hang": "hang",
              "exit": "exit=3", "kill9": "hang"}
    if fault == "oom":
        return ["prlimit", f"--as={_oom_bound(env)}", "--", *backend_command(*base, "--height", "256", "--width", "256")]
    return backend_command(*base, "--inject-fault", inject[fault])


@pytest.mark.parametrize(("fault", "level"), _cases())
def test_crash_matrix(fault: str, level: int, tmp_path: Path, figure: Callable[[str, str], None]) -> None:
    if (fault, level) not in SHORT and not long_drills():
        pytest.skip("long variant (./run.sh drills --long)")
    tag = new_tag()
    env = clean_env(tmp_path, **{TAG_VARIABLE: tag, "SGLANG_KERNEL_API_LOGLEVEL": str(level),
                                 "SGLANG_DIFFUSION_CONFIG_ROOT": str(tmp_path / "config"),
                                 "SGLANG_KERNEL_API_DUMP_DIR": str(tmp_path / "dumps"), "PYTHONPATH": str(REPO_ROOT),
                                 "SGL_CONSOLE_PLATFORMS": "cuda"})
    argv = [sys.executable, "-m", "tui", "run", "--quiet", "--stop-timeout", "2", "--stall-timeout", "4", "--force",
            "--", *_argv(fault, tmp_path, env)]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        if fault == "kill9":
            def backend() -> int:
                return next((p.pid for p in tagged(tag) if "generate" in " ".join(p.cmdline())
                             and "-m tui" not in " ".join(p.cmdline())), 0)
            os.kill(wait_until(backend, 240, "the backend running", every=0.5), signal.SIGKILL)
        _, err = proc.communicate(timeout=400)
        left = survivors(tag, pgid=proc.pid, sid=proc.pid, grace=10)
    finally:
        kill_tagged(tag)
    codes, sig = EXPECTED[fault]
    report: dict[str, Any] = {}
    line = next((ln for ln in err.splitlines() if "crash report: " in ln), None)
    if line:
        report = json.loads(Path(line.split("crash report: ", 1)[1].split(" (and .json)")[0]).with_suffix(".json").read_text())
    exit_info = report.get("exit") or {}
    report_right = (proc.returncode == 0 and not report) or (
        exit_info.get("signal_name") == sig if sig else exit_info.get("exit_code") == proc.returncode)
    if fault == "hang":
        report_right = "stall" in str(report.get("how", "")).lower() or "stop" in str(report.get("how", "")).lower()
    figure(f"crash {fault} L{level}", f"exit {proc.returncode} (want {sorted(codes)}), report: "
                                      f"{report.get('how', 'none')!r} ({'right' if report_right else 'WRONG'}), "
                                      f"{len(left)} orphans")
    assert not left, left
    assert proc.returncode in codes, err[-3000:]
    assert report_right, report.get("how")
