"""Cache-DiT on vs off on CPU: steps computed / served from cache and the wall time of the denoising loop.

Run: ``python bench/bench_caching.py`` (``--size``, ``--steps``, ``--repeats``, ``--threads``).

Why the loop and not the whole request: caching only changes the transformer calls; encoding and
decoding would dilute the number.  Weights are the untrained shapes architecture (the residual gate
of DBCache still fires now and then on random weights; the SCM rows with the ``static`` policy are
exactly the mask's counts).  The configurations run interleaved, round after round, so a burst of
load from a neighbour hits all of them alike; the best of ``--repeats`` rounds is the headline
(least disturbed by the other tenants of this shared machine), the median is shown beside it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from backend import envs  # noqa: E402
from backend.caching.controller import CacheController  # noqa: E402
from backend.models.shapes_pipeline import ShapesPipeline, build_untrained_pipeline  # noqa: E402

ON = {"SGLANG_CACHE_DIT_ENABLED": "true"}
CONFIGS: list[tuple[str, dict[str, str]]] = [
    ("off", {}),
    ("on, preset none", ON),
    ("on, fast dynamic", {**ON, "SGLANG_CACHE_DIT_SCM_PRESET": "fast"}),
    (
        "on, fast static",
        {**ON, "SGLANG_CACHE_DIT_SCM_PRESET": "fast", "SGLANG_CACHE_DIT_SCM_POLICY": "static"},
    ),
    (
        "on, ultra static",
        {**ON, "SGLANG_CACHE_DIT_SCM_PRESET": "ultra", "SGLANG_CACHE_DIT_SCM_POLICY": "static"},
    ),
]


def run_once(pipe: ShapesPipeline, ctl: CacheController, env: dict[str, str], steps: int,
             size: int) -> tuple[float, dict[str, Any]]:
    """One request as the backend runs it; returns (loop seconds, cache stats)."""
    ctl.prepare(pipe, envs.load_settings(env), steps)
    cond = pipe.encode_prompt(["a big red circle in the middle"])
    timesteps = pipe.prepare_timesteps(steps)
    latents = pipe.prepare_latents(1, size, size, torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for index, t in enumerate(timesteps):
        latents = pipe.denoise_step(latents, t, index, cond)
    elapsed = time.perf_counter() - start
    stats = ctl.stats(log=False)
    assert stats is not None
    return elapsed, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (multiple of 8, <= 256)")
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 28])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dual", action="store_true", help="also the two-expert variant")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    variants = [("single", build_untrained_pipeline(seed=0))]
    if args.dual:
        variants.append(("dual", build_untrained_pipeline(seed=0, dual=True)))
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.size}x{args.size}, guidance 3.0 "
          f"(batch 2 per step), {args.repeats} interleaved rounds after 1 warm-up")
    print()
    print("| model | steps | config | computed | cached | hit ratio | best ms | median ms | vs off (best) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant, pipe in variants:
        ctl = CacheController()
        for steps in args.steps:
            times: dict[str, list[float]] = {name: [] for name, _ in CONFIGS}
            stats: dict[str, dict[str, Any]] = {}
            for round_ in range(args.repeats + 1):
                for name, env in CONFIGS:
                    seconds, stats[name] = run_once(pipe, ctl, env, steps, args.size)
                    if round_:  # round 0 is the warm-up
                        times[name].append(seconds)
            baseline = min(times["off"])
            for name, _ in CONFIGS:
                s = stats[name]
                best, median = min(times[name]), statistics.median(times[name])
                print(f"| {variant} | {steps} | {name} | {s['computed_steps']} | {s['cached_steps']} | "
                      f"{s['hit_ratio']:.3f} | {best * 1000:.0f} | {median * 1000:.0f} | "
                      f"{baseline / best:.2f}x |", flush=True)
        ctl.unmount()
    return 0


if __name__ == "__main__":
    sys.exit(main())
