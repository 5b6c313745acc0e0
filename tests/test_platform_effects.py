"""backend.pipeline.platform_effects: one line per set platform variable, applied only where the platform exists."""

from __future__ import annotations

import torch

from backend import envs
from backend.models.shapes_pipeline import build_untrained_pipeline
from backend.pipeline import platform_effects
from backend.pipeline.device import DeviceChoice


def test_no_effect_lines_on_a_cpu_host() -> None:
    settings = envs.load_settings({
        "SGLANG_USE_MLX": "1", "SGLANG_USE_ROCM_VAE": "true", "SGLANG_USE_ROCM_CUDNN_BENCHMARK": "false",
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND": "flashinfer_cutlass",
    })
    lines = platform_effects.apply(settings, DeviceChoice("cpu", torch.device("cpu"), "test"),
                                   build_untrained_pipeline(seed=0))
    assert len(lines) == 4
    assert any(line.startswith("SGLANG_USE_MLX has no effect here") for line in lines)
    assert any(line.startswith("SGLANG_USE_ROCM_VAE has no effect here") for line in lines)
    assert any("SGLANG_USE_ROCM_CUDNN_BENCHMARK=false" in line for line in lines)
    assert any("acts only on NVFP4-quantized weights; this model has none" in line for line in lines)
    assert torch.backends.cudnn.benchmark is False


def test_unset_variables_say_nothing() -> None:
    settings = envs.load_settings({})
    assert platform_effects.apply(settings, DeviceChoice("cpu", torch.device("cpu"), "test"), None) == []
