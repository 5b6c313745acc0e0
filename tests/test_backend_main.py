"""``sgl-backend``'s entry point when memory runs out: exit 8 (out of memory) even when naming it fails.

Why: under an address-space limit the allocation can fail while the backend still imports its
libraries, and the log call that reports it needs memory too; that second ``MemoryError`` used to
escape as exit 1, a crash the console could not name.  A ``MemoryError`` inside ``logging`` cannot be
provoked on demand, so this one test simulates both failures (named so: a stand-in for what only a
real limit produces, which the crash-matrix drill runs with ``prlimit``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from backend.__main__ import OUT_OF_MEMORY_LINE
from backend.exit_codes import ExitCode
from tests.fixtures_backend import clean_env
from tests.fixtures_session import REPO_ROOT

SIMULATED = """
import sys
import backend.__main__ as entry

def out_of_memory(*args, **kwargs):
    raise MemoryError()

entry.generate_main = out_of_memory  # simulated: the allocation fails while the backend starts
entry.log.error = out_of_memory      # simulated: and reporting it cannot allocate either
sys.exit(entry.main(["generate", "--prompt", "a red circle", "--output-path", sys.argv[1]]))
"""


def test_a_memory_error_while_reporting_one_still_exits_out_of_memory(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SIMULATED, str(tmp_path / "out")], cwd=REPO_ROOT,
                          env=clean_env(tmp_path), capture_output=True, timeout=120)
    assert done.returncode == int(ExitCode.OUT_OF_MEMORY), done.stderr.decode(errors="replace")[-2000:]
    assert OUT_OF_MEMORY_LINE in done.stderr
    assert b"Traceback" not in done.stderr
