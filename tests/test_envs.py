"""Tests for ``backend/envs/`` in strict mode: the registry against the spec, every variable's
strict parser, defaults, empty strings, secondary inheritance and the cross-variable checks.
The upstream (default) reading is tested in ``test_envs_upstream.py``.

The tables below are written out by hand from ``shared/spec/env-vars.md`` on purpose: a
table derived from the registry would only test the registry against itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import envs
from backend.envs import REGISTRY, EnvError, Source

SPEC = Path(__file__).resolve().parent / "data" / "spec" / "env-vars.md"
"""A copy of the spec kept with the tests, so the spec test runs in every checkout."""
SHARED_SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "env-vars.md"
"""The original, beside the checkout where there is one."""

XDG = object()
"""Marker: the default is an XDG-derived path (tested separately)."""

CPU_ONLY = frozenset({"cpu"})
CUDA_HOST = frozenset({"cuda", "cpu"})


def test_spec_copy_matches_the_shared_spec() -> None:
    """Says when ``tests/data/spec/env-vars.md`` has fallen behind ``../shared/spec/env-vars.md``."""
    if not SHARED_SPEC.is_file():
        pytest.skip(f"no shared spec beside this checkout ({SHARED_SPEC}); the copy in tests/data is used")
    assert SPEC.read_text(encoding="utf-8") == SHARED_SPEC.read_text(encoding="utf-8"), (
        f"the spec changed: copy {SHARED_SPEC} to {SPEC}")


def spec_names() -> list[str]:
    """Every variable named in the first column of a table in the spec."""
    names = []
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`?([A-Z][A-Z0-9_]+)`?\s*\|", line)
        if match and match.group(1) != "variable":
            names.append(match.group(1))
    return names


# name -> (typed default, shown default).  From the spec's "default" columns.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "SGLANG_DIFFUSION_TARGET_DEVICE": (None, "auto (cuda where present)"),
    "SGLANG_DIFFUSION_ATTENTION_BACKEND": (None, "auto"),
    "SGLANG_DIFFUSION_ATTENTION_CONFIG": (None, "unset"),
    "SGLANG_DIFFUSION_STAGE_LOGGING": (False, "false"),
    "SGLANG_DIFFUSION_SERVER_DEV_MODE": (False, "false"),
    "SGLANG_DIFFUSION_TORCH_PROFILER_DIR": (None, "unset"),
    "SGLANG_DIFFUSION_CACHE_ROOT": (XDG, "$XDG_CACHE_HOME/sgl_diffusion, else ~/.cache/sgl_diffusion"),
    "SGLANG_DIFFUSION_CONFIG_ROOT": (XDG, "$XDG_CONFIG_HOME/sgl_diffusion, else ~/.config/sgl_diffusion"),
    "SGLANG_DIFFUSION_LOGGING_LEVEL": ("INFO", "INFO"),
    "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD": ("fork", "fork"),
    "SGLANG_USE_RUNAI_MODEL_STREAMER": (True, "true"),
    "SGLANG_USE_MLX": (None, "unset"),
    "SGLANG_USE_ROCM_VAE": (False, "false"),
    "SGLANG_USE_ROCM_CUDNN_BENCHMARK": (False, "false"),
    "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND": (None, "unset"),
    "SGLANG_CACHE_DIT_ENABLED": (False, "false"),
    "SGLANG_CACHE_DIT_FN": (1, "1"),
    "SGLANG_CACHE_DIT_BN": (0, "0"),
    "SGLANG_CACHE_DIT_WARMUP": (4, "4"),
    "SGLANG_CACHE_DIT_RDT": (0.24, "0.24"),
    "SGLANG_CACHE_DIT_MC": (3, "3"),
    "SGLANG_CACHE_DIT_TAYLORSEER": (False, "false"),
    "SGLANG_CACHE_DIT_TS_ORDER": (1, "1"),
    "SGLANG_CACHE_DIT_SCM_PRESET": ("none", "none"),
    "SGLANG_CACHE_DIT_SCM_POLICY": ("dynamic", "dynamic"),
    "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS": (None, "unset"),
    "SGLANG_CACHE_DIT_SCM_CACHE_BINS": (None, "unset"),
    "SGLANG_CACHE_DIT_SECONDARY_FN": (None, "inherits SGLANG_CACHE_DIT_FN"),
    "SGLANG_CACHE_DIT_SECONDARY_BN": (None, "inherits SGLANG_CACHE_DIT_BN"),
    "SGLANG_CACHE_DIT_SECONDARY_WARMUP": (None, "inherits SGLANG_CACHE_DIT_WARMUP"),
    "SGLANG_CACHE_DIT_SECONDARY_RDT": (None, "inherits SGLANG_CACHE_DIT_RDT"),
    "SGLANG_CACHE_DIT_SECONDARY_MC": (None, "inherits SGLANG_CACHE_DIT_MC"),
    "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER": (None, "inherits SGLANG_CACHE_DIT_TAYLORSEER"),
    "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER": (None, "inherits SGLANG_CACHE_DIT_TS_ORDER"),
    "SGLANG_CLOUD_STORAGE_TYPE": (None, "unset"),
    "SGLANG_S3_BUCKET_NAME": (None, "unset"),
    "SGLANG_S3_ENDPOINT_URL": (None, "unset"),
    "SGLANG_S3_REGION_NAME": ("us-east-1", "us-east-1"),
    "SGLANG_S3_ACCESS_KEY_ID": (None, "unset"),
    "SGLANG_S3_SECRET_ACCESS_KEY": (None, "unset"),
    "SGLANG_KERNEL_API_LOGLEVEL": (0, "0"),
    "SGLANG_KERNEL_API_LOGDEST": ("stdout", "stdout"),
    "SGLANG_KERNEL_API_DUMP_DIR": ("sglang_kernel_api_dumps", "sglang_kernel_api_dumps"),
    "SGLANG_KERNEL_API_DUMP_INCLUDE": (None, "unset"),
    "SGLANG_KERNEL_API_DUMP_EXCLUDE": (None, "unset"),
}

# name -> [(raw, parsed), ...]: valid values and what they parse to.
VALID: dict[str, list[tuple[str, Any]]] = {
    "SGLANG_DIFFUSION_TARGET_DEVICE": [("rocm", "rocm"), (" cpu ", "cpu")],
    "SGLANG_DIFFUSION_ATTENTION_BACKEND": [("fa3", "fa"), ("FA4", "fa"), ("Torch_SDPA", "torch_sdpa")],
    "SGLANG_DIFFUSION_ATTENTION_CONFIG": [("/etc/attn.yaml", "/etc/attn.yaml"), ("a.JSON", "a.JSON")],
    "SGLANG_DIFFUSION_STAGE_LOGGING": [("ON", True), ("0", False)],
    "SGLANG_DIFFUSION_SERVER_DEV_MODE": [("yes", True), ("False", False)],
    "SGLANG_DIFFUSION_TORCH_PROFILER_DIR": [("/tmp/traces", "/tmp/traces")],
    "SGLANG_DIFFUSION_CACHE_ROOT": [("/data/cache dir", "/data/cache dir"), ("rel/cache", "rel/cache")],
    "SGLANG_DIFFUSION_CONFIG_ROOT": [("/etc/sgl", "/etc/sgl")],
    "SGLANG_DIFFUSION_LOGGING_LEVEL": [("debug", "DEBUG"), ("WARNING", "WARNING")],
    "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD": [("spawn", "spawn")],
    "SGLANG_USE_RUNAI_MODEL_STREAMER": [("off", False), ("TRUE", True)],
    "SGLANG_USE_MLX": [("1", True)],
    "SGLANG_USE_ROCM_VAE": [("1", True)],
    "SGLANG_USE_ROCM_CUDNN_BENCHMARK": [("no", False)],
    "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND": [("flashinfer_trtllm", "flashinfer_trtllm")],
    "SGLANG_CACHE_DIT_ENABLED": [("true", True)],
    "SGLANG_CACHE_DIT_FN": [("0", 0), ("12", 12)],
    "SGLANG_CACHE_DIT_BN": [("+2", 2)],
    "SGLANG_CACHE_DIT_WARMUP": [("8", 8)],
    "SGLANG_CACHE_DIT_RDT": [("0.08", 0.08), ("1e-3", 0.001), ("2", 2.0)],
    "SGLANG_CACHE_DIT_MC": [("0", 0)],
    "SGLANG_CACHE_DIT_TAYLORSEER": [("on", True)],
    "SGLANG_CACHE_DIT_TS_ORDER": [("2", 2)],
    "SGLANG_CACHE_DIT_SCM_PRESET": [("ultra", "ultra")],
    "SGLANG_CACHE_DIT_SCM_POLICY": [("static", "static")],
    "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS": [("8,3,3,2", (8, 3, 3, 2)), ("4, 2", (4, 2))],
    "SGLANG_CACHE_DIT_SCM_CACHE_BINS": [("1", (1,))],
    "SGLANG_CACHE_DIT_SECONDARY_FN": [("3", 3)],
    "SGLANG_CACHE_DIT_SECONDARY_BN": [("1", 1)],
    "SGLANG_CACHE_DIT_SECONDARY_WARMUP": [("0", 0)],
    "SGLANG_CACHE_DIT_SECONDARY_RDT": [("0.5", 0.5)],
    "SGLANG_CACHE_DIT_SECONDARY_MC": [("9", 9)],
    "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER": [("yes", True)],
    "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER": [("1", 1)],
    "SGLANG_CLOUD_STORAGE_TYPE": [("s3", "s3"), ("S3", "s3")],
    "SGLANG_S3_BUCKET_NAME": [("outputs", "outputs"), ("my-bucket.images", "my-bucket.images")],
    "SGLANG_S3_ENDPOINT_URL": [
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("https://s3.example.com/base", "https://s3.example.com/base"),
    ],
    "SGLANG_S3_REGION_NAME": [("eu-central-1", "eu-central-1")],
    "SGLANG_S3_ACCESS_KEY_ID": [("AKIAEXAMPLE", "AKIAEXAMPLE")],
    "SGLANG_S3_SECRET_ACCESS_KEY": [("s3cr3t/Key+value", "s3cr3t/Key+value")],
    "SGLANG_KERNEL_API_LOGLEVEL": [("10", 10), ("3", 3)],
    "SGLANG_KERNEL_API_LOGDEST": [("stderr", "stderr"), ("/tmp/k_%i.log", "/tmp/k_%i.log")],
    "SGLANG_KERNEL_API_DUMP_DIR": [("/tmp/dumps_%i", "/tmp/dumps_%i")],
    "SGLANG_KERNEL_API_DUMP_INCLUDE": [("backend.attention.*,*decode*", ("backend.attention.*", "*decode*"))],
    "SGLANG_KERNEL_API_DUMP_EXCLUDE": [("*norm*", ("*norm*",))],
}

# (name, invalid raw, the exact error message).  At least two per variable.
INVALID: list[tuple[str, str, str]] = [
    (
        "SGLANG_DIFFUSION_TARGET_DEVICE",
        "gpu",
        "SGLANG_DIFFUSION_TARGET_DEVICE='gpu' is not valid (did you mean 'xpu'?); allowed: cuda, rocm, xpu, npu, musa, mps, cpu",
    ),
    (
        "SGLANG_DIFFUSION_TARGET_DEVICE",
        "CUDA",
        "SGLANG_DIFFUSION_TARGET_DEVICE='CUDA' is not valid; allowed: cuda, rocm, xpu, npu, musa, mps, cpu",
    ),
    (
        "SGLANG_DIFFUSION_ATTENTION_BACKEND",
        "flash",
        "SGLANG_DIFFUSION_ATTENTION_BACKEND='flash' is not valid; allowed: fa, torch_sdpa, sliding_tile_attn, sage_attn, sage_attn_3, video_sparse_attn, vmoba_attn, aiter, aiter_sage, sla_attn, sage_sla_attn, sparse_video_gen_2_attn (aliases: fa3=fa, fa4=fa), any case",
    ),
    (
        "SGLANG_DIFFUSION_ATTENTION_BACKEND",
        "sdpa",
        "SGLANG_DIFFUSION_ATTENTION_BACKEND='sdpa' is not valid; allowed: fa, torch_sdpa, sliding_tile_attn, sage_attn, sage_attn_3, video_sparse_attn, vmoba_attn, aiter, aiter_sage, sla_attn, sage_sla_attn, sparse_video_gen_2_attn (aliases: fa3=fa, fa4=fa), any case",
    ),
    (
        "SGLANG_DIFFUSION_ATTENTION_CONFIG",
        "attn.txt",
        "SGLANG_DIFFUSION_ATTENTION_CONFIG='attn.txt' is not valid (unsupported file type); allowed: a path ending in .json/.yaml/.yml",
    ),
    (
        "SGLANG_DIFFUSION_ATTENTION_CONFIG",
        "a\nb.json",
        "SGLANG_DIFFUSION_ATTENTION_CONFIG='a\\nb.json' is not valid (contains a NUL or newline); allowed: a path ending in .json/.yaml/.yml",
    ),
    (
        "SGLANG_DIFFUSION_STAGE_LOGGING",
        "maybe",
        "SGLANG_DIFFUSION_STAGE_LOGGING='maybe' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_STAGE_LOGGING",
        "2",
        "SGLANG_DIFFUSION_STAGE_LOGGING='2' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_SERVER_DEV_MODE",
        "enable",
        "SGLANG_DIFFUSION_SERVER_DEV_MODE='enable' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_SERVER_DEV_MODE",
        "y",
        "SGLANG_DIFFUSION_SERVER_DEV_MODE='y' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_TORCH_PROFILER_DIR",
        "relative/dir",
        "SGLANG_DIFFUSION_TORCH_PROFILER_DIR='relative/dir' is not valid (relative path); allowed: an absolute path",
    ),
    (
        "SGLANG_DIFFUSION_TORCH_PROFILER_DIR",
        "/tmp/a\x00b",
        "SGLANG_DIFFUSION_TORCH_PROFILER_DIR='/tmp/a\\x00b' is not valid (contains a NUL or newline); allowed: an absolute path",
    ),
    (
        "SGLANG_DIFFUSION_CACHE_ROOT",
        "a\x00b",
        "SGLANG_DIFFUSION_CACHE_ROOT='a\\x00b' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_DIFFUSION_CACHE_ROOT",
        "a\nb",
        "SGLANG_DIFFUSION_CACHE_ROOT='a\\nb' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_DIFFUSION_CONFIG_ROOT",
        "a\x00b",
        "SGLANG_DIFFUSION_CONFIG_ROOT='a\\x00b' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_DIFFUSION_CONFIG_ROOT",
        "a\nb",
        "SGLANG_DIFFUSION_CONFIG_ROOT='a\\nb' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_DIFFUSION_LOGGING_LEVEL",
        "VERBOSE",
        "SGLANG_DIFFUSION_LOGGING_LEVEL='VERBOSE' is not valid; allowed: DEBUG, INFO, WARNING, ERROR, CRITICAL, any case",
    ),
    (
        "SGLANG_DIFFUSION_LOGGING_LEVEL",
        "warn",
        "SGLANG_DIFFUSION_LOGGING_LEVEL='warn' is not valid (did you mean 'WARNING'?); allowed: DEBUG, INFO, WARNING, ERROR, CRITICAL, any case",
    ),
    (
        "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD",
        "forkserver",
        "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD='forkserver' is not valid; allowed: fork, spawn",
    ),
    (
        "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD",
        "Spawn",
        "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD='Spawn' is not valid (did you mean 'spawn'?); allowed: fork, spawn",
    ),
    (
        "SGLANG_USE_RUNAI_MODEL_STREAMER",
        "enabled",
        "SGLANG_USE_RUNAI_MODEL_STREAMER='enabled' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_USE_RUNAI_MODEL_STREAMER",
        "tru",
        "SGLANG_USE_RUNAI_MODEL_STREAMER='tru' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    ("SGLANG_USE_MLX", "0", "SGLANG_USE_MLX='0' is not valid; allowed: 1 (or leave unset)"),
    ("SGLANG_USE_MLX", "true", "SGLANG_USE_MLX='true' is not valid; allowed: 1 (or leave unset)"),
    (
        "SGLANG_USE_ROCM_VAE",
        "2",
        "SGLANG_USE_ROCM_VAE='2' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_USE_ROCM_VAE",
        "nope",
        "SGLANG_USE_ROCM_VAE='nope' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_USE_ROCM_CUDNN_BENCHMARK",
        "x",
        "SGLANG_USE_ROCM_CUDNN_BENCHMARK='x' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_USE_ROCM_CUDNN_BENCHMARK",
        "-1",
        "SGLANG_USE_ROCM_CUDNN_BENCHMARK='-1' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND",
        "cutlass",
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND='cutlass' is not valid; allowed: flashinfer_cudnn, flashinfer_cutlass, flashinfer_trtllm",
    ),
    (
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND",
        "flashinfer",
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND='flashinfer' is not valid (did you mean 'flashinfer_cudnn'?); allowed: flashinfer_cudnn, flashinfer_cutlass, flashinfer_trtllm",
    ),
    (
        "SGLANG_CACHE_DIT_ENABLED",
        "enable",
        "SGLANG_CACHE_DIT_ENABLED='enable' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_ENABLED",
        "ja",
        "SGLANG_CACHE_DIT_ENABLED='ja' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_FN",
        "-1",
        "SGLANG_CACHE_DIT_FN='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_FN",
        "1.5",
        "SGLANG_CACHE_DIT_FN='1.5' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_BN",
        "abc",
        "SGLANG_CACHE_DIT_BN='abc' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_BN",
        "-3",
        "SGLANG_CACHE_DIT_BN='-3' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_WARMUP",
        "four",
        "SGLANG_CACHE_DIT_WARMUP='four' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_WARMUP",
        "-1",
        "SGLANG_CACHE_DIT_WARMUP='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "abc",
        "SGLANG_CACHE_DIT_RDT='abc' is not valid (not a number); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "0",
        "SGLANG_CACHE_DIT_RDT='0' is not valid (must be > 0); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "-0.1",
        "SGLANG_CACHE_DIT_RDT='-0.1' is not valid (must be > 0); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "nan",
        "SGLANG_CACHE_DIT_RDT='nan' is not valid (not a finite number); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "inf",
        "SGLANG_CACHE_DIT_RDT='inf' is not valid (not a finite number); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_MC",
        "3.0",
        "SGLANG_CACHE_DIT_MC='3.0' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_MC",
        "-2",
        "SGLANG_CACHE_DIT_MC='-2' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_TAYLORSEER",
        "2",
        "SGLANG_CACHE_DIT_TAYLORSEER='2' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_TAYLORSEER",
        "yesno",
        "SGLANG_CACHE_DIT_TAYLORSEER='yesno' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    ("SGLANG_CACHE_DIT_TS_ORDER", "3", "SGLANG_CACHE_DIT_TS_ORDER='3' is not valid; allowed: one of 1, 2"),
    ("SGLANG_CACHE_DIT_TS_ORDER", "0", "SGLANG_CACHE_DIT_TS_ORDER='0' is not valid; allowed: one of 1, 2"),
    (
        "SGLANG_CACHE_DIT_TS_ORDER",
        "one",
        "SGLANG_CACHE_DIT_TS_ORDER='one' is not valid (not an integer); allowed: one of 1, 2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_PRESET",
        "turbo",
        "SGLANG_CACHE_DIT_SCM_PRESET='turbo' is not valid; allowed: none, slow, medium, fast, ultra",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_PRESET",
        "Fast",
        "SGLANG_CACHE_DIT_SCM_PRESET='Fast' is not valid (did you mean 'fast'?); allowed: none, slow, medium, fast, ultra",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_POLICY",
        "dyn",
        "SGLANG_CACHE_DIT_SCM_POLICY='dyn' is not valid (did you mean 'dynamic'?); allowed: dynamic, static",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_POLICY",
        "auto",
        "SGLANG_CACHE_DIT_SCM_POLICY='auto' is not valid; allowed: dynamic, static",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS",
        "8,0,3",
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS='8,0,3' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS",
        "a,b",
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS='a,b' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS",
        "8,,3",
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS='8,,3' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_CACHE_BINS",
        "-1",
        "SGLANG_CACHE_DIT_SCM_CACHE_BINS='-1' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_CACHE_BINS",
        "1.5",
        "SGLANG_CACHE_DIT_SCM_CACHE_BINS='1.5' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_FN",
        "-1",
        "SGLANG_CACHE_DIT_SECONDARY_FN='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_FN",
        "x",
        "SGLANG_CACHE_DIT_SECONDARY_FN='x' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_BN",
        "-5",
        "SGLANG_CACHE_DIT_SECONDARY_BN='-5' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_BN",
        "1e3",
        "SGLANG_CACHE_DIT_SECONDARY_BN='1e3' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_WARMUP",
        "-1",
        "SGLANG_CACHE_DIT_SECONDARY_WARMUP='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_WARMUP",
        "4.5",
        "SGLANG_CACHE_DIT_SECONDARY_WARMUP='4.5' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_RDT",
        "0",
        "SGLANG_CACHE_DIT_SECONDARY_RDT='0' is not valid (must be > 0); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_RDT",
        "fast",
        "SGLANG_CACHE_DIT_SECONDARY_RDT='fast' is not valid (not a number); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_MC",
        "-1",
        "SGLANG_CACHE_DIT_SECONDARY_MC='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_MC",
        "three",
        "SGLANG_CACHE_DIT_SECONDARY_MC='three' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER",
        "sure",
        "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER='sure' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER",
        "11",
        "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER='11' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER",
        "3",
        "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER='3' is not valid; allowed: one of 1, 2",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER",
        "1.0",
        "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER='1.0' is not valid (not an integer); allowed: one of 1, 2",
    ),
    (
        "SGLANG_CLOUD_STORAGE_TYPE",
        "gcs",
        "SGLANG_CLOUD_STORAGE_TYPE='gcs' is not valid; allowed: s3, any case",
    ),
    ("SGLANG_CLOUD_STORAGE_TYPE", "s4", "SGLANG_CLOUD_STORAGE_TYPE='s4' is not valid; allowed: s3, any case"),
    (
        "SGLANG_S3_BUCKET_NAME",
        "My_Bucket",
        "SGLANG_S3_BUCKET_NAME='My_Bucket' is not valid; allowed: an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens, starting and ending alphanumeric",
    ),
    (
        "SGLANG_S3_BUCKET_NAME",
        "ab",
        "SGLANG_S3_BUCKET_NAME='ab' is not valid; allowed: an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens, starting and ending alphanumeric",
    ),
    (
        "SGLANG_S3_BUCKET_NAME",
        "a..b",
        "SGLANG_S3_BUCKET_NAME='a..b' is not valid; allowed: an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens, starting and ending alphanumeric",
    ),
    (
        "SGLANG_S3_ENDPOINT_URL",
        "ftp://x",
        "SGLANG_S3_ENDPOINT_URL='ftp://x' is not valid; allowed: an http:// or https:// URL, e.g. http://127.0.0.1:9000",
    ),
    (
        "SGLANG_S3_ENDPOINT_URL",
        "localhost:9000",
        "SGLANG_S3_ENDPOINT_URL='localhost:9000' is not valid; allowed: an http:// or https:// URL, e.g. http://127.0.0.1:9000",
    ),
    (
        "SGLANG_S3_REGION_NAME",
        "US-EAST-1",
        "SGLANG_S3_REGION_NAME='US-EAST-1' is not valid; allowed: a region name of lower-case letters, digits and hyphens, e.g. us-east-1",
    ),
    (
        "SGLANG_S3_REGION_NAME",
        "us east",
        "SGLANG_S3_REGION_NAME='us east' is not valid; allowed: a region name of lower-case letters, digits and hyphens, e.g. us-east-1",
    ),
    (
        "SGLANG_S3_ACCESS_KEY_ID",
        "has space",
        "SGLANG_S3_ACCESS_KEY_ID='********' is not valid; allowed: non-empty text without whitespace",
    ),
    (
        "SGLANG_S3_ACCESS_KEY_ID",
        "   ",
        "SGLANG_S3_ACCESS_KEY_ID='********' is not valid; allowed: non-empty text without whitespace",
    ),
    (
        "SGLANG_S3_SECRET_ACCESS_KEY",
        "a b",
        "SGLANG_S3_SECRET_ACCESS_KEY='********' is not valid; allowed: non-empty text without whitespace",
    ),
    (
        "SGLANG_S3_SECRET_ACCESS_KEY",
        "tab\there",
        "SGLANG_S3_SECRET_ACCESS_KEY='********' is not valid; allowed: non-empty text without whitespace",
    ),
    (
        "SGLANG_KERNEL_API_LOGLEVEL",
        "2",
        "SGLANG_KERNEL_API_LOGLEVEL='2' is not valid; allowed: one of 0, 1, 3, 5, 10",
    ),
    (
        "SGLANG_KERNEL_API_LOGLEVEL",
        "debug",
        "SGLANG_KERNEL_API_LOGLEVEL='debug' is not valid (not an integer); allowed: one of 0, 1, 3, 5, 10",
    ),
    (
        "SGLANG_KERNEL_API_LOGDEST",
        "a\x00b",
        "SGLANG_KERNEL_API_LOGDEST='a\\x00b' is not valid (contains a NUL or newline); allowed: stdout, stderr, or a file path (%i becomes the process id)",
    ),
    (
        "SGLANG_KERNEL_API_LOGDEST",
        "x\ny",
        "SGLANG_KERNEL_API_LOGDEST='x\\ny' is not valid (contains a NUL or newline); allowed: stdout, stderr, or a file path (%i becomes the process id)",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_DIR",
        "\x00",
        "SGLANG_KERNEL_API_DUMP_DIR='\\x00' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_DIR",
        "a\nb",
        "SGLANG_KERNEL_API_DUMP_DIR='a\\nb' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_INCLUDE",
        "a,,b",
        "SGLANG_KERNEL_API_DUMP_INCLUDE='a,,b' is not valid (empty pattern); allowed: comma-separated wildcard patterns, e.g. backend.attention.*,*decode*",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_INCLUDE",
        ",",
        "SGLANG_KERNEL_API_DUMP_INCLUDE=',' is not valid (empty pattern); allowed: comma-separated wildcard patterns, e.g. backend.attention.*,*decode*",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_EXCLUDE",
        "x, ",
        "SGLANG_KERNEL_API_DUMP_EXCLUDE='x, ' is not valid (empty pattern); allowed: comma-separated wildcard patterns, e.g. backend.attention.*,*decode*",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_EXCLUDE",
        "*decode*,",
        "SGLANG_KERNEL_API_DUMP_EXCLUDE='*decode*,' is not valid (empty pattern); allowed: comma-separated wildcard patterns, e.g. backend.attention.*,*decode*",
    ),
]

SECONDARY_TWINS = {
    "SGLANG_CACHE_DIT_SECONDARY_FN": ("SGLANG_CACHE_DIT_FN", "7", 7),
    "SGLANG_CACHE_DIT_SECONDARY_BN": ("SGLANG_CACHE_DIT_BN", "2", 2),
    "SGLANG_CACHE_DIT_SECONDARY_WARMUP": ("SGLANG_CACHE_DIT_WARMUP", "6", 6),
    "SGLANG_CACHE_DIT_SECONDARY_RDT": ("SGLANG_CACHE_DIT_RDT", "0.4", 0.4),
    "SGLANG_CACHE_DIT_SECONDARY_MC": ("SGLANG_CACHE_DIT_MC", "5", 5),
    "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER": ("SGLANG_CACHE_DIT_TAYLORSEER", "on", True),
    "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER": ("SGLANG_CACHE_DIT_TS_ORDER", "2", 2),
}

BASE_ENV = {"HOME": "/home/op", envs.STRICT_VAR: "1"}
"""A minimal process environment, so the host's own variables never leak into a test; strict mode."""


