"""backend/caching/controller.py + backend/caching/scm.py: Cache-DiT on the bundled ShapesPipeline (untrained weights, CPU).

Counts only, never wall time (that is bench/bench_caching.py).  With random weights the residual
gate almost never fires, so the counts below use the ``static`` SCM policy, where a masked step is
always served from cache: the counts are then exactly the mask's.  The expected masks were worked
out by hand from cache-dit 1.5.3's ``steps_mask`` tables (cache_dit/caching/cache_interface.py) and
are hard-coded here on purpose: the test must not recompute them with the code it checks.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import torch

from backend import envs
from backend.caching.controller import CacheController, stats_line, validate_for_steps
from backend.caching.scm import CacheConfigError
from backend.models.shapes_pipeline import ShapesPipeline, build_untrained_pipeline

ON = {"SGLANG_CACHE_DIT_ENABLED": "true"}
STATIC_FAST = {**ON, "SGLANG_CACHE_DIT_SCM_PRESET": "fast", "SGLANG_CACHE_DIT_SCM_POLICY": "static"}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def single() -> ShapesPipeline:
    return build_untrained_pipeline(seed=0)


@pytest.fixture(scope="module")
def dual() -> ShapesPipeline:
    return build_untrained_pipeline(seed=0, dual=True)


def generate(pipe: ShapesPipeline, ctl: CacheController, env: dict[str, str], steps: int = 8) -> tuple[
        torch.Tensor, dict[str, Any]]:
    """One request the way the backend's stages run it: prepare, timesteps, the step loop, stats."""
    ctl.prepare(pipe, envs.load_settings(env), steps)
    cond = pipe.encode_prompt(["a small green triangle"])
    timesteps = pipe.prepare_timesteps(steps)
    latents = pipe.prepare_latents(1, 64, 64, torch.Generator().manual_seed(1))
    for index, t in enumerate(timesteps):
        latents = pipe.denoise_step(latents, t, index, cond)
    stats = ctl.stats()
    assert stats is not None
    return latents, stats


def test_on_vs_off_fewer_computed_steps(single: ShapesPipeline, cache_controller: CacheController) -> None:
    off, off_stats = generate(single, cache_controller, {})
    assert off_stats == {
        "enabled": False,
        "steps": 8,
        "computed_steps": 8,
        "cached_steps": 0,
        "hit_ratio": 0.0,
    }
    on, on_stats = generate(single, cache_controller, STATIC_FAST)
    assert on_stats["computed_steps"] < off_stats["computed_steps"]
    assert (on_stats["computed_steps"], on_stats["cached_steps"], on_stats["hit_ratio"]) == (5, 3, 0.375)
    assert torch.isfinite(on).all() and not torch.equal(on, off)
    again, _ = generate(single, cache_controller, {})  # switched off: hooks gone, the uncached result again
    assert not cache_controller.mounted and torch.equal(again, off)


@pytest.mark.parametrize(("preset", "steps", "mask"), [
    ("fast", 8, "11101001"),      # [3,1,1] compute / [1,2] cache
    ("slow", 8, "11111011"),      # [5,1,1] / [1]
    ("medium", 8, "11110101"),    # [4,1,1] / [1,1]
    ("ultra", 8, "11001001"),     # [2,1,1] / [2,2]
    ("fast", 10, "1110100101"),   # 9..15-step table cut to 10, last step forced to compute
    ("fast", 4, "1101"),          # the 4-step table
    ("fast", 6, "111001"),        # the 6-step table
    ("fast", 28, "1111110100010000100000100001"),  # the 28-step table itself: 11 compute / 17 cache
])
def test_preset_counts_match_cache_dit_tables(single: ShapesPipeline, cache_controller: CacheController,
                                              preset: str, steps: int, mask: str) -> None:
    env = {**ON, "SGLANG_CACHE_DIT_SCM_PRESET": preset, "SGLANG_CACHE_DIT_SCM_POLICY": "static"}
    _, stats = generate(single, cache_controller, env, steps)
    assert stats["scm"]["mask"] == mask
    assert stats["computed_steps"] == mask.count("1") and stats["cached_steps"] == mask.count("0")
    assert stats["primary"]["cached_step_indices"] == [i for i, m in enumerate(mask) if m == "0"]


