"""Proof on a real NVIDIA GPU: the console's Process view during a GPU run, and the crash report of
a real CUDA out-of-memory with the GPU memory at death and the peak.

Run on a machine with a GPU, torch and the console's dependencies (the lent H200 through the
device tool)::

    python scripts/gpu_view_device.py --out DIR

Writes ``DIR/gpu-process-view.svg`` (the Process view while a torch workload holds GPU memory and
keeps the GPU busy), ``DIR/gpu-oom-crash.svg`` and ``DIR/gpu-oom-crash.txt`` (the crash report of a
run that allocates until CUDA says out of memory), and prints what it saw.  Exit 1 when the GPU
rows or the report's GPU lines are missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

WORKLOAD = r"""
import sys, time, torch
mode = sys.argv[1]
dev = torch.device("cuda:0")
print(f"workload {mode} on {torch.cuda.get_device_name(0)}", flush=True)
if mode == "hold":
    held = torch.empty(24 * 2**30, dtype=torch.uint8, device=dev)  # 24 GiB held
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    end = time.time() + float(sys.argv[2])
    n = 0
    while time.time() < end:
        for _ in range(50):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
        n += 1
        print(f"step {n}", flush=True)
else:
    chunks = []
    while True:  # 8 GiB at a time, slowly enough for the 1 Hz sampler to see the climb
        chunks.append(torch.empty(8 * 2**30, dtype=torch.uint8, device=dev))
        print(f"allocated {8 * len(chunks)} GiB", flush=True)
        time.sleep(0.6)
"""


async def wait_for(pilot: Any, predicate: Any, timeout: float, what: str) -> bool:
    """Until ``predicate()``; False (said on stdout) after ``timeout`` s, so the pictures still come."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            print(f"timed out waiting for {what}", flush=True)
            return False
        await pilot.pause(0.1)
    return True


async def show_process_view(app: Any, pilot: Any) -> None:
    await pilot.press("f3")
    while app.nav.active["live"] != "process":
        await pilot.press("f3")
        await pilot.pause(0.05)


async def hold_run(out: Path, environ: dict[str, str]) -> bool:
    from textual.widgets import DataTable

    from tui.__main__ import make_app
    from tui.widgets.gpu_view import GpuView

    app = make_app(command=[sys.executable, "-c", WORKLOAD, "hold", "25"], environ=environ,
                   half_block=True, watch_config=False, theme="textual-dark")
    async with app.run_test(size=(150, 45)) as pilot:
        await wait_for(pilot, lambda: app.settled, 30, "the console to settle")
        await pilot.press("f5")
        await show_process_view(app, pilot)
        gpu = app.views.process.query_one(GpuView)
        table = gpu.query_one(DataTable)

        def busy() -> bool:
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            run_rows = [r for r in rows if "(run)" in str(r[1])]
            return bool(run_rows) and any(r[3] not in ("", "0", "?") for r in rows[:1]) \
                and float(str(run_rows[0][2]) or 0) > 20_000

        seen = await wait_for(pilot, busy, 60, "the run's GPU process to hold memory with the GPU busy")
        await pilot.pause(1.5)  # one more sample so the figures on the picture are steady
        app.save_screenshot(filename="gpu-process-view.svg", path=str(out))
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        print("GPU view title:", gpu.query_one("#gpu-title").render())
        for row in rows:
            print("GPU row:", row)
        await pilot.press("f6")
        await wait_for(pilot, lambda: not app.supervisor.running, 30, "the run to stop")
        await pilot.press("ctrl+q")
    return seen


async def oom_run(out: Path, environ: dict[str, str]) -> bool:
    from tui.__main__ import make_app

    app = make_app(command=[sys.executable, "-c", WORKLOAD, "oom"], environ=environ,
                   half_block=True, watch_config=False, theme="textual-dark")
    async with app.run_test(size=(150, 60)) as pilot:
        await wait_for(pilot, lambda: app.settled, 30, "the console to settle")
        await pilot.press("f5")
        await show_process_view(app, pilot)
        await wait_for(pilot, lambda: app._crash is not None, 120, "the crash report of the OOM")
        await pilot.pause(0.5)
        title, text = app._crash or ("no crash report", "")
        (out / "gpu-oom-crash.txt").write_text(f"{title}\n\n{text}", encoding="utf-8")
        app.save_screenshot(filename="gpu-oom-crash.svg", path=str(out))
        print("crash headline:", title)
        print("\n".join(line for line in text.splitlines() if "GPU" in line or "peak" in line or "pid" in line))
        await pilot.press("escape")
        await pilot.press("ctrl+q")
    return "GPU memory at the time of death" in text and "GPU memory peak during the run" in text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="folder for the screenshots and the report")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = tempfile.mkdtemp(prefix="sgl-gpu-view-")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "XDG_"))}
    environ.update({"HOME": root, "SGLANG_DIFFUSION_CONFIG_ROOT": f"{root}/config",
                    "SGLANG_DIFFUSION_CACHE_ROOT": f"{root}/cache"})
    held = asyncio.run(hold_run(out, environ))
    reported = asyncio.run(oom_run(out, environ))
    print(f"gpu rows seen: {held}; OOM report with GPU memory and peak: {reported}")
    return 0 if held and reported else 1


if __name__ == "__main__":
    sys.exit(main())