def messages(problems: list[envs.Problem]) -> list[str]:
    return [p.line() for p in problems]


# -- the registry against the spec ---------------------------------------------------------


def test_registry_names_equal_spec_names_exactly() -> None:
    names = spec_names()
    assert len(names) == len(set(names)), "a variable appears twice in the spec"
    assert sorted(REGISTRY) == sorted(names)


def test_tables_here_cover_every_variable() -> None:
    assert set(DEFAULTS) == set(REGISTRY)
    assert set(VALID) == set(REGISTRY)
    assert {name for name, _, _ in INVALID} == set(REGISTRY)
    for name in REGISTRY:
        assert sum(1 for n, _, _ in INVALID if n == name) >= 2, name


def test_secrets_are_exactly_the_two_s3_credentials() -> None:
    assert {n for n, v in REGISTRY.items() if v.secret} == {
        "SGLANG_S3_ACCESS_KEY_ID",
        "SGLANG_S3_SECRET_ACCESS_KEY",
    }


def test_platform_only_variables_name_their_platform() -> None:
    assert REGISTRY["SGLANG_USE_MLX"].platforms == ("mps",)
    assert REGISTRY["SGLANG_USE_ROCM_VAE"].platforms == ("rocm",)
    assert REGISTRY["SGLANG_USE_ROCM_CUDNN_BENCHMARK"].platforms == ("rocm",)


