"""Platform and quantization variables: applied where the platform exists, explained where it does not.

* ``SGLANG_USE_ROCM_CUDNN_BENCHMARK`` (ROCm): ``torch.backends.cudnn.benchmark = True`` (MIOpen auto-tunes
  the VAE convolutions), as SGLang's ``RocmPlatform.optimize_vae``.
* ``SGLANG_USE_ROCM_VAE`` (ROCm): the VAE's ``nn.GroupNorm`` modules become AITer ``GroupNorm``; any
  failure (AITer missing) only warns, as in SGLang.
* ``SGLANG_USE_MLX`` (MPS): reported; the bundled backend's norms run as torch MPS kernels (no MLX
  path is wired in, and none can be tested without Apple hardware).
* ``SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND``: validated by the registry and reported; it acts only on
  NVFP4-quantized weights, which the bundled model does not have.

Elsewhere: one startup line per *set* variable saying it has no effect here and why.
"""

from __future__ import annotations

from typing import Any

import torch

from backend import envs
from backend.logging_setup import get_logger
from backend.pipeline.device import DeviceChoice

log = get_logger("platform")


def _host(choice: DeviceChoice) -> str:
    if choice.is_rocm:
        return f"ROCm {torch.version.hip} on {choice.device}"
    if choice.device.type == "cuda":
        return f"CUDA {torch.version.cuda} on {choice.device}"
    return f"{choice.device.type} (torch {torch.__version__})"


def has_nvfp4_weights(pipe: Any) -> bool:
    """True when any component holds packed FP4 tensors (``float4_e2m1fn_x2``) or NVFP4 scale tensors."""
    for comp in getattr(pipe, "components", {}).values():
        if not isinstance(comp, torch.nn.Module):
            continue
        for name, tensor in comp.state_dict().items():
            if "float4" in str(tensor.dtype) or name.endswith(("weight_scale_2", "input_scale")):
                return True
    return False


def _swap_groupnorm(vae: Any) -> int:
    from aiter.ops.groupnorm import GroupNorm as AiterGroupNorm

    count = 0
    for parent in list(vae.modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) is torch.nn.GroupNorm:
                new = AiterGroupNorm(child.num_groups, child.num_channels, eps=child.eps, affine=child.affine)
                if child.affine:
                    new.load_state_dict(child.state_dict())
                setattr(parent, child_name, new.to(child.weight.device, child.weight.dtype))
                count += 1
    return count


def apply(settings: envs.Settings, choice: DeviceChoice, pipe: Any) -> list[str]:
    """Apply or explain every set platform variable; returns the lines logged (for tests/dev mode)."""
    lines: list[tuple[int, str]] = []
    host = _host(choice)

    def say(msg: str, level: int = 20) -> None:
        lines.append((level, msg))

    if settings.is_set(envs.USE_ROCM_CUDNN_BENCHMARK):
        name = envs.USE_ROCM_CUDNN_BENCHMARK.name
        if not settings[envs.USE_ROCM_CUDNN_BENCHMARK]:
            say(f"{name}=false: MIOpen auto-tuning stays off")
        elif choice.is_rocm:
            if not torch.backends.cudnn.benchmark:
                torch.backends.cudnn.benchmark = True
            say("Enabled cudnn.benchmark (MIOpen auto-tuning) for VAE conv layers")
        else:
            say(f"{name} has no effect here: it tunes MIOpen convolutions on ROCm, and this host runs {host}", 30)
    if settings.is_set(envs.USE_ROCM_VAE):
        name = envs.USE_ROCM_VAE.name
        if not settings[envs.USE_ROCM_VAE]:
            say(f"{name}=false: the VAE keeps torch GroupNorm")
        elif choice.is_rocm and getattr(pipe, "vae", None) is not None:
            try:
                count = _swap_groupnorm(pipe.vae)
            except Exception as exc:  # noqa: BLE001 - SGLang only warns here too
                say(f"{name}: could not swap the VAE GroupNorm for AITer ({type(exc).__name__}: {exc}); "
                    "keeping torch GroupNorm", 30)
            else:
                say(f"Replaced {count} nn.GroupNorm modules with AITer GroupNorm in VAE")
        else:
            say(f"{name} has no effect here: AITer GroupNorm needs ROCm, and this host runs {host}", 30)
    if settings.is_set(envs.USE_MLX):
        name = envs.USE_MLX.name
        if choice.device.type == "mps":
            say(f"{name}=1 has no effect in the bundled backend: its norm layers run as torch MPS kernels "
                "(the MLX fused norm path exists only in SGLang's own models)", 30)
        else:
            say(f"{name} has no effect here: MLX kernels need Apple MPS, and this host runs {host}", 30)
    if settings.is_set(envs.FLASHINFER_FP4_GEMM_BACKEND):
        name, value = envs.FLASHINFER_FP4_GEMM_BACKEND.name, settings[envs.FLASHINFER_FP4_GEMM_BACKEND]
        why = []
        if not has_nvfp4_weights(pipe):
            why.append("this model has none")
        if choice.device.type != "cuda" or choice.is_rocm:
            why.append(f"and FlashInfer FP4 GEMMs need NVIDIA CUDA, this host runs {host}")
        if why:
            say(f"{name}={value} is valid but has no effect: it acts only on NVFP4-quantized weights; "
                + " ".join(why), 30)
        else:
            say(f"{name}={value}: NVFP4 weights found, but the bundled backend has no NVFP4 GEMM path; "
                "they run dequantized", 30)
    for level, msg in lines:
        log.log(level, msg)
    return [m for _, m in lines]
