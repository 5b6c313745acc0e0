"""A stand-in generation child for UI tests and benchmarks (no torch): SGLang-shaped output.

It prints the lines of ``tests.demo.run_lines`` (written by ``backend.records``' own writers)
with a real delay per step, writes a small PNG, and can end the way a broken backend does:
a real SIGSEGV or SIGABRT inside a kernel API call, a non-zero exit, or a silent stall.

Usage: python fake_sglang_child.py [--steps N] [--step-s S] [--crash segv|abrt|exit3|stall]
       [--flood N] [--output PATH] [--nan]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from tests.demo import run_lines, write_png  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--step-s", type=float, default=0.01)
    ap.add_argument("--crash", choices=("segv", "abrt", "exit3", "stall"), default=None)
    ap.add_argument("--flood", type=int, default=0, help="print N numbered lines first")
    ap.add_argument("--output", default=os.environ.get("FAKE_CHILD_OUTPUT", "/tmp/sgl-demo/output.png"))
    ap.add_argument("--nan", action="store_true", help="the kernel call of step 2 reports NaN values")
    ap.add_argument("--ignore-sigint", action="store_true", help="survive SIGINT (stop must escalate)")
    args = ap.parse_args()
    if args.ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    level = int(os.environ.get("SGLANG_KERNEL_API_LOGLEVEL", "0") or 0)
    print(f"kernel API level {level}", flush=True)
    for i in range(args.flood):
        sys.stdout.write(f"flood line {i}\n")
    crash_in = "backend.vae.decode_conv" if args.crash in ("segv", "abrt") else None
    cache = os.environ.get("SGLANG_CACHE_DIT_ENABLED", "").lower() in ("1", "true", "yes", "on")
    for stream, line in run_lines(args.steps, kernel=level > 0, nan_step=2 if args.nan else None,
                                  output=args.output, crash_in=crash_in, cache=cache):
        out = sys.stderr if stream == "stderr" else sys.stdout
        out.write(line + "\n")
        out.flush()
        if "it/s]" in line or "s/it]" in line:
            time.sleep(args.step_s)
            if args.crash == "stall" and f" {args.steps // 2}/{args.steps} " in line:
                time.sleep(3600)
        if "Output saved to" in line or "Saved output to:" in line:
            write_png(args.output)
    if crash_in:
        os.kill(os.getpid(), signal.SIGSEGV if args.crash == "segv" else signal.SIGABRT)
        time.sleep(5)
    if args.crash == "exit3":
        sys.stderr.write("RuntimeError: CUDA error: an illegal memory access was encountered\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