# -- one variable at a time ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default(name: str) -> None:
    var = REGISTRY[name]
    typed, shown = DEFAULTS[name]
    assert var.describe_default(BASE_ENV) == shown
    if typed is XDG:
        assert var.default_value(BASE_ENV).startswith("/home/op/.")
        return
    assert var.default_value(BASE_ENV) == typed
    resolved = envs.resolve({}, BASE_ENV)[name]
    assert resolved.raw is None
    assert resolved.source is (Source.INHERITED if var.inherits_from else Source.DEFAULT)
    if not var.inherits_from:
        assert resolved.value == typed


@pytest.mark.parametrize(("name", "raw", "parsed"), [(n, r, p) for n, rows in VALID.items() for r, p in rows])
def test_valid_value(name: str, raw: str, parsed: Any) -> None:
    var = REGISTRY[name]
    assert var.parse(raw) == parsed
    resolved = envs.resolve({name: raw}, BASE_ENV)[name]
    assert (resolved.source, resolved.value, resolved.error) == (Source.SESSION, parsed, None)
    # The canonical text parses back to the same value (what the session file and exports rely on).
    assert var.parse(var.format(parsed)) == parsed


@pytest.mark.parametrize(("name", "raw", "message"), INVALID)
def test_invalid_value_exact_message(name: str, raw: str, message: str) -> None:
    with pytest.raises(EnvError) as info:
        REGISTRY[name].parse(raw)
    assert str(info.value) == message
    assert info.value.name == name


