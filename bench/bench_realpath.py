"""The console through the real path, each figure beside its anchor measured in the same run.

Run: ``python bench/bench_realpath.py [--quick] [--json OUT] [--only NAME ...]`` (``./run.sh bench``
runs it and writes ``bench/RESULTS.md``).

Everything runs in a real terminal (tmux 80x24, ``bench/rp_tmux.py``) with the real supervisor,
tailer and child; samples of the console and of its anchor alternate, so that a burst of load from
the other tenants of this 2-core machine hits both alike.  Scenario names (for ``--only``):
``start``, ``keys``, ``stdout``, ``file``, ``flood``, ``run500k``, ``kapi``, ``generate``,
``switches``, ``attention``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from rp_tmux import Pane, cpu_seconds, median, pct, rss_mib  # noqa: E402

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
        import subprocess

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
    return "miss" if v != v else f"{v * 1000:.0f} ms" if v >= 0.1 else f"{v * 1000:.1f} ms"


# --------------------------------------------------------------------------------------------------
# start, keys, view switches
# --------------------------------------------------------------------------------------------------


def bench_start(e: Env, n: int) -> list[Row]:
    e.session()
    console: list[float] = []
    hello: list[float] = []
    for _ in range(n):
        with e.console() as p:
            t = ready(p)
            console.append(float("nan") if t is None else t - p.started_at)
        with e.pane([*CHILD, "hello"]) as p:
            t = p.wait_text("hello A", "Flip", timeout=30)
            hello.append(float("nan") if t is None else t - p.started_at)
    c, h = median(console), median(hello)
    return [row("start -> first pane and footer (tmux 80x24)", f"median {c:.2f} s",
                f"hello-world Textual app (Static + Footer) {h:.2f} s", c / h, "<= 1.5x", c / h <= 1.5,
                console=console, hello=hello)]


def bench_keys(e: Env, n: int) -> list[Row]:
    e.session()
    console: list[float] = []
    hello: list[float] = []
    with e.console() as c, e.pane([*CHILD, "hello"]) as h:
        ready(c)
        h.wait_text("hello A", timeout=30)
        for i in range(n):
            key, text = ("f3", LIVE_TABS) if i % 2 == 0 else ("f2", SETTINGS_TABS)
            console.append(switch(c, key, text) or float("nan"))
            hello.append(switch(h, "f2", "hello B" if i % 2 == 0 else "hello A") or float("nan"))
    c50, h50 = median(console), median(hello)
    return [row("key -> screen change (F2/F3), idle", f"p50 {ms(c50)}, p99 {ms(pct(console, 99))}",
                f"hello app {ms(h50)}", c50 / h50, "<= 2x", c50 / h50 <= 2, console=console, hello=hello)]


def bench_switches(e: Env, n: int) -> list[Row]:
    """Memory and key latency over ``n`` view switches (F2/F3 alternately, each waited for)."""
    e.session()
    lat: list[float] = []
    with e.console() as c:
        ready(c)
        pid = c.pid()
        for i in range(4):  # first show of both screens composed before the baseline
            switch(c, "f3" if i % 2 == 0 else "f2", LIVE_TABS if i % 2 == 0 else SETTINGS_TABS)
        rss0 = rss_mib(pid)
        for i in range(n):
            key, text = ("f3", LIVE_TABS) if i % 2 == 0 else ("f2", SETTINGS_TABS)
            lat.append(switch(c, key, text) or float("nan"))
        rss1 = rss_mib(pid)
    k = max(5, n // 10)
    first, last = median(lat[:k]), median(lat[-k:])
    per = (rss1 - rss0) / n
    flat = per < 0.05 and last <= first * 1.5 + 0.02
    return [row(f"memory and keys over {n} view switches",
                f"RSS {rss0:.0f} -> {rss1:.0f} MiB ({per * 1024:+.0f} KiB each); keys {ms(first)} -> {ms(last)}",
                "-", None, "flat", flat, rss=[rss0, rss1], latencies=lat)]


# --------------------------------------------------------------------------------------------------
# line -> screen
# --------------------------------------------------------------------------------------------------


def _tail_anchor(e: Env, name: str) -> tuple[Pane, str]:
    path = e.path(name)
    Path(path).write_text("")
    return e.pane(["tail", "-F", path]), path


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def bench_stdout(e: Env, n: int) -> list[Row]:
    """A line the child prints -> on the console's screen; anchor: the same line into a file -> tail -F."""
    e.session()
    fifo = e.path("marker.fifo")
    os.mkfifo(fifo)
    console: list[float] = []
    anchor: list[float] = []
    tail, tpath = _tail_anchor(e, "anchor-stdout.log")
    with e.console([*CHILD, "marker", fifo]) as c, tail:
        ready(c)
        switch(c, "f3", LIVE_TABS)
        c.keys("f5")
        c.wait_text("READY", timeout=30)
        with open(fifo, "w", encoding="utf-8") as w:
            for i in range(n):
                t0 = time.monotonic()
                w.write(f"{i:05d}\n")
                w.flush()
                t = c.wait_text(f"MK{i:05d}", timeout=5)
                console.append(float("nan") if t is None else t - t0)
                t0 = time.monotonic()
                _append(tpath, f"MK{i:05d}\n")
                t = tail.wait_text(f"MK{i:05d}", timeout=5)
                anchor.append(float("nan") if t is None else t - t0)
                time.sleep(0.02 + 0.03 * ((i * 7) % 5) / 4)  # pacing between samples, 20-50 ms
    return [_latency_row("line on the child's stdout -> screen", console, anchor)]


