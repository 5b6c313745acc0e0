"""Cache-DiT on a Flux-sized transformer: realised speedup vs ideal, peak memory, per-step times.

Run on a CUDA machine: ``python bench/bench_cachedit_gpu.py`` (writes ``--json`` too); on CPU with
a tiny config: ``python bench/bench_cachedit_gpu.py --tiny``.

Why this shape: caching pays where the transformer dominates a step, i.e. at real scale. The model
is diffusers' ``FluxTransformer2DModel`` built from FLUX.1-dev's published config (19 double + 38
single blocks, hidden 3072) with random weights in bf16, 1024x1024-equivalent latents (4096 tokens
of 64 channels) and 512 text tokens, 28 steps, driven by diffusers' own ``FluxPipeline`` (no text
encoders or VAE: prompt embeddings given, latents out) so that every configuration runs the very
same loop.  Random weights make DBCache's residual test meaningless, so the caching rows use SCM
*static* masks: the steps served from cache are exactly the mask's.

Configurations, interleaved round after round (the best round is the headline, the median beside):

* ``off``: no cache-dit;
* ``ours, nothing cached``: our ``CacheController`` (DBCache mounted, no mask, a residual threshold
  no step can pass): the bare cost of the hooks, budget <= 3 %;
* ``ours, fast|medium static``: our controller, ``SGLANG_CACHE_DIT_SCM_PRESET`` + static policy;
* ``cache-dit, fast|medium static``: cache-dit's own ``enable_cache(pipe)`` (its registered Flux
  adapter) with the same DBCache numbers and the same mask: the anchor for our controller.

Ideal speedup is steps / computed steps; realised is off / config (best rounds).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from backend import envs  # noqa: E402
from backend.caching.controller import CacheController, import_cache_dit  # noqa: E402

FLUX_DEV: dict[str, Any] = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
    num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
    axes_dims_rope=(16, 56, 56),
)
"""FLUX.1-dev's transformer config (its published ``transformer/config.json``)."""
TINY: dict[str, Any] = dict(
    FLUX_DEV, num_layers=2, num_single_layers=4, attention_head_dim=16, num_attention_heads=2,
    joint_attention_dim=32, pooled_projection_dim=16, axes_dims_rope=(4, 6, 6),
)

ON = {"SGLANG_CACHE_DIT_ENABLED": "true"}
NOTHING_CACHED = {**ON, "SGLANG_CACHE_DIT_RDT": "1e-9", "SGLANG_CACHE_DIT_WARMUP": "0"}
"""DBCache hooks on, but no residual difference is ever below 1e-9: every step is computed."""


def static(preset: str) -> dict[str, str]:
    return {**ON, "SGLANG_CACHE_DIT_SCM_PRESET": preset, "SGLANG_CACHE_DIT_SCM_POLICY": "static"}


