"""What launching through the console adds to a generation's wall time.  One command:

    python bench/bench_launch.py            # 5 rounds
    python bench/bench_launch.py --rounds 3 --steps 8

The same request of our backend (``python -m backend generate``, stage logging on) is run,
interleaved round by round so that machine noise hits every mode alike, in three ways:

    direct     ``subprocess.run`` with output to files: the baseline.
    headless   ``sgl-console run -- CMD``: the headless twin (supervisor, router, echo).
    console    the Textual console itself (headless ``run_test``), its run action (F5) called,
               until the console has seen the exit; the output is routed, parsed and drawn.

Each mode is timed from the launch to the observed exit; the table gives the median of the
rounds and the overhead of each mode over ``direct``.  Budget: under 3 %.  A second table
repeats the console mode with kernel API level 3 on stdout (a flood of log lines).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tui.demo import demo_environ  # noqa: E402


def backend_cmd(out: str, steps: int, size: int) -> list[str]:
    return [sys.executable, "-m", "backend", "generate", "--prompt", "a red circle",
            "--num-inference-steps", str(steps), "--height", str(size), "--width", str(size),
            "--output-path", out]  # fmt: skip


def run_direct(cmd: list[str], env: dict[str, str], logdir: str) -> float:
    start = time.perf_counter()
    with open(os.path.join(logdir, "direct.out"), "wb") as out, open(os.path.join(logdir, "direct.err"), "wb") as err:
        code = subprocess.run(cmd, env=env, stdout=out, stderr=err).returncode
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"direct run failed with exit {code}; see {logdir}")
    return elapsed


def run_headless(cmd: list[str], env: dict[str, str]) -> float:
    console = [sys.executable, "-m", "tui", "run", "--", *cmd]
    start = time.perf_counter()
    code = subprocess.run(console, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"sgl-console run failed with exit {code}")
    return elapsed


async def run_console(cmd: list[str], env: dict[str, str], extra: dict[str, str]) -> float:
    from tui.__main__ import make_app

    app = make_app(command=cmd, environ=env, host_platforms=frozenset({"cpu"}), half_block=True,
                   theme="textual-dark", watch_config=False)  # fmt: skip
    async with app.run_test(size=(80, 24)) as pilot:
        while not app.settled:
            await pilot.pause(0.01)
        for name, raw in extra.items():
            app.session.set(name, raw)
        start = time.perf_counter()
        app.action_run()  # what F5 does, without the Pilot's own key-press bookkeeping
        while app._last_exit is None:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        if not app._last_exit.ok:
            raise SystemExit(f"console run failed: {app._last_exit.description}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="sgl-bench-launch-")
    env = demo_environ(root, {"SGLANG_DIFFUSION_STAGE_LOGGING": "true"})
    cmd = backend_cmd(os.path.join(root, "outputs"), args.steps, args.size)
    level3 = {"SGLANG_KERNEL_API_LOGLEVEL": "3"}
    env3 = {**env, **level3}
    times: dict[str, list[float]] = {"direct": [], "headless": [], "console": [],
                                     "direct, kernel API level 3": [], "console, kernel API level 3": []}
    run_direct(cmd, env, root)  # warm the page cache and the model's materialised files
    for r in range(args.rounds):
        times["direct"].append(run_direct(cmd, env, root))
        times["headless"].append(run_headless(cmd, env))
        times["console"].append(asyncio.run(run_console(cmd, env, {})))
        times["direct, kernel API level 3"].append(run_direct(cmd, env3, root))
        times["console, kernel API level 3"].append(asyncio.run(run_console(cmd, env, level3)))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    print(f"\nrequest: {args.steps} steps at {args.size}x{args.size}, {args.rounds} interleaved rounds, medians; "
          "overhead against the direct run of the same level")  # fmt: skip
    print(f"{'mode':<30} {'median s':>9} {'min s':>7} {'overhead':>9}")
    for mode, values in times.items():
        med = statistics.median(values)
        base = statistics.median(times["direct, kernel API level 3" if "level 3" in mode else "direct"])
        over = "" if mode.startswith("direct") else f"{(med / base - 1) * 100:+.1f} %"
        print(f"{mode:<30} {med:>9.2f} {min(values):>7.2f} {over:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