def _latency_row(metric: str, console: list[float], anchor: list[float]) -> Row:
    c50, c99, a50, a99 = median(console), pct(console, 99), median(anchor), pct(anchor, 99)
    ok = c99 <= 0.05 and c99 <= 2 * a99
    return row(metric, f"p50 {ms(c50)}, p99 {ms(c99)}", f"`tail -F` {ms(a50)} / {ms(a99)}", c99 / a99,
               "<= 2x and <= 50 ms p99", ok, console=console, anchor=anchor)


def bench_file(e: Env, n: int) -> list[Row]:
    """A kernel API call appended to the followed log file -> its row in the Kernel API view."""
    from backend.records import TensorDesc, kernel_call_begin_lines, kernel_call_end_lines

    log = e.path("kapi.log")
    Path(log).write_text("")
    e.session(SGLANG_KERNEL_API_LOGDEST=log, SGLANG_KERNEL_API_LOGLEVEL="3")
    console: list[float] = []
    anchor: list[float] = []
    tail, tpath = _tail_anchor(e, "anchor-file.log")
    x = TensorDesc((2, 64), "torch.float32", "cpu")
    with e.console([*CHILD, "idle"]) as c, tail:
        ready(c)
        switch(c, "f3", LIVE_TABS)
        c.keys("f5")
        c.wait_text("READY", timeout=30)
        c.keys("f3")
        c.keys("f3")  # Output -> Timings -> Kernel API
        c.wait_text("Kernel API", timeout=10)
        for i in range(n):
            name = f"bench.mark_{i:05d}"
            block = "\n".join(kernel_call_begin_lines(name, [x]) + kernel_call_end_lines(x)) + "\n"
            t0 = time.monotonic()
            _append(log, block)
            t = c.wait_text(f"mark_{i:05d}", timeout=5)
            console.append(float("nan") if t is None else t - t0)
            t0 = time.monotonic()
            _append(tpath, block)
            t = tail.wait_text(f"mark_{i:05d}", timeout=5)
            anchor.append(float("nan") if t is None else t - t0)
            time.sleep(0.02 + 0.03 * ((i * 7) % 5) / 4)
    return [_latency_row("line in a followed file -> screen (Kernel API view)", console, anchor)]


# --------------------------------------------------------------------------------------------------
# throughput and floods
# --------------------------------------------------------------------------------------------------


