"""The console through the real path, each figure beside its anchor measured in the same run.

Run: ``python bench/bench_realpath.py [--quick] [--json OUT] [--only NAME ...]`` (``./run.sh bench``
runs it and writes ``bench/RESULTS.md``).

Everything runs in a real terminal (tmux 80x24, ``bench/rp_tmux.py``) with the real supervisor,
tailer and child; samples of the console and of its anchor alternate, so that a burst of load from
the other tenants of this 2-core machine hits both alike.  Scenario names (for ``--only``):
``start``, ``keys``, ``stdout``, ``file``, ``flood``, ``run500k``, ``kapi``, ``generate``,
``switches``, ``attention``, ``crowd``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from rp_common import Env, Row, row  # noqa: E402
from rp_latency import bench_attention, bench_file, bench_keys, bench_start, bench_stdout, bench_switches  # noqa: E402
from rp_throughput import bench_crowd, bench_flood, bench_generate, bench_kapi, bench_run500k  # noqa: E402

SCENARIOS: dict[str, Callable[[Env, bool], list[Row]]] = {
    "start": lambda e, q: bench_start(e, 2 if q else 5),
    "keys": lambda e, q: bench_keys(e, 6 if q else 20),
    "stdout": lambda e, q: bench_stdout(e, 15 if q else 50),
    "file": lambda e, q: bench_file(e, 15 if q else 50),
    "flood": lambda e, q: bench_flood(e, 1.0 if q else 3.0),
    "run500k": lambda e, q: bench_run500k(e, 100_000 if q else 500_000),
    "kapi": lambda e, q: bench_kapi(e, 10_000 if q else 100_000, 30 if q else 60),
    "generate": lambda e, q: bench_generate(e, 1, 8, 64) if q else bench_generate(e, 2),
    "switches": lambda e, q: bench_switches(e, 60 if q else 400),
    "attention": lambda e, q: bench_attention(e, 10 if q else 30),
    "crowd": lambda e, q: bench_crowd(e, 5.0 if q else 10.0),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, smaller floods (about 4 min)")
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="run only these scenarios")
    parser.add_argument("--json", type=Path, help="write every row (with raw samples) here")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for name, scenario in SCENARIOS.items():
        if args.only and name not in args.only:
            continue
        start = time.monotonic()
        env = Env()
        try:
            got = scenario(env, args.quick)
        except Exception as exc:  # one broken scenario must not lose the others' figures
            got = [row(name, f"failed: {type(exc).__name__}: {exc}", "-", None, "-", False)]
        finally:
            shutil.rmtree(env.root, ignore_errors=True)
        for r in got:
            r["scenario"], r["seconds"] = name, round(time.monotonic() - start, 1)
            rows.append(r)
            print(f"{name:10s} {r['metric']}: {r['console']} | anchor: {r['anchor']} | "
                  f"{'ok' if r['ok'] else 'MISS'} ({r['seconds']} s)", flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
