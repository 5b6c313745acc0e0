"""``./run.sh bench``: the real-path benchmarks, then ``bench/RESULTS.md`` (machine, date, figures).

    ./run.sh bench                  # every scenario (about 12 minutes on a 2-core machine)
    ./run.sh bench --quick          # fewer samples, smaller floods (about 4 minutes)
    ./run.sh bench --only start keys
    ./run.sh bench --components     # also the in-process component benchmarks (router, model, caching)

Why one table: each console figure stands beside its anchor from the same run (``tail -F``, a pipe
into ``cat``, a hello-world Textual app, the backend run directly, raw watchfiles), with the ratio
and the issue's budget.  The GPU rows come from ``bench/results/cachedit_gpu.json``, written by
``bench/bench_cachedit_gpu.py --json`` on a CUDA machine (they cannot be measured here).  When
``bench/results/realpath-baseline.json`` exists, its figures are shown in a column beside.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
REALPATH_JSON = HERE / "results" / "realpath.json"
BASELINE_JSON = HERE / "results" / "realpath-baseline.json"
GPU_JSON = HERE / "results" / "cachedit_gpu.json"
WORKERS_TXT = HERE / "results" / "gpu_workers.txt"
GPU_HOST_JSON = HERE / "results" / "gpu_host.json"
"""Real-path rows measured on the lent GPU machine (its cores, its GPU), kept with what was run."""
COMPONENTS = ("bench_router.py", "bench_model.py", "bench_caching.py")


def machine(load_at_start: tuple[float, float, float]) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    first, last = (", ".join(f"{v:.1f}" for v in load) for load in (load_at_start, os.getloadavg()))
    return (f"{cpu}, {os.cpu_count()} cores (load averages 1/5/15 min at the start {first}, at the end {last}), "
            f"Python {platform.python_version()}")


def git_head() -> str:
    done = subprocess.run(["git", "-C", str(HERE.parent), "log", "-1", "--format=%h %s"], capture_output=True,
                          text=True)
    return done.stdout.strip()[:90] or "unknown"


def _ratio(r: dict[str, Any]) -> str:
    v = r.get("ratio")
    return "-" if v is None or v != v else f"{v:.2f}x"


def _ok(r: dict[str, Any]) -> str:
    return "-" if r.get("ok") is None else "pass" if r["ok"] else "**miss**"


def realpath_table(rows: list[dict[str, Any]], baseline: list[dict[str, Any]] | None) -> list[str]:
    base = {r["metric"]: r for r in baseline or []}
    head = "| metric | console | anchor (same run) | ratio | budget | result |"
    if baseline is not None:
        head = "| metric | console | anchor (same run) | ratio | budget | result | baseline console (ratio) |"
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = f"| {r['metric']} | {r['console']} | {r['anchor']} | {_ratio(r)} | {r['budget']} | {_ok(r)} |"
        if baseline is not None:
            b = base.get(r["metric"])
            line += f" {b['console']} ({_ratio(b)}) |" if b else " - |"
        out.append(line)
    return out


def gpu_section() -> list[str]:
    if not GPU_JSON.exists():
        return ["No GPU figures yet: run `python bench/bench_cachedit_gpu.py --json bench/results/cachedit_gpu.json` "
                "on a CUDA machine."]
    g = json.loads(GPU_JSON.read_text())
    out = [f"{g['card']}, {g['date']}, torch {g['torch']}, {g['dtype']}: diffusers `FluxTransformer2DModel` "
           f"(FLUX.1-dev config, {g['blocks'][0]}+{g['blocks'][1]} blocks, {g['params_b']:.1f}B parameters, "
           f"random weights), {g['tokens']} image + {g['text_tokens']} text tokens (1024x1024), {g['steps']} steps "
           "through diffusers' `FluxPipeline`; SCM static masks; best of 3 interleaved rounds.", "",
           "| config | computed / cached | ideal | wall (best) | realised | of ideal | computed step | cached step "
           "| peak over weights |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in g["rows"].items():
        cached = f"{r['cached_step_ms']:.1f} ms" if r.get("cached_step_ms") else "-"
        out.append(f"| {name} | {r['computed']} / {r['cached']} | {r['ideal']:.2f}x | {r['best']:.3f} s | "
                   f"{r['realised']:.2f}x | {r['of_ideal']:.2f} | {r['computed_step_ms']:.1f} ms | {cached} | "
                   f"{r['peak']:.1f} GiB |")
    rows = g["rows"]
    fast, none_ = rows.get("ours, fast static"), rows.get("ours, nothing cached")
    if fast and none_:
        overhead = rows["ours, nothing cached"]["best"] / rows["off"]["best"] - 1
        out += ["", f"Goals: `fast` {fast['realised']:.2f}x = {fast['of_ideal']:.2f} of ideal (goal >= 1.6x and "
                f">= 0.9): {'pass' if fast['realised'] >= 1.6 and fast['of_ideal'] >= 0.9 else '**miss**'}; "
                f"DBCache hooks with nothing cached {overhead:+.1%} (goal <= 3 %): "
                f"{'pass' if overhead <= 0.03 else '**miss**'}."]
    return out


def gpu_host_section() -> list[str]:
    """The same scenarios where operators run the console: a GPU host with its cores (and the loop on the GPU)."""
    if not GPU_HOST_JSON.exists():
        return []
    g = json.loads(GPU_HOST_JSON.read_text())
    out = ["## The console on the GPU machine", "",
           f"{g['card']}, {g['cores']} cores, torch {g['torch']}; the same harness (tmux 80x24, `capture-pane` "
           "every 10 ms), figures beside their anchors from the same run.", ""]
    for run in g["runs"]:
        out += [f"{run['what']}:", "", *realpath_table(run["rows"], None), ""]
    return out


def write_results(rows: list[dict[str, Any]], quick: bool, seconds: float,
                  load_at_start: tuple[float, float, float], note: str = "") -> None:
    baseline = json.loads(BASELINE_JSON.read_text()) if BASELINE_JSON.exists() else None
    lines = [
        "# Benchmark results", "",
        f"Written by `./run.sh bench{' --quick' if quick else ''}` ({seconds / 60:.1f} min) on "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, at `{git_head()}`.", "",
        f"Machine: {machine(load_at_start)}. The cores are shared with other work: every figure below moves with the "
        "load, which is why each console figure is taken beside its anchor in the same run, samples "
        "alternating; compare the ratios, not the absolute times.", "",
        *([note, ""] if note else []),
        "## The console through the real path (tmux 80x24, `capture-pane` every 10 ms)", "",
        *realpath_table(rows, baseline), "",
    ]
    if baseline is not None:
        lines += ["Baseline: the same harness on the integrator's `main` before this round of fixes "
                  "(`bench/results/realpath-baseline.json`).", ""]
    lines += gpu_host_section()
    lines += ["## Cache-DiT on a Flux-sized transformer (GPU)", "", *gpu_section(), ""]
    if WORKERS_TXT.exists():  # scripts/gpu_workers.sh on the lent machine (issue 14), kept as it printed
        lines += ["## Two workers on the GPU machine (`scripts/gpu_workers.sh`)", "", "```",
                  *WORKERS_TXT.read_text().splitlines(), "```", ""]
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, RESULTS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+")
    parser.add_argument("--components", action="store_true", help="also bench_router, bench_model, bench_caching")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md as it is")
    parser.add_argument("--rows", nargs="+", type=Path, metavar="JSON",
                        help="write RESULTS.md from rows saved by bench_realpath.py --json (runs nothing)")
    parser.add_argument("--note", default="", help="a paragraph for RESULTS.md (what was measured)")
    args = parser.parse_args(argv)
    start, load = time.monotonic(), os.getloadavg()
    REALPATH_JSON.parent.mkdir(exist_ok=True)
    if args.rows:
        rows = [r for f in args.rows for r in json.loads(f.read_text())]
        REALPATH_JSON.write_text(json.dumps(rows, indent=1))
        seconds = sum({r.get("scenario"): r.get("seconds", 0) for r in rows}.values())
        write_results(rows, args.quick, seconds, load, args.note)
        return 0
    cmd = [sys.executable, str(HERE / "bench_realpath.py"), "--json", str(REALPATH_JSON)]
    cmd += ["--quick"] if args.quick else []
    cmd += ["--only", *args.only] if args.only else []
    code = subprocess.call(cmd, cwd=HERE.parent)
    rows = json.loads(REALPATH_JSON.read_text()) if REALPATH_JSON.exists() else []
    if not args.no_write:
        write_results(rows, args.quick, time.monotonic() - start, load, args.note)
        print(f"\nwrote {RESULTS.relative_to(HERE.parent)}")
    if args.components:
        for script in COMPONENTS:
            print(f"\n=== {script} ===", flush=True)
            code |= subprocess.call([sys.executable, str(HERE / script)], cwd=HERE.parent)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
