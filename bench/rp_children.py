"""The programs the real-path benchmarks run: children for the console, their anchors, a hello app.

One script, one mode per subcommand, so that the console and its anchor run the very same child:

* ``marker FIFO``: prints ``MK<n>`` for every line ``<n>`` read from FIFO (line -> screen);
* ``idle``: prints READY and waits (a child whose followed file the harness writes);
* ``flood --rate R --seconds S --stats F``: R lines/s in 1 ms slices; writes to F the rate it
  reached and the share of its time spent blocked in ``write`` (backpressure from its reader);
* ``lines N``: N lines as fast as it can;
* ``kapi N --exit-file F``: N level-3 kernel API calls in upstream's block format on stdout, then
  writes its monotonic exit time to F and exits;
* ``timed OUT -- CMD``: runs CMD on this terminal, writes its wall time (and the denoising time
  it printed, with ``--relay``) to OUT;
* ``hello``: the anchor app: a Textual ``Static`` + ``Footer``; F2 flips the text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

DENOISE_RE = re.compile(rb"\[DenoisingStage\] finished in (\d+(?:\.\d+)?) seconds")


def marker(fifo: str) -> int:
    print("READY", flush=True)
    with open(fifo, encoding="utf-8") as fh:  # blocks until the harness opens it for writing
        for line in fh:
            sys.stdout.write(f"MK{line.strip()}\n")
            sys.stdout.flush()
    return 0


def idle() -> int:
    print("READY", flush=True)
    while True:
        time.sleep(3600)


def flood(rate: int, seconds: float, stats: str) -> int:
    """Paced writer: every 1 ms slice owes rate/1000 lines; time inside ``os.write`` is 'blocked'."""
    per_slice = max(1, rate // 1000)
    line = b"flood line %08d ................................................\n"
    written = blocked = 0.0
    start = time.monotonic()
    end = start + seconds
    n = 0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        owed = int((now - start) * rate) - n
        if owed <= 0:
            time.sleep(0.0005)
            continue
        chunk = b"".join(line % (n + i) for i in range(min(owed, per_slice * 10)))
        t0 = time.monotonic()
        view = memoryview(chunk)
        while view:
            view = view[os.write(1, view):]
        blocked += time.monotonic() - t0
        n += chunk.count(b"\n")
        written += len(chunk)
    elapsed = time.monotonic() - start
    Path(stats).write_text(json.dumps({"lines": n, "seconds": elapsed, "lines_per_s": n / elapsed,
                                       "blocked_share": blocked / elapsed}))
    return 0


def lines(count: int) -> int:
    out = sys.stdout.buffer
    for i in range(count):
        out.write(b"line %07d of the 500k-line run ...............................\n" % i)
    out.flush()
    return 0


def kapi(count: int, exit_file: str) -> int:
    """Level-3 kernel API blocks (argument shapes, no statistics), as upstream's logger prints them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from backend.records import TensorDesc, kernel_call_begin_lines, kernel_call_end_lines

    names = ("torch.nn.functional.linear", "torch.nn.functional.scaled_dot_product_attention",
             "torch.nn.functional.layer_norm", "torch.nn.functional.gelu")
    x = TensorDesc((2, 4096, 3072), "torch.bfloat16", "cuda:0")
    w = TensorDesc((3072, 3072), "torch.bfloat16", "cuda:0")
    out = sys.stdout
    for i in range(count):
        block = kernel_call_begin_lines(names[i % 4], [x, w]) + kernel_call_end_lines(x)
        out.write("\n".join(block) + "\n")
    out.flush()
    Path(exit_file).write_text(repr(time.monotonic()))
    return 0


def timed(out: str, cmd: list[str], relay: bool) -> int:
    """Wall time of CMD with its output on this terminal (relayed line by line with ``--relay``)."""
    start = time.monotonic()
    denoise = None
    if relay:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for raw in proc.stdout:
            os.write(1, raw)
            if m := DENOISE_RE.search(raw):
                denoise = float(m.group(1))
        code = proc.wait()
    else:
        code = subprocess.call(cmd)
    wall = time.monotonic() - start
    Path(out).write_text(json.dumps({"wall": wall, "denoise": denoise, "code": code}))
    return 0


def hello() -> int:
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.widgets import Footer, Static

    class Hello(App[None]):
        BINDINGS = [Binding("f2", "flip", "Flip"), Binding("ctrl+q", "quit", "Quit")]

        def compose(self) -> ComposeResult:
            yield Static("hello A", id="text")
            yield Footer()

        def action_flip(self) -> None:
            text = self.query_one("#text", Static)
            text.update("hello B" if "A" in str(text.render()) else "hello A")

    Hello().run()
    return 0


def tabs() -> int:
    """The smallest app that switches views as the console does: two tabs, F2/F3, a footer.

    Why a second anchor: the hello app repaints one line; a view switch hides one tab's widgets,
    shows another's and moves focus and the underline, which Textual itself charges for."""
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.widgets import Footer, Static, TabbedContent, TabPane

    class Tabs(App[None]):
        BINDINGS = [Binding("f2", "show('settings')", "Settings", priority=True),
                    Binding("f3", "show('live')", "Live", priority=True), Binding("ctrl+q", "quit", "Quit")]

        def compose(self) -> ComposeResult:
            with TabbedContent(id="tabs"):
                with TabPane("Settings", id="settings"):
                    yield Static("tabs settings")
                with TabPane("Live", id="live"):
                    yield Static("tabs live")
            yield Footer()

        def action_show(self, tab: str) -> None:
            self.query_one(TabbedContent).active = tab

    Tabs().run()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    sub.add_parser("marker").add_argument("fifo")
    sub.add_parser("idle")
    f = sub.add_parser("flood")
    f.add_argument("--rate", type=int, default=100_000)
    f.add_argument("--seconds", type=float, default=3.0)
    f.add_argument("--stats", required=True)
    sub.add_parser("lines").add_argument("count", type=int)
    k = sub.add_parser("kapi")
    k.add_argument("count", type=int)
    k.add_argument("--exit-file", required=True)
    t = sub.add_parser("timed")
    t.add_argument("out")
    t.add_argument("--relay", action="store_true")
    t.add_argument("cmd", nargs=argparse.REMAINDER)
    sub.add_parser("hello")
    sub.add_parser("tabs")
    a = p.parse_args(argv)
    if a.mode == "marker":
        return marker(a.fifo)
    if a.mode == "idle":
        return idle()
    if a.mode == "flood":
        return flood(a.rate, a.seconds, a.stats)
    if a.mode == "lines":
        return lines(a.count)
    if a.mode == "kapi":
        return kapi(a.count, a.exit_file)
    if a.mode == "timed":
        cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
        return timed(a.out, cmd, a.relay)
    if a.mode == "tabs":
        return tabs()
    return hello()


if __name__ == "__main__":
    sys.exit(main())
