"""Which accelerator platforms this host has, found without importing torch.

Why not torch: the console must start in well under a second and never imports torch;
it still needs to mark platform-only fields "no effect on this host" and show which
devices are present.  The backend, which has torch, confirms the choice at startup.
"""

from __future__ import annotations

import glob
import os
import platform
import shutil
import sys
from functools import lru_cache

PLATFORM_NAMES = ("cuda", "rocm", "xpu", "npu", "musa", "mps", "cpu")


def _has_cuda() -> bool:
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/proc/driver/nvidia/version")


def _has_rocm() -> bool:
    return os.path.exists("/dev/kfd") and (os.path.isdir("/opt/rocm") or shutil.which("rocm-smi") is not None)


def _has_xpu() -> bool:
    return bool(glob.glob("/sys/class/drm/card*/device/driver")) and any(
        "i915" in os.path.realpath(p) or "xe" == os.path.basename(os.path.realpath(p))
        for p in glob.glob("/sys/class/drm/card*/device/driver")
    )


def _has_npu() -> bool:
    return bool(glob.glob("/dev/davinci[0-9]*"))


def _has_musa() -> bool:
    return bool(glob.glob("/dev/mtgpu*")) or bool(glob.glob("/dev/musa*"))


def _has_mps() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


@lru_cache(maxsize=1)
def detect_host_platforms() -> frozenset[str]:
    """The platforms present on this host; ``cpu`` is always there.

    Set ``SGL_CONSOLE_PLATFORMS=cuda,cpu`` to override (tests, or a console
    configuring a remote host's session).
    """
    override = os.environ.get("SGL_CONSOLE_PLATFORMS")
    if override:
        return frozenset(p.strip() for p in override.split(",") if p.strip()) | {"cpu"}
    probes = {"cuda": _has_cuda, "rocm": _has_rocm, "xpu": _has_xpu, "npu": _has_npu,
              "musa": _has_musa, "mps": _has_mps}
    found = {name for name, probe in probes.items() if probe()}
    return frozenset(found | {"cpu"})
