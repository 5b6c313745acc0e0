"""Which torch device the backend runs on (``SGLANG_DIFFUSION_TARGET_DEVICE``).

Unset: cuda where present (ROCm builds of torch count: they speak ``cuda``), else the best device
found in the order mps, xpu, npu, musa, cpu, and the choice is logged so the README's first command
works on a CPU-only machine.  Set to a device this host does not have: one clear error line and
``ExitCode.DEVICE_UNAVAILABLE``, never a traceback.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import torch

from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import get_logger
from backend.records.worker_lines import worker_placed_message

log = get_logger("device")
AUTO_ORDER = ("cuda", "mps", "xpu", "npu", "musa", "cpu")


@dataclass(frozen=True)
class DeviceChoice:
    name: str
    """The platform name (``cuda``, ``rocm``, ``mps``, ...)."""
    device: torch.device
    reason: str

    @property
    def is_rocm(self) -> bool:
        return self.device.type == "cuda" and bool(getattr(torch.version, "hip", None))


def _plugin_available(module: str, attr: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    backend = getattr(torch, attr, None)
    return bool(backend is not None and backend.is_available())


def probe(name: str) -> tuple[torch.device | None, str]:
    """``(device, "")`` when ``name`` is usable here, else ``(None, why not)``."""
    if name == "cpu":
        return torch.device("cpu"), ""
    if name in ("cuda", "rocm"):
        if not torch.cuda.is_available():
            hip = getattr(torch.version, "hip", None)
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else f"ROCm {hip}" if hip else "CPU only"
            return None, f"torch.cuda.is_available() is False (torch {torch.__version__}, {build})"
        if name == "rocm" and not getattr(torch.version, "hip", None):
            return None, f"torch {torch.__version__} is a CUDA build, not ROCm"
        return torch.device("cuda", torch.cuda.current_device()), ""
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps"), ""
        return None, "torch.backends.mps.is_available() is False (Apple silicon only)"
    if name == "xpu":
        xpu = getattr(torch, "xpu", None)
        if xpu is not None and xpu.is_available():
            return torch.device("xpu"), ""
        return None, "torch.xpu.is_available() is False"
    if name == "npu":
        if _plugin_available("torch_npu", "npu"):
            return torch.device("npu"), ""
        return None, "torch_npu is not installed or sees no NPU"
    if name == "musa":
        if _plugin_available("torch_musa", "musa"):
            return torch.device("musa"), ""
        return None, "torch_musa is not installed or sees no MUSA GPU"
    return None, f"unknown device {name!r}"


def pick_device(requested: str | None) -> DeviceChoice:
    """Resolve the target device and log the choice.

    Raises:
        BackendError: ``DEVICE_UNAVAILABLE`` when ``requested`` is not usable on this host.
    """
    if requested:
        device, why = probe(requested)
        if device is None:
            raise BackendError(
                ExitCode.DEVICE_UNAVAILABLE,
                f"SGLANG_DIFFUSION_TARGET_DEVICE={requested} but this host has no usable {requested} device: {why}")
        choice = DeviceChoice(requested, device, "SGLANG_DIFFUSION_TARGET_DEVICE")
    else:
        skipped = []
        for name in AUTO_ORDER:
            device, why = probe(name)
            if device is not None:
                break
            skipped.append(name)
        assert device is not None  # cpu always probes
        reason = "SGLANG_DIFFUSION_TARGET_DEVICE unset"
        if skipped:
            reason += f"; no {'/'.join(skipped)} here"
        choice = DeviceChoice(name if not (name == "cuda" and torch.version.hip) else "rocm", device, reason)
    log.info("Target device: %s (%s; %s)", choice.device, choice.reason, describe(choice.device))
    return choice


def worker_device(device: torch.device, rank: int, visible: int) -> torch.device:
    """Where worker ``rank`` runs: ``cuda:rank`` (wrapping round) when ``visible`` CUDA devices are more
    than one (``torch.cuda.device_count()``, which honours ``CUDA_VISIBLE_DEVICES``), else ``device``."""
    if device.type != "cuda" or visible < 2:
        return device
    return torch.device("cuda", rank % visible)


def place_worker(choice: DeviceChoice, rank: int, workers: int) -> DeviceChoice:
    """``choice`` for worker ``rank`` of ``workers``: on its own GPU when there are enough, said in one line."""
    visible = torch.cuda.device_count() if choice.device.type == "cuda" else 0
    device = worker_device(choice.device, rank, visible)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # the worker's default CUDA device: its allocations and kernels go there
    where = f"{visible} visible GPU(s)" if choice.device.type == "cuda" else choice.reason
    log.info(worker_placed_message(rank, workers, os.getpid(), str(device), f"{describe(device)}; {where}"))
    return DeviceChoice(choice.name, device, choice.reason)


def describe(device: torch.device) -> str:
    """A short human description of the device (GPU name, or the CPU thread count)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"{torch.get_num_threads()} CPU threads"
    return device.type


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA/ROCm where supported (flash kernels need a 16-bit dtype), else fp16; fp32 elsewhere."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so wall-clock stage and step timings are true."""
    mod = getattr(torch, device.type, None)
    sync = getattr(mod, "synchronize", None) if device.type != "cpu" else None
    if sync is not None:
        sync()
