"""Drill: N writer processes × M ``env set`` on one session at once: 0 lost, 0 torn.

Each writer is a real process that runs the CLI's ``env set`` M times in a loop (the same code path
as M separate ``sgl-console env set`` calls, minus M interpreter starts, so the calls overlap far more
often than separate processes would and a lost update cannot hide).  The writers start together on a
barrier file.  Afterwards every entry must be in the file, the file must parse without a problem, and
every call must have exited 0.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.fixtures_session import REPO_ROOT
from tests.reliability.support import size, wait_until
from tui.session import Session

WRITER = r"""
import contextlib, io, os, sys, time
from tui.__main__ import main
index, count, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
open(f"{go}.ready{index}", "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
failed = 0
for j in range(count):
    with contextlib.redirect_stdout(io.StringIO()):
        failed += main(["env", "set", "storm", f"DRILL_W{index}_{j}=v{j}"]) != 0
print(failed)
"""


def test_concurrent_env_set(tmp_path: Path, clean_env: dict[str, str], config_root: Path,
                            figure: Callable[[str, str], None]) -> None:
    writers, each = size(2, 4), size(60, 200)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(i), str(each), str(go)], cwd=REPO_ROOT,
                              env=clean_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(writers)]
    wait_until(lambda: all(Path(f"{go}.ready{i}").exists() for i in range(writers)), 120, "writers ready")
    go.touch()
    failed_calls = 0
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        failed_calls += int(out.strip().splitlines()[-1])
    session = Session.load("storm", clean_env)
    expected = {f"DRILL_W{i}_{j}": f"v{j}" for i in range(writers) for j in range(each)}
    lost = sum(session.get(name) != value for name, value in expected.items())
    torn = len([p for p in session.load_problems if p.severity == "error"])
    figure("concurrency", f"{writers} writers x {each} env set: {lost} lost, {torn} torn lines, "
                          f"{failed_calls} failed calls")
    assert (lost, torn, failed_calls) == (0, 0, 0)
