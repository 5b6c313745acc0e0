"""Time the embedded shapes model on this machine's CPU: load, then one 64x64 image at 8 steps.

    python bench/bench_model.py [--variant single|dual] [--runs 5] [--guidance 3.0] [--threads N]

Prints the import and load times, the median and best of `--runs` generations (after one warm-up), plain and
with cache-dit's SCM "fast" preset. The issue's budget is 3 s for one image on a 2-core CPU.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.caching.adapter import scm_cache_config, shapes_block_adapter  # noqa: E402
from backend.models.shapes_pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, load_pipeline  # noqa: E402


def _time_runs(run: object, runs: int) -> list[float]:
    assert callable(run)
    run()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=("single", "dual"), default="single")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import_s = time.perf_counter() - _STARTED
    start = time.perf_counter()
    pipe = load_pipeline(args.variant)
    load_s = time.perf_counter() - start
    print(
        f"variant={args.variant} threads={torch.get_num_threads()} steps={args.steps} guidance={args.guidance}"
    )
    print(f"import (torch, diffusers, model code): {import_s:.2f} s; load weights: {load_s:.2f} s")

    def generate() -> None:
        pipe("a red circle", num_inference_steps=args.steps, guidance_scale=args.guidance,
             generator=torch.Generator().manual_seed(0))

    for label in ("plain", "cache-dit SCM fast"):
        if label != "plain":
            import cache_dit

            cache_dit.enable_cache(
                shapes_block_adapter(pipe), cache_config=scm_cache_config("fast", args.steps)
            )
        times = _time_runs(generate, args.runs)
        print(f"{label}: median {statistics.median(times):.3f} s, best {min(times):.3f} s over {args.runs} runs "
              f"(64x64, {args.steps} steps)")


if __name__ == "__main__":
    main()
