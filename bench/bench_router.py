"""Router throughput: lines/s and peak RSS.  One command:

    python -m bench.bench_router            # both modes, 400k lines each
    python -m bench.bench_router --lines 1000000 --mode router

Modes:
    router    two feeder threads (stdout, stderr) push pre-split lines in reader-sized chunks
              (~300 lines, as the supervisor's 64 KiB reads give) while a UI stand-in drains every
              50 ms; measures the router alone (parsing included).
    pipeline  a real child process prints the lines; supervisor reader threads split, log to disk
              and feed the router; the UI stand-in drains every 50 ms.  End to end.

The line mix is what a level-5 kernel API run looks like: ordinary ``[MM-DD HH:MM:SS]`` lines,
ANSI-coloured lines, stage lines, tqdm fragments and kernel API blocks with tensor statistics.
Reports lines/s, the longest time a drain held the UI thread, the lines dropped by the ring
buffer (the UI stand-in only counts, like a view with a bounded buffer), and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from backend.records import (  # noqa: E402
    TensorDesc,
    TensorStats,
    kernel_call_begin_lines,
    kernel_call_end_lines,
)
from tui.routed import STDERR, STDOUT
from tui.router import Router  # noqa: E402


def sample_lines(n: int) -> list[str]:
    """``n`` lines of a realistic mix: about 60 % kernel API block lines (level 5, statistics that
    differ per call), the rest ordinary log, ANSI, stage and tqdm lines that differ per line (so the
    router's parse memo only helps where real logs repeat: the blocks' structure lines)."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        i += 1
        sec = f"{i // 1000 % 60:02d}"
        t = TensorDesc((2, 4096, 64), "torch.float16", "cuda:0",
                       stats=TensorStats(-1.5 - i / 1e5, 2.25 + i / 1e5, 0.01 * (i % 97), 0, i % 3))
        block = kernel_call_begin_lines("backend.attention.sdpa", [t, t]) + kernel_call_end_lines(t)
        out += [
            f"[11-26 12:00:{sec}] Loading shard {i} of the model weights from /models/flux",
            f"\x1b[93m[11-26 12:00:{sec}] warning {i}: a deprecated option was given\x1b[0;0m",
            f"[11-26 12:00:{sec}] [DenoisingStage] started...",
            f" {i % 100:2d}%|████      | {i % 10}/10 [00:01<00:01,  {i % 7}.10it/s]",
            f"[11-26 12:00:{sec}] [DenoisingStage] finished in {i / 1000:.4f} seconds",
            f"[11-26 12:00:{sec}] Pixel data generated successfully in \x1b[92m{i / 100:.2f}\x1b[0;0m seconds",
            *block,
        ]
    return out[:n]


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Drainer(threading.Thread):
    def __init__(self, router: Router, period: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.router, self.period = router, period
        self.stop_event = threading.Event()
        self.seen = self.dropped = self.calls = 0
        self.max_drain_s = 0.0

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.once()
            self.stop_event.wait(self.period)
        self.once()

    def once(self) -> None:
        t = time.perf_counter()
        batch = self.router.drain()
        self.max_drain_s = max(self.max_drain_s, time.perf_counter() - t)
        self.seen += len(batch.lines)
        self.dropped += batch.dropped
        self.calls += len(batch.kernel_calls)


POOL = 60_000
"""Distinct sample lines kept in memory; feeders cycle through them (more than the parse memo
holds, so cycling gives the memo no advantage real logs would not give)."""


def bench_router(n: int) -> dict[str, float]:
    lines = sample_lines(min(POOL, n))
    router = Router()
    drainer = Drainer(router)
    drainer.start()
    chunk = 300

    def feeder(stream: str) -> None:
        sent = 0
        while sent < n // 2:
            i = sent % len(lines)
            part = lines[i : i + min(chunk, n // 2 - sent)]
            router.feed(stream, part)
            sent += len(part)

    threads = [threading.Thread(target=feeder, args=(s,)) for s in (STDOUT, STDERR)]
    t0, c0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    drainer.stop_event.set()
    drainer.join()
    total = router.total_lines
    return {"lines": total, "seconds": elapsed, "lines_per_s": total / elapsed, "max_drain_ms": drainer.max_drain_s * 1e3,
            "dropped": drainer.dropped, "kernel_calls": drainer.calls, "cpu_us_per_line": cpu / total * 1e6}


def bench_pipeline(n: int) -> dict[str, float]:
    from tui.supervisor import Supervisor

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "lines.txt")
        pool = sample_lines(min(POOL, n))
        with open(src, "w", encoding="utf-8") as fh:
            for i in range(0, n, len(pool)):
                fh.write("\n".join(pool[: n - i]) + "\n")
        del pool
        router = Router()
        drainer = Drainer(router)
        drainer.start()
        sv = Supervisor(router, cache_root=tmp)
        code = f"import shutil,sys; shutil.copyfileobj(open({src!r},'rb'), sys.stdout.buffer, 1<<16)"
        t0, c0 = time.perf_counter(), time.process_time()
        sv.start([sys.executable, "-c", code], dict(os.environ))
        status = sv.wait(600)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        drainer.stop_event.set()
        drainer.join()
        assert status is not None and status.ok, status
        total = router.total_lines
        return {"lines": total, "seconds": elapsed, "lines_per_s": total / elapsed,
                "max_drain_ms": drainer.max_drain_s * 1e3, "dropped": drainer.dropped,
                "kernel_calls": drainer.calls, "cpu_us_per_line": cpu / total * 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=400_000)
    ap.add_argument("--mode", choices=("router", "pipeline", "both"), default="both")
    args = ap.parse_args(argv)
    if args.mode == "both":  # each mode in its own process, so each peak RSS is its own
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        for mode in ("router", "pipeline"):
            subprocess.run([sys.executable, __file__, "--lines", str(args.lines), "--mode", mode], check=True)
        return 0
    for mode in (args.mode,):
        r = (bench_router if mode == "router" else bench_pipeline)(args.lines)
        print(f"{mode:9s} {r['lines']:>9,d} lines in {r['seconds']:.2f} s = {r['lines_per_s']:>9,.0f} lines/s; "
              f"longest drain {r['max_drain_ms']:.1f} ms; dropped {r['dropped']:,d}; "
              f"kernel calls {r['kernel_calls']:,d}; console CPU {r['cpu_us_per_line']:.1f} us/line "
              f"(= {1e6 / r['cpu_us_per_line']:,.0f} lines per CPU-second); peak RSS {rss_peak_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
