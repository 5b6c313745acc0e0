"""Tests for ``backend/envs/`` cross-variable checks (spec: "Cross-variable rules the console checks
before launch"), in strict mode.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend import envs
from tests.envs_tables import (
    BASE_ENV,
    CPU_ONLY,
    CUDA_HOST,
    messages,
)

# -- cross-variable rules (spec: "Cross-variable rules the console checks before launch") -----


def check(session: dict[str, str], host: frozenset[str] = CUDA_HOST) -> list[str]:
    return messages(envs.check(session, BASE_ENV, host))


def test_s3_on_needs_a_bucket() -> None:
    assert check({"SGLANG_CLOUD_STORAGE_TYPE": "s3"}) == [
        "error: SGLANG_CLOUD_STORAGE_TYPE=s3 needs SGLANG_S3_BUCKET_NAME (storage on without a bucket)"
    ]
    assert check({"SGLANG_CLOUD_STORAGE_TYPE": "s3", "SGLANG_S3_BUCKET_NAME": "outputs"}) == []
    bad_bucket = check({"SGLANG_CLOUD_STORAGE_TYPE": "s3", "SGLANG_S3_BUCKET_NAME": "Bad_Bucket"})
    assert any("SGLANG_S3_BUCKET_NAME='Bad_Bucket' is not valid" in m for m in bad_bucket)
    assert any("needs SGLANG_S3_BUCKET_NAME" in m for m in bad_bucket)


def test_endpoint_must_be_http_url() -> None:
    found = check({"SGLANG_CLOUD_STORAGE_TYPE": "s3", "SGLANG_S3_BUCKET_NAME": "outputs",
                   "SGLANG_S3_ENDPOINT_URL": "minio:9000"})
    assert [m for m in found if m.startswith("error")] == [
        "error: SGLANG_S3_ENDPOINT_URL='minio:9000' is not valid; "
        "allowed: an http:// or https:// URL, e.g. http://127.0.0.1:9000"
    ]


@pytest.mark.parametrize("alone", ["SGLANG_CACHE_DIT_SCM_COMPUTE_BINS", "SGLANG_CACHE_DIT_SCM_CACHE_BINS"])
def test_scm_bins_come_in_pairs(alone: str) -> None:
    assert check({alone: "8,3"}) == [
        f"warning: {alone} is set alone: SCM custom bins need both COMPUTE_BINS and CACHE_BINS; "
        "falling back to preset 'none'"
    ]
    assert check({"SGLANG_CACHE_DIT_SCM_COMPUTE_BINS": "8,3", "SGLANG_CACHE_DIT_SCM_CACHE_BINS": "2,1"}) == []


@pytest.mark.parametrize(
    ("order", "switch"),
    [
        ("SGLANG_CACHE_DIT_TS_ORDER", "SGLANG_CACHE_DIT_TAYLORSEER"),
        ("SGLANG_CACHE_DIT_SECONDARY_TS_ORDER", "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER"),
    ],
)
def test_ts_order_without_taylorseer_warns_only(order: str, switch: str) -> None:
    assert check({order: "2"}) == [f"warning: {order} has no effect while {switch} is off"]
    assert check({order: "2", switch: "true"}) == []


def test_secondary_taylorseer_inherits_the_switch_for_the_order_check() -> None:
    found = check({"SGLANG_CACHE_DIT_TAYLORSEER": "on", "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER": "2"})
    assert found == []


@pytest.mark.parametrize(
    ("name", "raw", "platform"),
    [
        ("SGLANG_USE_MLX", "1", "mps"),
        ("SGLANG_USE_ROCM_VAE", "true", "rocm"),
        ("SGLANG_USE_ROCM_CUDNN_BENCHMARK", "on", "rocm"),
    ],
)
def test_platform_variables_warn_on_a_host_without_the_platform(name: str, raw: str, platform: str) -> None:
    assert check({name: raw}, CPU_ONLY) == [
        f"warning: {name} has no effect here: this host has no {platform}"
    ]
    assert check({name: raw}, frozenset({platform, "cpu"})) == []


def test_platform_variable_switched_off_does_not_warn() -> None:
    assert check({"SGLANG_USE_ROCM_VAE": "false"}, CPU_ONLY) == []


def test_target_device_missing_on_host_warns() -> None:
    assert check({"SGLANG_DIFFUSION_TARGET_DEVICE": "rocm"}, CUDA_HOST) == [
        "warning: SGLANG_DIFFUSION_TARGET_DEVICE=rocm but this host has no rocm; the backend will refuse to start"
    ]
    assert check({"SGLANG_DIFFUSION_TARGET_DEVICE": "cpu"}, CUDA_HOST) == []


def test_profiler_dir_must_be_absolute() -> None:
    assert check({"SGLANG_DIFFUSION_TORCH_PROFILER_DIR": "traces"}) == [
        "error: SGLANG_DIFFUSION_TORCH_PROFILER_DIR='traces' is not valid (relative path); allowed: an absolute path"
    ]


def test_attention_config_must_exist_and_parse(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.json")
    assert check({"SGLANG_DIFFUSION_ATTENTION_CONFIG": missing}) == [
        f"error: SGLANG_DIFFUSION_ATTENTION_CONFIG={missing!r}: file does not exist"
    ]
    broken = tmp_path / "broken.json"
    broken.write_text('{"scale": ', encoding="utf-8")
    found = check({"SGLANG_DIFFUSION_ATTENTION_CONFIG": str(broken)})
    assert len(found) == 1 and found[0].startswith(
        f"error: SGLANG_DIFFUSION_ATTENTION_CONFIG={str(broken)!r}: "
    )
    assert "invalid JSON" in found[0]
    wrong_key = tmp_path / "wrong.yaml"
    wrong_key.write_text("sparsity: 0.5\n", encoding="utf-8")
    found = check({"SGLANG_DIFFUSION_ATTENTION_CONFIG": str(wrong_key)})
    assert len(found) == 1 and "unknown key 'sparsity'" in found[0]
    # the same key is right for the backend it belongs to
    assert check({"SGLANG_DIFFUSION_ATTENTION_CONFIG": str(wrong_key),
                  "SGLANG_DIFFUSION_ATTENTION_BACKEND": "video_sparse_attn"}) == []
    good = tmp_path / "good.json"
    good.write_text('{"sdpa_kernels": ["flash", "math"]}', encoding="utf-8")
    assert check({"SGLANG_DIFFUSION_ATTENTION_CONFIG": str(good)}) == []


def test_kernel_level_10_without_include_warns_with_free_space(tmp_path: Path) -> None:
    found = check({"SGLANG_KERNEL_API_LOGLEVEL": "10", "SGLANG_KERNEL_API_DUMP_DIR": str(tmp_path / "d_%i")})
    assert len(found) == 1
    assert found[0].startswith(
        "warning: SGLANG_KERNEL_API_LOGLEVEL=10 with no SGLANG_KERNEL_API_DUMP_INCLUDE"
    )
    assert re.search(r"\(\d+\.\d GiB free\)$", found[0])
    assert check({"SGLANG_KERNEL_API_LOGLEVEL": "10", "SGLANG_KERNEL_API_DUMP_INCLUDE": "*attn*"}) == []
    assert check({"SGLANG_KERNEL_API_LOGLEVEL": "5"}) == []


def test_unknown_name_under_a_managed_prefix_warns_with_a_suggestion() -> None:
    assert check({"SGLANG_CACHE_DIT_RDTT": "0.3"}) == [
        "warning: SGLANG_CACHE_DIT_RDTT is not a variable this console manages; did you mean SGLANG_CACHE_DIT_RDT?"
    ]
    assert check({"CUDA_VISIBLE_DEVICES": "0"}) == []


def test_errors_come_before_warnings() -> None:
    problems = envs.check({"SGLANG_CACHE_DIT_TS_ORDER": "2", "SGLANG_CACHE_DIT_MC": "x"}, BASE_ENV, CUDA_HOST)
    assert [p.severity for p in problems] == ["error", "warning"]


def test_check_reads_the_process_environment_too() -> None:
    found = messages(envs.check({}, {**BASE_ENV, "SGLANG_CACHE_DIT_WARMUP": "-1"}, CUDA_HOST))
    assert found == ["error: SGLANG_CACHE_DIT_WARMUP='-1' is not valid (below 0); allowed: an integer >= 0"]


def test_a_value_too_long_for_exec_is_an_error_before_the_run() -> None:
    """200 KB passed ``env check`` and then failed the launch with "Argument list too long"."""
    import subprocess
    import sys

    from backend.envs.checks import MAX_ENV_ENTRY_BYTES

    name = "SGLANG_KERNEL_API_DUMP_INCLUDE"
    long_value = "a" * MAX_ENV_ENTRY_BYTES
    problems = [p for p in envs.check({name: long_value}, environ={}, host_platforms=frozenset({"cpu"}))
                if p.severity == "error"]
    assert any(name in p.message and "MAX_ARG_STRLEN" in p.message for p in problems)
    with pytest.raises(OSError):  # the limit is the kernel's: exec really refuses it
        subprocess.run([sys.executable, "-c", "pass"], env={name: long_value}, check=False)
    fits = "a" * (MAX_ENV_ENTRY_BYTES - len(name) - 2)
    assert not [p for p in envs.check({name: fits}, environ={}, host_platforms=frozenset({"cpu"}))
                if "MAX_ARG_STRLEN" in p.message]