def build_pipe(tiny: bool, device: str, dtype: torch.dtype, seed: int) -> Any:
    """A ``FluxPipeline`` around a randomly initialised transformer (std 0.02, like trained linears)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise in the target dtype, on the device: no fp32 copy of 12B
    try:
        with torch.device(device):
            transformer: Any = FluxTransformer2DModel(**(TINY if tiny else FLUX_DEV))
    finally:
        torch.set_default_dtype(previous)
    with torch.no_grad():
        for p in transformer.parameters():
            p.normal_(0.0, 0.02)
    transformer.eval().requires_grad_(False)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
    pipe: Any = FluxPipeline(scheduler=scheduler, vae=None, text_encoder=None, tokenizer=None,
                        text_encoder_2=None, tokenizer_2=None, transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


class Runner:
    """Runs one request through the pipeline and times each step with device events."""

    def __init__(self, pipe: Any, args: argparse.Namespace, device: str, dtype: torch.dtype) -> None:
        self.pipe, self.args, self.device = pipe, args, device
        cfg = pipe.transformer.config
        g = torch.Generator(device="cpu").manual_seed(1)
        self.prompt = torch.randn(1, args.text_tokens, cfg.joint_attention_dim, generator=g).to(device, dtype)
        self.pooled = torch.randn(1, cfg.pooled_projection_dim, generator=g).to(device, dtype)
        self.cuda = device.startswith("cuda")

    def _mark(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def _between(self, a: Any, b: Any) -> float:
        return a.elapsed_time(b) / 1000 if self.cuda else b - a

    def run(self, pipe: Any) -> tuple[float, list[float], float]:
        """Returns (seconds of the whole call, seconds per step, peak GiB allocated above the weights)."""
        marks: list[Any] = []

        def on_step_end(_pipe: Any, _i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            marks.append(self._mark())
            return kwargs

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() if self.cuda else 0
        marks.append(self._mark())
        start = time.perf_counter()
        with torch.inference_mode():
            pipe(prompt_embeds=self.prompt, pooled_prompt_embeds=self.pooled, height=self.args.size,
                      width=self.args.size, num_inference_steps=self.args.steps, guidance_scale=3.5,
                      output_type="latent", generator=torch.Generator("cpu").manual_seed(2),
                      callback_on_step_end=on_step_end)
        if self.cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
        steps = [self._between(a, b) for a, b in zip(marks, marks[1:], strict=False)]
        peak = (torch.cuda.max_memory_allocated() - base) / 2**30 if self.cuda else 0.0
        return wall, steps, peak


class Config:
    """One row: how to mount cache-dit before a request and remove it after."""

    def __init__(self, name: str, kind: str, env: dict[str, str] | None = None) -> None:
        self.name, self.kind, self.env = name, kind, env or {}
        self.controller = CacheController()

    def mount(self, pipe: Any, steps: int) -> None:
        if self.kind == "ours":
            self.controller.prepare(pipe, envs.load_settings(self.env), steps)
        elif self.kind == "cache-dit":
            cache_dit = import_cache_dit()
            mask = cache_dit.steps_mask(mask_policy=self.env["SGLANG_CACHE_DIT_SCM_PRESET"], total_steps=steps)
            s = envs.load_settings(self.env)
            cache_dit.enable_cache(pipe, cache_config=cache_dit.DBCacheConfig(
                Fn_compute_blocks=s[envs.CACHE_DIT_FN], Bn_compute_blocks=s[envs.CACHE_DIT_BN],
                max_warmup_steps=s[envs.CACHE_DIT_WARMUP], residual_diff_threshold=s[envs.CACHE_DIT_RDT],
                max_continuous_cached_steps=s[envs.CACHE_DIT_MC], num_inference_steps=steps,
                steps_computation_mask=mask, steps_computation_policy="static"))

    def computed(self, pipe: Any, steps: int) -> tuple[int, int]:
        """(computed, cached) steps of the request that just ran, as cache-dit counted them."""
        if self.kind == "ours":
            stats = self.controller.stats(log=False) or {}
            return int(stats.get("computed_steps", steps)), int(stats.get("cached_steps", 0))
        if self.kind == "cache-dit":
            cache_dit = import_cache_dit()
            summary = cache_dit.summary(pipe.transformer, details=False, logging=False)
            cached = max((len(s.cached_steps or []) for s in summary), default=0) if summary else 0
            return steps - cached, cached
        return steps, 0

    def unmount(self, pipe: Any) -> None:
        if self.kind == "ours":
            self.controller.unmount()
        elif self.kind == "cache-dit":
            import_cache_dit().disable_cache(pipe)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny config on CPU (fp32, 128x128)")
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after one warm-up round")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args(argv)
    device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    args.size = 128 if args.tiny else 1024
    args.text_tokens = 32 if args.tiny else 512
    t0 = time.perf_counter()
    pipe = build_pipe(args.tiny, device, dtype, seed=0)
    # cache-dit's own Flux adapter patches the transformer's forward for good (its patch functor):
    # its rows get a second copy of the same weights, so that "off" and ours never run patched.
    pipe_cd = build_pipe(args.tiny, device, dtype, seed=0)
    weights = torch.cuda.memory_allocated() / 2 / 2**30 if device == "cuda" else 0.0
    blocks = len(pipe.transformer.transformer_blocks), len(pipe.transformer.single_transformer_blocks)
    params = sum(p.numel() for p in pipe.transformer.parameters()) / 1e9
    card = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    tokens = (args.size // 16) ** 2
    print(f"{card}, torch {torch.__version__}, {dtype}, FluxTransformer2DModel {blocks[0]}+{blocks[1]} blocks, "
          f"{params:.2f}B params, {tokens} image + {args.text_tokens} text tokens, {args.steps} steps; "
          f"{weights:.1f} GiB of weights; built in {time.perf_counter() - t0:.1f} s", flush=True)
    configs = [Config("off", "off"), Config("ours, nothing cached", "ours", NOTHING_CACHED)]
    for preset in ("fast", "medium"):
        configs += [Config(f"ours, {preset} static", "ours", static(preset)),
                    Config(f"cache-dit, {preset} static", "cache-dit", static(preset))]
    runner = Runner(pipe, args, device, dtype)
    rows: dict[str, dict[str, Any]] = {c.name: {"walls": [], "steps": [], "peak": 0.0} for c in configs}
    for round_ in range(args.repeats + 1):
        for c in configs:
            p = pipe_cd if c.kind == "cache-dit" else pipe
            c.mount(p, args.steps)
            wall, steps, peak = runner.run(p)
            row = rows[c.name]
            row["computed"], row["cached"] = c.computed(p, args.steps)
            c.unmount(p)
            if round_:  # round 0 warms up kernels and cache-dit's first mount
                row["walls"].append(wall)
                row["steps"].append(steps)
                row["peak"] = max(row["peak"], peak)
        print(f"round {round_} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    off = min(rows["off"]["walls"])
    print()
    print("| config | computed | cached | ideal | best s | median s | realised | of ideal | computed step ms | cached step ms | peak GiB over weights |")  # noqa: E501
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        row = rows[c.name]
        best, median = min(row["walls"]), statistics.median(row["walls"])
        ideal = args.steps / row["computed"]
        realised = off / best
        per_step = row["steps"][row["walls"].index(best)]
        row_mask = _mask(c, args.steps)
        comp = [s for s, m in zip(per_step, row_mask, strict=True) if m] or per_step
        cach = [s for s, m in zip(per_step, row_mask, strict=True) if not m]
        row.update(best=best, median=median, ideal=ideal, realised=realised, of_ideal=realised / ideal,
                   computed_step_ms=statistics.median(comp) * 1000,
                   cached_step_ms=statistics.median(cach) * 1000 if cach else None)
        cached_ms = f"{row['cached_step_ms']:.1f}" if cach else "-"
        print(f"| {c.name} | {row['computed']} | {row['cached']} | {ideal:.2f}x | {best:.3f} | {median:.3f} | "
              f"{realised:.2f}x | {realised / ideal:.2f} | {row['computed_step_ms']:.1f} | {cached_ms} | "
              f"{row['peak']:.1f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"card": card, "torch": torch.__version__, "dtype": str(dtype),
                                         "blocks": blocks, "params_b": params, "weights_gib": weights, "tokens": tokens,
                                         "text_tokens": args.text_tokens, "steps": args.steps,
                                         "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1))
    return 0


def _mask(c: Config, steps: int) -> list[int]:
    """Which steps the configuration computes (1) and serves from cache (0)."""
    preset = c.env.get("SGLANG_CACHE_DIT_SCM_PRESET")
    if not preset:
        return [1] * steps
    return list(import_cache_dit().steps_mask(mask_policy=preset, total_steps=steps))


if __name__ == "__main__":
    sys.exit(main())