@pytest.mark.parametrize(("name", "raw", "message"), INVALID)
def test_invalid_value_is_an_error_in_check_and_falls_back(name: str, raw: str, message: str) -> None:
    resolved = envs.resolve({name: raw}, BASE_ENV)[name]
    assert resolved.error == message
    assert resolved.source is Source.SESSION
    errors = [p for p in envs.check({name: raw}, BASE_ENV, CUDA_HOST) if p.is_error]
    assert any(p.message == message and p.names == (name,) for p in errors)


def test_load_settings_raises_the_same_exact_message() -> None:
    with pytest.raises(EnvError, match=r"^SGLANG_CACHE_DIT_RDT='abc' is not valid \(not a number\)"):
        envs.load_settings({**BASE_ENV, "SGLANG_CACHE_DIT_RDT": "abc"})


@pytest.mark.parametrize("name", sorted(n for n, v in REGISTRY.items() if v.secret))
def test_secret_never_in_error_or_display(name: str) -> None:
    raw = "leaky secret value"
    with pytest.raises(EnvError) as info:
        REGISTRY[name].parse(raw)
    assert "leaky" not in str(info.value)
    assert REGISTRY[name].display("AKIAREALSECRET") == "********"
    rows = envs.to_json_safe(envs.resolve({name: "AKIAREALSECRET"}, BASE_ENV))
    assert "AKIAREALSECRET" not in repr(rows)
    assert "AKIAREALSECRET" not in repr(envs.check({name: raw}, BASE_ENV, CUDA_HOST))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_empty_string_means_unset_with_a_warning(name: str) -> None:
    for session, environ in (({name: ""}, BASE_ENV), ({}, {**BASE_ENV, name: ""})):
        resolved = envs.resolve(session, environ)[name]
        assert resolved.raw is None
        assert resolved.source in (Source.DEFAULT, Source.INHERITED)
        assert resolved.error is None
        problems = envs.check(session, environ, CUDA_HOST)
        assert f"warning: {name} is set but empty; treated as unset" in messages(problems)
        assert not [p for p in problems if p.is_error and name in p.names]