def test_custom_bins(single: ShapesPipeline, cache_controller: CacheController) -> None:
    env = {**ON, "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS": "2,1", "SGLANG_CACHE_DIT_SCM_CACHE_BINS": "3,2",
           "SGLANG_CACHE_DIT_SCM_POLICY": "static"}
    _, stats = generate(single, cache_controller, env)
    assert stats["scm"]["custom_bins"] and stats["scm"]["mask"] == "11000100"  # custom: no forced last step
    assert (stats["computed_steps"], stats["cached_steps"]) == (3, 5)


def test_lone_bin_warns_and_falls_back_to_preset(single: ShapesPipeline, cache_controller: CacheController,
                                                 backend_log: pytest.LogCaptureFixture) -> None:
    _, stats = generate(single, cache_controller, {**STATIC_FAST, "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS": "2,1"})
    warnings = [r.getMessage() for r in backend_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS" in warnings[0]
        and "SGLANG_CACHE_DIT_SCM_CACHE_BINS" in warnings[0]
    )
    assert "falling back to preset 'fast'" in warnings[0]
    assert not stats["scm"]["custom_bins"] and (stats["computed_steps"], stats["cached_steps"]) == (5, 3)


@pytest.mark.parametrize(("env", "steps", "names"), [
    ({**STATIC_FAST}, 5, ["SGLANG_CACHE_DIT_SCM_PRESET=fast", "5 steps"]),
    ({**STATIC_FAST}, 7, ["SGLANG_CACHE_DIT_SCM_PRESET=fast", "7 steps"]),
    ({**ON, "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS": "2,1", "SGLANG_CACHE_DIT_SCM_CACHE_BINS": "1,1"}, 8,
     ["SGLANG_CACHE_DIT_SCM_COMPUTE_BINS=2,1", "SGLANG_CACHE_DIT_SCM_CACHE_BINS=1,1", "8 steps"]),
    ({**ON, "SGLANG_CACHE_DIT_FN": "7"}, 8, ["SGLANG_CACHE_DIT_FN=7", "6 blocks"]),
])
def test_refused_step_count_errors_before_the_run(single: ShapesPipeline, cache_controller: CacheController,
                                                  env: dict[str, str], steps: int, names: list[str]) -> None:
    calls: list[int] = []
    hook = single.transformer.register_forward_pre_hook(  # type: ignore[attr-defined]
        lambda *a: calls.append(1)
    )
    try:
        with pytest.raises(CacheConfigError) as info:
            validate_for_steps(envs.load_settings(env), steps, single)
        with pytest.raises(CacheConfigError):
            generate(single, cache_controller, env, steps)
    finally:
        hook.remove()
    assert all(n in str(info.value) for n in names), str(info.value)
    assert calls == [] and not cache_controller.mounted  # refused before anything ran or was mounted


def test_refusal_only_applies_while_enabled() -> None:
    validate_for_steps(envs.load_settings({"SGLANG_CACHE_DIT_SCM_PRESET": "fast"}), 5)


def test_secondary_variables_configure_transformer_2(
    dual: ShapesPipeline, cache_controller: CacheController
) -> None:
    env = {**ON, "SGLANG_CACHE_DIT_WARMUP": "8",  # the high-noise expert never caches (5 steps)
           "SGLANG_CACHE_DIT_SECONDARY_FN": "2", "SGLANG_CACHE_DIT_SECONDARY_WARMUP": "1",
           "SGLANG_CACHE_DIT_SECONDARY_RDT": "1e9", "SGLANG_CACHE_DIT_SECONDARY_MC": "1"}
    _, stats = generate(dual, cache_controller, env)
    primary, secondary = cache_controller.contexts()
    assert (primary.cache_config.Fn_compute_blocks, secondary.cache_config.Fn_compute_blocks) == (1, 2)
    assert primary.cache_config.residual_diff_threshold == 0.24
    assert secondary.cache_config.residual_diff_threshold == 1e9
    assert (primary.cache_config.num_inference_steps, secondary.cache_config.num_inference_steps) == (5, 3)
    # warmup 1, then a hit (any diff is under 1e9), then MC=1 forces a compute: 2 computed + 1 cached
    assert (stats["primary"]["computed_steps"], stats["primary"]["cached_steps"]) == (5, 0)
    assert (stats["secondary"]["computed_steps"], stats["secondary"]["cached_steps"]) == (2, 1)
    assert stats["secondary"]["cached_step_indices"] == [6] and stats["secondary"]["config"]["fn"] == 2
    assert (stats["computed_steps"], stats["cached_steps"]) == (7, 1)


