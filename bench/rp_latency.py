"""Real-path latency scenarios: console start, key -> screen, view switches over time, a line
(stdout or ``%i`` log file) -> screen, and an attention config save -> shown.

Why its own module: each of these times one thing the operator waits for, against an anchor
measured in the same run (a hello-world app, ``tail -F``, raw watchfiles).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rp_common import CHILD, LIVE_TABS, PY, SETTINGS_TABS, Env, Row, ms, ready, row, switch
from rp_tmux import Pane, median, pct, rss_mib

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
    """F2/F3 back to back; anchors: the hello app's one-line repaint, and the smallest app that
    switches two tabs as the console does (what Textual itself charges for a view switch)."""
    e.session()
    console: list[float] = []
    hello: list[float] = []
    tabs: list[float] = []
    with e.console() as c, e.pane([*CHILD, "hello"]) as h, e.pane([*CHILD, "tabs"]) as t:
        ready(c)
        h.wait_text("hello A", timeout=30)
        t.wait_text("tabs settings", timeout=30)
        for i in range(n):
            key, text = ("f3", LIVE_TABS) if i % 2 == 0 else ("f2", SETTINGS_TABS)
            console.append(switch(c, key, text) or float("nan"))
            hello.append(switch(h, "f2", "hello B" if i % 2 == 0 else "hello A") or float("nan"))
            tabs.append(switch(t, key, "tabs live" if i % 2 == 0 else "tabs settings") or float("nan"))
    c50, h50, t50 = median(console), median(hello), median(tabs)
    return [row("key -> screen change (F2/F3), idle", f"p50 {ms(c50)}, p99 {ms(pct(console, 99))}",
                f"hello app {ms(h50)}; two-tab app {ms(t50)} ({c50 / t50:.2f}x of it)", c50 / h50, "<= 2x",
                c50 / h50 <= 2, console=console, hello=hello, tabs=tabs)]


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
        c.wait_text("Kernel API", "no calls yet", timeout=10)  # the view composed and drawn, not just its tab
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
