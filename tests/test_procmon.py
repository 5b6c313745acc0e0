"""Process monitor: a real tree (child + grandchild), vanished processes tolerated."""

from __future__ import annotations

import subprocess
import sys

from tests.console_helpers import wait_until
from tui.procmon import ProcessMonitor


def test_tree_snapshot_and_vanishing_processes() -> None:
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']);"
            "f = open('/dev/null'); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        mon = ProcessMonitor(proc.pid)
        snap = wait_until(lambda: (s := mon.snapshot()) and len(s.procs) == 2 and s)
        root, kid = snap.procs
        assert (root.pid, root.depth, kid.ppid, kid.depth) == (proc.pid, 0, proc.pid, 1)
        assert root.rss and root.threads and root.open_files is not None and "python" in root.name
        assert snap.alive and snap.total_rss >= root.rss and snap.total_cpu_percent >= 0.0
        subprocess.run(["kill", "-9", str(kid.pid)], check=False)
        wait_until(lambda: [p.pid for p in mon.snapshot().procs if p.status != "zombie"] == [proc.pid])
    finally:
        proc.kill()
        proc.wait(10)
    assert not mon.snapshot().alive and ProcessMonitor(proc.pid).snapshot().procs == ()
