"""Run every benchmark in bench/ (``./run.sh bench``), one after another, and show their tables.

Why sequential: this machine has 2 cores; benchmarks running side by side would measure
each other.  Each ``bench_*.py`` prints its own table; a failing one is reported and the
rest still run.  Pass names to run a subset: ``./run.sh bench router ui``.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    here = pathlib.Path(__file__).parent
    scripts = sorted(here.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    failed = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=here.parent)
        print(f"--- {script.stem}: exit {code}, {time.perf_counter() - start:.1f} s", flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