def test_empty_session_value_does_not_hide_the_environment() -> None:
    resolved = envs.resolve({"SGLANG_CACHE_DIT_FN": ""}, {**BASE_ENV, "SGLANG_CACHE_DIT_FN": "6"})
    assert (resolved["SGLANG_CACHE_DIT_FN"].source, resolved["SGLANG_CACHE_DIT_FN"].value) == (
        Source.ENVIRONMENT,
        6,
    )


def test_session_wins_over_environment() -> None:
    resolved = envs.resolve({"SGLANG_CACHE_DIT_MC": "1"}, {**BASE_ENV, "SGLANG_CACHE_DIT_MC": "9"})
    assert (resolved["SGLANG_CACHE_DIT_MC"].source, resolved["SGLANG_CACHE_DIT_MC"].value) == (
        Source.SESSION,
        1,
    )


def test_too_many_digits_is_an_env_error_not_a_value_error() -> None:
    digits = "9" * 5000
    for name in ("SGLANG_CACHE_DIT_FN", "SGLANG_KERNEL_API_LOGLEVEL", "SGLANG_CACHE_DIT_SCM_CACHE_BINS"):
        with pytest.raises(EnvError) as info:
            REGISTRY[name].parse(digits)
        assert str(info.value).startswith(f"{name}=")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_nul_is_refused_by_every_variable(name: str) -> None:
    """No environment variable can carry a NUL: every kind must refuse it, not only paths."""
    good = VALID[name][0][0]
    with pytest.raises(EnvError) as info:
        REGISTRY[name].parse(good + "\0")
    assert str(info.value).startswith(f"{name}=")