def bench_flood(e: Env, seconds: float) -> list[Row]:
    """A child printing 100k lines/s: what it reached and how long it was blocked writing."""
    e.session()
    results: dict[str, list[dict[str, float]]] = {"console": [], "cat": []}
    peak = 0.0
    for round_ in range(2):
        stats = e.path(f"flood-console-{round_}.json")
        with e.console([*CHILD, "flood", "--seconds", str(seconds), "--stats", stats]) as c:
            ready(c)
            switch(c, "f3", LIVE_TABS)
            pid = c.pid()
            c.keys("f5")
            deadline = time.monotonic() + seconds * 20 + 30
            while not os.path.exists(stats) and time.monotonic() < deadline:
                peak = max(peak, rss_mib(pid))
                time.sleep(0.1)
            if os.path.exists(stats):
                results["console"].append(json.loads(Path(stats).read_text()))
        stats = e.path(f"flood-cat-{round_}.json")
        script = f"{' '.join(CHILD)} flood --seconds {seconds} --stats {stats} | cat"
        with e.pane(["sh", "-c", script]) as p:
            p.wait(lambda _s, f=stats: os.path.exists(f), timeout=seconds * 20 + 30)  # type: ignore[misc]
            if os.path.exists(stats):
                results["cat"].append(json.loads(Path(stats).read_text()))
    rates = [r["lines_per_s"] for r in results["console"]] or [float("nan")]
    anchor_rates = [r["lines_per_s"] for r in results["cat"]] or [float("nan")]
    cb = max((r["blocked_share"] for r in results["console"]), default=float("nan"))
    ab = max((r["blocked_share"] for r in results["cat"]), default=float("nan"))
    return [
        row("child printing 100k lines/s through the TUI",
            f"console took {median(rates) / 1000:.1f}k lines/s; child blocked writing {cb:.1%} of its time",
            f"same child into `cat`: {median(anchor_rates) / 1000:.1f}k lines/s, blocked {ab:.1%}", median(anchor_rates) / median(rates),
            "child never blocked by the console",
            median(rates) >= 0.95 * min(median(anchor_rates), 100_000) and cb <= ab + 0.05, runs=results),
        row("flood RSS (console, 100k lines/s)", f"peak {peak:.0f} MiB", "-", None, "bounded",
            peak < 400, peak_mib=peak),
    ]


def bench_run500k(e: Env, count: int) -> list[Row]:
    """``sgl-console run`` echoing ``count`` lines, against the same child piped into ``cat``."""
    e.session()
    console: list[float] = []
    anchor: list[float] = []
    for round_ in range(2):
        for which, target in (("console", console), ("cat", anchor)):
            out = e.path(f"run-{which}-{round_}.json")
            child = " ".join([*CHILD, "lines", str(count)])
            cmd = f"{PY} -m tui run -- {child}" if which == "console" else f"{child} | cat"
            with e.pane([*CHILD, "timed", out, "--", "sh", "-c", cmd]) as p:
                p.wait(lambda _s, o=out: os.path.exists(o), timeout=180)  # type: ignore[misc]
                target.append(json.loads(Path(out).read_text())["wall"] if os.path.exists(out) else float("nan"))
    c, a = min(console), min(anchor)
    return [row(f"`sgl-console run`, {count // 1000}k lines", f"{c:.2f} s", f"pipe into `cat`: {a:.2f} s",
                c / a, "<= 2x", c / a <= 2, console=console, anchor=anchor)]


