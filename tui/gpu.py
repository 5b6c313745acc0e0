"""GPU samples through NVML (``nvidia-ml-py``): per device memory, utilisation, temperature and
power, and the GPU memory of each process of the run.

Why NVML and not ``nvidia-smi``: one library call per figure, no subprocess per sample, so a
1–2 Hz refresh costs nothing the run would notice.  ``pynvml`` is imported on the first sample,
in the sampler's thread, never at console start.  Where NVML is absent (no driver, no GPU: this
development machine) the sampler says so once, in one line, and samples nothing more.

The sampler keeps the last sample and the peak memory (per device and per process) since the
run started: the crash report shows the GPU memory at the time of death and, for an
out-of-memory end, the peak.  Imports neither textual nor rich.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

ABSENT_LINE = "no NVIDIA GPU here"


@dataclass(frozen=True)
class DeviceSample:
    """One GPU at one moment.  ``None`` where the driver would not tell (e.g. power on some boards)."""

    index: int
    name: str
    memory_used: int
    """Bytes."""
    memory_total: int
    utilization: int | None
    """Percent of the last sample period with a kernel running."""
    temperature: int | None
    """Degrees Celsius."""
    power_watts: float | None
    power_limit_watts: float | None


@dataclass(frozen=True)
class GpuProcess:
    """A process holding memory on a GPU; ``in_run`` when it belongs to the watched run."""

    pid: int
    device: int
    memory_used: int | None
    """Bytes; None where NVML cannot tell (no permission, some MIG setups)."""
    in_run: bool


@dataclass(frozen=True)
class GpuSample:
    time: float
    devices: tuple[DeviceSample, ...]
    processes: tuple[GpuProcess, ...]

    def run_processes(self) -> tuple[GpuProcess, ...]:
        return tuple(p for p in self.processes if p.in_run)


@dataclass
class GpuMemoryRecord:
    """What the crash report needs: the last sample and the peaks, in MiB (JSON-friendly)."""

    sampled_at: float
    devices: list[dict[str, Any]] = field(default_factory=list)
    """``index``, ``name``, ``used_mib``, ``total_mib``, ``peak_used_mib``."""
    processes: list[dict[str, Any]] = field(default_factory=list)
    """``pid``, ``device``, ``used_mib``, ``peak_used_mib`` (the run's processes only)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mib(n: int | None) -> float | None:
    return None if n is None else round(n / 2**20, 1)


class NvmlAbsent(RuntimeError):
    """NVML cannot be used here; the message is the one line the Process view shows."""


class GpuSampler:
    """Samples every GPU through NVML; thread-safe (one worker samples, the UI reads)."""

    def __init__(self, nvml: Any = None) -> None:
        """Args:
            nvml: the ``pynvml`` module; imported on the first sample when None.
        """
        self._nvml = nvml
        self._ready = False
        self._absent: str | None = None
        self._lock = threading.Lock()
        self.last: GpuSample | None = None
        self._peak_device: dict[int, int] = {}
        self._peak_process: dict[tuple[int, int], int] = {}

    # ---- NVML -------------------------------------------------------------------------------
    def probe(self) -> str | None:
        """The one absent line when the NVML library cannot even be loaded (about a millisecond:
        no ``pynvml`` import), else None.  Lets a view say "no NVIDIA GPU here" at once."""
        if self._absent is None and self._nvml is None and not self._ready:
            reason = nvml_library_missing()
            if reason is not None:
                self._absent = f"{ABSENT_LINE} (NVML: {reason})"
        return self._absent

    def _init(self) -> Any:
        if self.probe() is not None:
            raise NvmlAbsent(str(self._absent))
        if self._ready:
            return self._nvml
        try:
            if self._nvml is None:
                import pynvml

                self._nvml = pynvml
            self._nvml.nvmlInit()
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded...
            self._absent = f"{ABSENT_LINE} (NVML: {_reason(exc)})"
            raise NvmlAbsent(self._absent) from exc
        self._ready = True
        return self._nvml

    @property
    def absent(self) -> str | None:
        """The one line to show when NVML is absent (after the first sample tried), else None."""
        return self._absent

    def sample(self, run_pids: Iterable[int] = ()) -> GpuSample:
        """One sample of every device and of the processes on them.

        Raises:
            NvmlAbsent: NVML is not usable here (said once; every later call raises it at once).
        """
        nvml = self._init()
        pids = set(run_pids)
        devices: list[DeviceSample] = []
        procs: list[GpuProcess] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            devices.append(DeviceSample(
                index, _text(_maybe(nvml.nvmlDeviceGetName, handle)) or f"GPU {index}",
                int(memory.used), int(memory.total),
                _maybe(lambda h: int(nvml.nvmlDeviceGetUtilizationRates(h).gpu), handle),
                _maybe(lambda h: int(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)), handle),
                _maybe(lambda h: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0, handle),
                _maybe(lambda h: nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0, handle),
            ))
            seen: set[int] = set()
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                for info in _maybe(getattr(nvml, getter), handle) or ():
                    pid = int(info.pid)
                    if pid in seen:
                        continue
                    seen.add(pid)
                    used = getattr(info, "usedGpuMemory", None)
                    procs.append(GpuProcess(pid, index, int(used) if used is not None else None, pid in pids))
        result = GpuSample(time.time(), tuple(devices), tuple(procs))
        with self._lock:
            self.last = result
            for d in result.devices:
                self._peak_device[d.index] = max(self._peak_device.get(d.index, 0), d.memory_used)
            for p in result.run_processes():
                if p.memory_used is not None:
                    key = (p.pid, p.device)
                    self._peak_process[key] = max(self._peak_process.get(key, 0), p.memory_used)
        return result

    def reset_peaks(self) -> None:
        """A new run starts: peaks count from now."""
        with self._lock:
            self._peak_device.clear()
            self._peak_process.clear()

    def memory_record(self) -> GpuMemoryRecord | None:
        """The last sample with the peaks since the run started; None before any sample."""
        with self._lock:
            last = self.last
            if last is None:
                return None
            record = GpuMemoryRecord(sampled_at=last.time)
            for d in last.devices:
                record.devices.append({"index": d.index, "name": d.name, "used_mib": mib(d.memory_used),
                                       "total_mib": mib(d.memory_total),
                                       "peak_used_mib": mib(self._peak_device.get(d.index, d.memory_used))})
            known = {(p.pid, p.device): p for p in last.run_processes()}
            for (pid, device), peak in sorted(self._peak_process.items()):
                now = known.get((pid, device))
                record.processes.append({"pid": pid, "device": device,
                                         "used_mib": mib(now.memory_used) if now is not None else None,
                                         "peak_used_mib": mib(peak)})
            return record

    def close(self) -> None:
        if self._ready:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # shutting down: nothing to tell anyone
                pass
            self._ready = False