# -- secondary transformer: inherits its primary twin --------------------------------------


@pytest.mark.parametrize("secondary", sorted(SECONDARY_TWINS))
def test_secondary_inherits_primary(secondary: str) -> None:
    primary, raw, value = SECONDARY_TWINS[secondary]
    assert REGISTRY[secondary].inherits_from == primary
    assert REGISTRY[secondary].kind == REGISTRY[primary].kind
    # unset primary: the secondary shows the primary's default, as inherited
    r = envs.resolve({}, BASE_ENV)[secondary]
    assert (r.source, r.value) == (Source.INHERITED, DEFAULTS[primary][0])
    # primary set in the session or in the environment: inherited
    for session, environ in (({primary: raw}, BASE_ENV), ({}, {**BASE_ENV, primary: raw})):
        r = envs.resolve(session, environ)[secondary]
        assert (r.source, r.value, r.raw) == (Source.INHERITED, value, None)
    # an explicit secondary value overrides the primary
    explicit = VALID[secondary][0]
    r = envs.resolve({primary: raw, secondary: explicit[0]}, BASE_ENV)[secondary]
    assert (r.source, r.value) == (Source.SESSION, explicit[1])


def test_secondary_inherits_the_default_when_the_primary_is_invalid() -> None:
    r = envs.resolve({"SGLANG_CACHE_DIT_RDT": "abc"}, BASE_ENV)["SGLANG_CACHE_DIT_SECONDARY_RDT"]
    assert (r.source, r.value) == (Source.INHERITED, 0.24)