def bench_kapi(e: Env, calls: int, run_budget: float) -> list[Row]:
    """Three level-3 kernel API floods in a row: keys during each, exit on screen after each death.

    A run whose child is still writing after ``run_budget`` seconds (held back by a console that
    does not read fast enough) is stopped with F6 and counted as a miss, so that the whole
    benchmark stays bounded whatever the console does.
    """
    e.session(SGLANG_KERNEL_API_LOGLEVEL="3")
    exits: list[float] = []
    keys: list[float] = []
    notes: list[str] = []
    exit_file = e.path("kapi-exit.txt")
    peak = 0.0
    with e.console([*CHILD, "kapi", str(calls), "--exit-file", exit_file]) as c:
        ready(c)
        switch(c, "f3", LIVE_TABS)
        c.keys("f3")
        c.keys("f3")  # the Kernel API view, where the calls land
        c.wait_text("Kernel API", timeout=10)
        pid = c.pid()
        for _run in range(3):
            if os.path.exists(exit_file):
                os.unlink(exit_file)
            t0 = time.monotonic()
            c.keys("f5")
            c.wait_text("[running]", timeout=30)
            i = 0
            while not os.path.exists(exit_file) and time.monotonic() - t0 < run_budget:
                key, text = ("f2", SETTINGS_TABS) if i % 2 == 0 else ("f3", LIVE_TABS)
                keys.append(switch(c, key, text, timeout=5) or float("nan"))
                peak = max(peak, rss_mib(pid))
                i += 1
                time.sleep(0.1)
            if i % 2 == 1:
                switch(c, "f3", LIVE_TABS, timeout=5)
            if not os.path.exists(exit_file):
                notes.append(f"child still writing after {run_budget:.0f} s (stopped)")
                exits.append(float("nan"))
                c.keys("f6")
                c.wait(lambda s: "[running]" not in s, timeout=30)
                continue
            died = float(Path(exit_file).read_text())
            seen = c.wait_text("[exited]", timeout=EXIT_WAIT_S)
            exits.append(float("nan") if seen is None else seen - died)
            notes.append(f"child wrote its {calls} calls in {died - t0:.1f} s")
    done = [x for x in exits if x == x]
    capped = [k if k == k else 5.0 for k in keys]  # a key not answered within 5 s counts as 5 s
    k99 = pct(capped, 99)
    ok = len(done) == 3 and max(done) <= 1.0 and k99 <= 0.1
    shown = ", ".join(f"> {EXIT_WAIT_S:.0f} s" if x != x else f"{x:.1f} s" for x in exits)
    return [row(f"three level-3 runs in a row ({calls // 1000}k calls each)",
                f"exit on screen {shown} after the child ended; keys p50 {ms(median(capped))}, p99 {ms(k99)} "
                f"({sum(1 for k in keys if k != k)} of {len(keys)} over 5 s); RSS peak {peak:.0f} MiB; "
                + "; ".join(notes),
                "-", None, "exit <= 1 s, keys <= 100 ms", ok, exits=exits, keys=keys, peak_mib=peak)]


# --------------------------------------------------------------------------------------------------
# generation
# --------------------------------------------------------------------------------------------------


def _backend(steps: int, size: int, out_dir: str) -> list[str]:
    return [PY, "-m", "backend", "generate", "--prompt", "a big red circle in the middle",
            "--num-inference-steps", str(steps), "--height", str(size), "--width", str(size),
            "--output-path", out_dir, "--seed", "0"]


def _denoise_from_runs(root: Path) -> float | None:
    """The DenoisingStage time the backend printed, read from the newest run log on disk."""
    from rp_children import DENOISE_RE

    logs = sorted(root.glob("cache/console/runs/*/*"), key=lambda p: p.stat().st_mtime)
    for log in reversed(logs):
        if log.is_file() and (m := DENOISE_RE.search(log.read_bytes())):
            return float(m.group(1))
    return None


def _timed(e: Env, name: str, argv: list[str]) -> tuple[float, float]:
    """(wall, denoising seconds) of ``argv`` run in its own pane, output relayed to the terminal."""
    out = e.path(f"gen-{name}.json")
    with e.pane([*CHILD, "timed", "--relay", out, "--", *argv]) as p:
        p.wait(lambda _s: os.path.exists(out), timeout=300)
        r = json.loads(Path(out).read_text()) if os.path.exists(out) else {}
    return r.get("wall", float("nan")), r.get("denoise") or float("nan")