def nvml_library_missing() -> str | None:
    """Why NVML's shared library cannot be loaded here (no driver), or None when it can."""
    import ctypes
    import sys

    name = "nvml.dll" if sys.platform == "win32" else "libnvidia-ml.so.1"
    try:
        ctypes.CDLL(name)
    except OSError:
        return f"{name} not found"
    return None


def report_lines(record: dict[str, Any] | None, oom: bool) -> list[str]:
    """Crash-report lines for a :class:`GpuMemoryRecord` dict: memory at death, the peak for an OOM."""
    if not record:
        return []
    out = ["GPU memory at the time of death (last sample):"]
    for d in record.get("devices", []):
        out.append(f"  GPU {d['index']} {d['name']}: {d['used_mib']} / {d['total_mib']} MiB")
    for p in record.get("processes", []):
        now = "gone" if p.get("used_mib") is None else f"{p['used_mib']} MiB"
        out.append(f"  pid {p['pid']} on GPU {p['device']}: {now}")
    if oom:
        out.append("GPU memory peak during the run (out of memory):")
        for d in record.get("devices", []):
            out.append(f"  GPU {d['index']}: peak {d['peak_used_mib']} / {d['total_mib']} MiB")
        for p in record.get("processes", []):
            out.append(f"  pid {p['pid']} on GPU {p['device']}: peak {p['peak_used_mib']} MiB")
    return out


def _maybe(fn: Any, *args: Any) -> Any:
    """One NVML figure, or None where this board or driver does not support it."""
    try:
        return fn(*args)
    except Exception:  # NVMLError_NotSupported, NoPermission...: the figure is unknown, not fatal
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