# -- XDG-derived defaults --------------------------------------------------------------------


def test_xdg_defaults() -> None:
    cache, config = REGISTRY["SGLANG_DIFFUSION_CACHE_ROOT"], REGISTRY["SGLANG_DIFFUSION_CONFIG_ROOT"]
    assert cache.default_value({"HOME": "/h"}) == "/h/.cache/sgl_diffusion"
    assert config.default_value({"HOME": "/h"}) == "/h/.config/sgl_diffusion"
    assert cache.default_value({"HOME": "/h", "XDG_CACHE_HOME": "/x/c"}) == "/x/c/sgl_diffusion"
    assert config.default_value({"HOME": "/h", "XDG_CONFIG_HOME": "/x/g"}) == "/x/g/sgl_diffusion"
    # an empty XDG variable counts as unset (SGLang would build a relative path)
    assert config.default_value({"HOME": "/h", "XDG_CONFIG_HOME": ""}) == "/h/.config/sgl_diffusion"


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


# -- generated outputs -----------------------------------------------------------------------


def test_docs_table_has_one_row_per_variable() -> None:
    lines = envs.docs_table().splitlines()
    assert lines[0] == "| variable | pane | allowed | default | meaning | from |"
    assert [line.split(" | ")[0].lstrip("| ") for line in lines[2:]] == list(REGISTRY)
    caching = envs.docs_table(envs.Pane.CACHING).splitlines()[2:]
    assert len(caching) == len(envs.by_pane(envs.Pane.CACHING)) == 19


