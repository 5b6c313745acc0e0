"""backend/caching/scm.py: SCM step masks, checked against cache-dit's own ``steps_mask``.

The module's refusals are plain Python mirroring cache-dit's asserts (so a request is refused before
cache-dit is imported); these tests hold them to the library itself: for every preset, step count and
bin pair tried, ``check_steps`` refuses exactly when ``cache_dit.steps_mask`` would assert, and
``build_mask`` gives cache-dit's mask. The hand-worked tables and the end-to-end counts live in
``tests/test_caching.py``; the variables' value parsing in ``tests/test_envs_*.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from backend import envs
from backend.caching import scm
from backend.caching.quiet_import import import_cache_dit
from backend.exit_codes import BackendError, ExitCode

PRESETS = ("slow", "medium", "fast", "ultra")
STEP_COUNTS = range(1, 41)


@pytest.fixture(scope="module")
def cache_dit() -> Any:
    """The real library (a heavy import: once per module)."""
    return import_cache_dit()


def upstream_mask(cache_dit: Any, steps: int, preset: str = "medium",
                  bins: tuple[tuple[int, ...], tuple[int, ...]] | None = None) -> list[int] | None:
    """cache-dit's own mask, or None where cache-dit asserts (refuses the request)."""
    try:
        mask = cache_dit.steps_mask(compute_bins=list(bins[0]) if bins else None,
                                    cache_bins=list(bins[1]) if bins else None,
                                    total_steps=steps, mask_policy=preset)
    except AssertionError:
        return None
    return [int(m) for m in mask]


def spec_from(env: dict[str, str], warn: bool = True) -> scm.ScmSpec:
    return scm.scm_from_settings(envs.load_settings(env), warn=warn)


# ---- resolving the variables -----------------------------------------------------------------------


def test_defaults_give_an_inactive_spec_and_no_mask() -> None:
    spec = spec_from({})
    assert spec == scm.ScmSpec("none", "dynamic") and not spec.active and not spec.custom
    assert scm.build_mask(spec, 5) is None  # any step count: nothing to build, nothing refused
    scm.check_steps(spec, 7)


def test_both_bins_make_a_custom_spec_that_overrides_the_preset() -> None:
    spec = spec_from({"SGLANG_CACHE_DIT_SCM_COMPUTE_BINS": "4, 2", "SGLANG_CACHE_DIT_SCM_CACHE_BINS": "1,1",
                      "SGLANG_CACHE_DIT_SCM_PRESET": "ultra", "SGLANG_CACHE_DIT_SCM_POLICY": "static"})
    assert spec.custom and spec.active
    assert (spec.compute_bins, spec.cache_bins) == ((4, 2), (1, 1))
    assert spec.describe() == "bins=4,2/1,1 policy=static"
    assert spec_from({"SGLANG_CACHE_DIT_SCM_PRESET": "fast"}).describe() == "preset=fast policy=dynamic"


@pytest.mark.parametrize(("lone", "other"), [
    ("SGLANG_CACHE_DIT_SCM_COMPUTE_BINS", "SGLANG_CACHE_DIT_SCM_CACHE_BINS"),
    ("SGLANG_CACHE_DIT_SCM_CACHE_BINS", "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS"),
])
def test_a_lone_bin_list_warns_naming_both_and_keeps_the_preset(
        lone: str, other: str, backend_log: pytest.LogCaptureFixture) -> None:
    env = {lone: "3,1", "SGLANG_CACHE_DIT_SCM_PRESET": "slow"}
    spec = spec_from(env)
    assert spec == scm.ScmSpec("slow", "dynamic") and not spec.custom
    (warning,) = [r.getMessage() for r in backend_log.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"{lone} is set without {other}") and "falling back to preset 'slow'" in warning
    backend_log.clear()
    assert spec_from(env, warn=False) == spec
    assert not [r for r in backend_log.records if r.levelno >= logging.WARNING]