def test_secondary_inherits_primary_when_unset(dual: ShapesPipeline, cache_controller: CacheController) -> None:
    generate(dual, cache_controller, {**ON, "SGLANG_CACHE_DIT_FN": "3", "SGLANG_CACHE_DIT_RDT": "0.1"})
    primary, secondary = cache_controller.contexts()
    assert secondary.cache_config.Fn_compute_blocks == primary.cache_config.Fn_compute_blocks == 3
    assert (
        secondary.cache_config.residual_diff_threshold == primary.cache_config.residual_diff_threshold == 0.1
    )


def test_dual_mask_is_split_at_the_expert_boundary(dual: ShapesPipeline, cache_controller: CacheController) -> None:
    _, stats = generate(dual, cache_controller, STATIC_FAST)
    assert stats["scm"]["mask"] == "11101001"
    # steps 0-4 go to transformer, 5-7 to transformer_2, whose first step must compute (empty cache)
    assert (stats["primary"]["mask"], stats["secondary"]["mask"]) == ("11101", "101")
    assert stats["primary"]["cached_step_indices"] == [3] and stats["secondary"]["cached_step_indices"] == [6]
    assert (stats["computed_steps"], stats["cached_steps"]) == (6, 2)


def test_taylorseer_per_transformer(dual: ShapesPipeline, cache_controller: CacheController) -> None:
    env = {**STATIC_FAST, "SGLANG_CACHE_DIT_TAYLORSEER": "on", "SGLANG_CACHE_DIT_TS_ORDER": "2",
           "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER": "off"}
    latents, _ = generate(dual, cache_controller, env)
    primary, secondary = cache_controller.contexts()
    assert primary.calibrator_config.taylorseer_order == 2
    assert secondary.calibrator_config is None  # not inherited from the primary's modifier
    assert torch.isfinite(latents).all()


def test_new_step_count_refreshes_and_new_settings_remount(single: ShapesPipeline,
                                                           cache_controller: CacheController) -> None:
    generate(single, cache_controller, STATIC_FAST, 8)
    adapter = cache_controller._mounted.adapter  # type: ignore[union-attr]
    _, stats = generate(single, cache_controller, STATIC_FAST, 10)
    assert cache_controller._mounted.adapter is adapter  # type: ignore[union-attr]
    assert stats["scm"]["mask"] == "1110100101" and stats["primary"]["executed_steps"] == 10
    _, stats = generate(single, cache_controller, {**STATIC_FAST, "SGLANG_CACHE_DIT_SCM_PRESET": "ultra"}, 8)
    assert cache_controller._mounted.adapter is not adapter  # type: ignore[union-attr]
    assert stats["scm"]["mask"] == "11001001"


def test_one_log_line_and_quiet_cache_dit(single: ShapesPipeline, cache_controller: CacheController,
                                          backend_log: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    _, stats = generate(single, cache_controller, STATIC_FAST)
    lines = [m for m in backend_log.messages if m.startswith("cache-dit: ")]
    assert (
        lines == ["cache-dit: 5 of 8 steps computed, 3 from cache (hit ratio 0.375)"] == [stats_line(stats)]
    )
    out, err = capfd.readouterr()
    assert "[Cache-DiT]" not in out + err  # cache-dit's own stdout INFO lines are off