# -- property: any string is accepted or refused with a message naming the variable -----------


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(REGISTRY)), raw=st.text(max_size=40))
def test_any_string_is_accepted_or_refused_with_an_env_error(name: str, raw: str) -> None:
    var = REGISTRY[name]
    try:
        var.parse(raw)
    except EnvError as exc:
        assert exc.name == name
        assert str(exc).startswith(f"{name}=")
    resolved = envs.resolve({name: raw}, BASE_ENV)[name]  # never raises either
    assert resolved.var is var


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(REGISTRY)),
       raw=st.one_of(st.from_regex(r"[+-]?\d{1,30}(\.\d{0,5})?([eE][+-]?\d{1,4})?", fullmatch=True),
                     st.from_regex(r"[ ,0-9a-zA-Z_*.:/%-]{0,30}", fullmatch=True)))
def test_number_and_list_shaped_strings_never_raise_anything_else(name: str, raw: str) -> None:
    try:
        REGISTRY[name].parse(raw)
    except EnvError as exc:
        assert str(exc).startswith(f"{name}=")


def test_cache_root_is_resolved_in_one_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set: as given, ``~`` expanded; unset: the XDG default of the environment passed, not the process's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert envs.cache_root({"SGLANG_DIFFUSION_CACHE_ROOT": str(tmp_path / "c")}) == str(tmp_path / "c")
    assert envs.cache_root({"SGLANG_DIFFUSION_CACHE_ROOT": "~/runs"}) == str(tmp_path / "home" / "runs")
    assert envs.cache_root({"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == str(tmp_path / "xdg" / "sgl_diffusion")


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