# ---- refusals agree with cache-dit -----------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_refusals_and_masks_match_cache_dit(cache_dit: Any, preset: str) -> None:
    spec = scm.ScmSpec(preset, "static")
    for steps in STEP_COUNTS:
        theirs = upstream_mask(cache_dit, steps, preset)
        if theirs is None:
            with pytest.raises(scm.CacheConfigError):
                scm.build_mask(spec, steps)
            continue
        ours = scm.build_mask(spec, steps)
        assert ours == theirs, (preset, steps)
        assert len(ours) == steps and ours[-1] == 1  # a preset always computes its last step


@pytest.mark.parametrize(("compute", "cache"), [((2, 1), (3, 2)), ((1,), (1,)), ((4, 2, 1), (1, 1, 3)), ((8,), (1,))])
def test_custom_bin_refusals_and_masks_match_cache_dit(cache_dit: Any, compute: tuple[int, ...],
                                                       cache: tuple[int, ...]) -> None:
    spec = scm.ScmSpec("none", "static", compute, cache)
    for steps in range(1, sum(compute) + sum(cache) + 4):
        theirs = upstream_mask(cache_dit, steps, bins=(compute, cache))
        if theirs is None:
            with pytest.raises(scm.CacheConfigError):
                scm.check_steps(spec, steps)
            continue
        assert scm.build_mask(spec, steps) == theirs, (compute, cache, steps)


def test_preset_refusal_names_variable_value_steps_and_the_way_out() -> None:
    with pytest.raises(scm.CacheConfigError) as info:
        scm.check_steps(scm.ScmSpec("ultra", "dynamic"), 7)
    text = str(info.value)
    assert "SGLANG_CACHE_DIT_SCM_PRESET=ultra has no mask for 7 steps" in text
    assert "8 or more steps, or exactly 4 or 6" in text and "SGLANG_CACHE_DIT_SCM_PRESET=none" in text
    assert isinstance(info.value, BackendError) and isinstance(info.value, ValueError)
    assert info.value.code == ExitCode.BAD_REQUEST


def test_custom_refusal_names_both_variables_their_values_and_the_coverage() -> None:
    with pytest.raises(scm.CacheConfigError) as info:
        scm.check_steps(scm.ScmSpec("fast", "dynamic", (2, 1), (1, 1)), 8)
    assert str(info.value) == (
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS=2,1 and SGLANG_CACHE_DIT_SCM_CACHE_BINS=1,1 cover 5 steps but the "
        "request has 8 steps; the bins must add up to at least the step count")


@pytest.mark.parametrize("spec", [scm.ScmSpec("none", "dynamic"), scm.ScmSpec("fast", "static")])
def test_zero_steps_is_refused_whether_or_not_scm_is_on(spec: scm.ScmSpec) -> None:
    with pytest.raises(scm.CacheConfigError, match=r"num_inference_steps=0: at least 1 step"):
        scm.check_steps(spec, 0)


# ---- helpers on a mask -----------------------------------------------------------------------------


def test_split_mask_forces_each_experts_first_step_and_keeps_the_rest() -> None:
    mask = [1, 1, 0, 0, 1, 0, 0, 1]
    assert scm.split_mask(mask, 3) == ([1, 1, 0], [1, 1, 0, 0, 1])  # second expert starts on a cached step
    assert scm.split_mask(mask, 4) == ([1, 1, 0, 0], [1, 0, 0, 1])
    assert scm.split_mask(mask, 8) == (mask, None)
    assert scm.split_mask([0, 1, 0], 0) == (None, [1, 1, 0])
    assert scm.split_mask(None, 4) == (None, None)
    assert mask == [1, 1, 0, 0, 1, 0, 0, 1]  # the caller's mask is not changed


def test_mask_text_and_counts() -> None:
    assert scm.mask_text([1, 1, 0, True, False]) == "11010" and scm.mask_text(None) is None
    assert scm.mask_counts([1, 0, 0, 1, 1]) == (3, 2)
    assert scm.mask_counts(None) == (0, 0) and scm.mask_counts([]) == (0, 0)