def bench_generate(e: Env, rounds: int, steps: int = 28, size: int = 128) -> list[Row]:
    e.session()
    cmd = _backend(steps, size, e.path("images"))
    tui: list[tuple[float, float, float]] = []
    direct: list[tuple[float, float]] = []
    run: list[tuple[float, float]] = []
    _timed(e, "warm", cmd)  # warms the page cache (torch, diffusers, weights) for all three
    with e.console(cmd) as c:
        ready(c)
        switch(c, "f3", LIVE_TABS)
        pid = c.pid()
        for round_ in range(rounds):
            cpu0 = cpu_seconds(pid)
            t0 = time.monotonic()
            c.keys("f5")
            c.wait_text("[running]", timeout=30)
            seen = c.wait_text("[exited]", timeout=300)
            wall = float("nan") if seen is None else seen - t0
            tui.append((wall, _denoise_from_runs(e.root) or float("nan"), cpu_seconds(pid) - cpu0))
            direct.append(_timed(e, f"direct-{round_}", cmd))
            run.append(_timed(e, f"run-{round_}", [PY, "-m", "tui", "run", "--", *cmd]))
    tw, td, tc = (median([t[i] for t in tui]) for i in range(3))
    dw, dd = (median([t[i] for t in direct]) for i in range(2))
    rw, _rd = (median([t[i] for t in run]) for i in range(2))
    return [
        row(f"generation through the TUI (F5), {steps} steps {size}x{size}",
            f"wall {tw:.2f} s, denoising {td:.2f} s ({td / dd:.2f}x); console CPU {tc:.2f} s/run",
            f"backend directly: {dw:.2f} s, {dd:.2f} s", tw / dw, "<= 1.03x (wall and denoising)",
            tw / dw <= 1.03 and td / dd <= 1.03,
            tui=tui, direct=direct, denoise_ratio=td / dd),
        row("`sgl-console run`, same", f"wall {rw:.2f} s", f"direct {dw:.2f} s", rw / dw, "<= 1.03x",
            rw / dw <= 1.03, run=run, direct=direct),
    ]


# --------------------------------------------------------------------------------------------------
# attention config
# --------------------------------------------------------------------------------------------------


def bench_attention(e: Env, n: int) -> list[Row]:
    """Attention config saved (temp + rename) -> shown in the Attention view; anchor: raw watchfiles."""
    cfg = e.path("attention.json")
    Path(cfg).write_text(json.dumps({"scale": 1}))
    e.session(SGLANG_DIFFUSION_ATTENTION_CONFIG=cfg)
    console: list[float] = []
    anchor: list[float] = []
    from backend.attention_watch import DEBOUNCE_MS

    watcher = [PY, "-c", (
        "import sys, watchfiles, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "print('watching', flush=True)\n"
        f"for _ in watchfiles.watch(p.parent, debounce={DEBOUNCE_MS}, step=10,"
        " watch_filter=lambda c, f: f == str(p)):\n"
        "    print('now', p.read_text(), flush=True)\n"), cfg]
    with e.console([*CHILD, "idle"]) as c, e.pane(watcher) as w:
        ready(c)
        switch(c, "f3", LIVE_TABS)
        for _ in range(5):
            c.keys("f3")  # Output -> ... -> Attention
        c.wait_text("scale", timeout=10)
        w.wait_text("watching", timeout=10)
        for i in range(n):
            for which, pane, target in (("console", c, console), ("anchor", w, anchor)):
                value = 1000 + i * 2 + (which == "anchor")
                tmp = cfg + ".tmp"
                Path(tmp).write_text(json.dumps({"scale": value}))
                t0 = time.monotonic()
                os.replace(tmp, cfg)
                t = pane.wait_text(str(value), timeout=3)
                target.append(float("nan") if t is None else t - t0)
                if t is None and which == "console":
                    Path(e.path("attention-miss.txt")).write_text(pane.screen())
                time.sleep(0.15)  # a quiet gap longer than the debounce, so saves are not coalesced
    missed = sum(1 for v in console if v != v)
    c50, c99, a50, a99 = median(console), pct(console, 99), median(anchor), pct(anchor, 99)
    return [row("attention config save -> shown", f"p50 {ms(c50)}, p99 {ms(c99)}, {missed}/{n} missed",
                f"raw watchfiles (same debounce) {ms(a50)} / {ms(a99)}", c50 / a50, "<= 2x",
                c50 / a50 <= 2 and not missed, console=console, anchor=anchor)]


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
