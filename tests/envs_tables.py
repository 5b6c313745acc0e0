"""The registry's expected values, written out by hand from ``shared/spec/env-vars.md``: defaults,
valid values and what they parse to, the secondary twins; plus the spec's variable names.

Why by hand: a table derived from the registry would only test the registry against itself.
The invalid values and their exact messages are in ``envs_invalid_values.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from backend import envs

SPEC = Path(__file__).resolve().parent / "data" / "spec" / "env-vars.md"
"""A copy of the spec kept with the tests, so the spec test runs in every checkout."""
SHARED_SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "env-vars.md"
"""The original, beside the checkout where there is one."""

XDG = object()
"""Marker: the default is an XDG-derived path (tested separately)."""

CPU_ONLY = frozenset({"cpu"})
CUDA_HOST = frozenset({"cuda", "cpu"})


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
    """Each problem as ``env check`` prints it."""
    return [p.line() for p in problems]
