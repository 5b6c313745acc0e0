"""tui.gpu: NVML sampling, peaks and the crash-report lines.

The absent path is real: this machine has no NVIDIA driver, so NVML really fails to load.  The
present path needs a GPU, which cannot exist here: ``FakeNvml`` stands in for ``pynvml`` (named
as such), scripted with the shapes NVML returns; the real path is proven on the lent H200
(``scripts/gpu_view_device.py``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tui.gpu import ABSENT_LINE, GpuSampler, NvmlAbsent, report_lines

MIB = 2**20


def _nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:
        return False


@pytest.mark.skipif(_nvml_works(), reason="this machine has an NVIDIA driver: the absent path cannot be shown")
def test_absent_nvml_is_one_line_and_said_once() -> None:
    sampler = GpuSampler()
    with pytest.raises(NvmlAbsent) as first:
        sampler.sample()
    assert str(first.value).startswith(ABSENT_LINE + " (NVML: ")
    assert sampler.absent == str(first.value)
    with pytest.raises(NvmlAbsent) as again:  # no second attempt at loading the library
        sampler.sample([1])
    assert str(again.value) == str(first.value)
    assert sampler.memory_record() is None


class FakeNvml:
    """Stand-in for ``pynvml`` (no GPU can exist on this machine): one device whose memory and
    processes follow a script, one entry per sample."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, script: list[tuple[int, list[tuple[int, int | None]]]]) -> None:
        self.script = script
        self.step = -1
        self.shutdown = False

    def nvmlInit(self) -> None:
        self.step = -1

    def nvmlShutdown(self) -> None:
        self.shutdown = True

    def nvmlDeviceGetCount(self) -> int:
        self.step += 1
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA H200"

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(used=self.script[self.step][0], total=143771 * MIB)

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return SimpleNamespace(gpu=97)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return 41

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return 412_000

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")  # some boards do not say: shown as '?'

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in self.script[self.step][1]]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: int) -> list[Any]:
        return []


def test_sample_marks_the_run_and_keeps_peaks() -> None:
    nvml = FakeNvml([(1000 * MIB, [(10, 900 * MIB), (99, 50 * MIB)]),
                     (9000 * MIB, [(10, 8900 * MIB), (99, 50 * MIB)]),
                     (2000 * MIB, [(99, 50 * MIB)])])
    sampler = GpuSampler(nvml)
    first = sampler.sample([10, 11])
    assert [(p.pid, p.in_run) for p in first.processes] == [(10, True), (99, False)]
    d = first.devices[0]
    assert (d.name, d.utilization, d.temperature, d.power_watts, d.power_limit_watts) == \
        ("NVIDIA H200", 97, 41, 412.0, None)
    sampler.sample([10, 11])
    sampler.sample([10, 11])  # pid 10 died: the last sample no longer has it
    record = sampler.memory_record()
    assert record is not None
    assert record.devices == [{"index": 0, "name": "NVIDIA H200", "used_mib": 2000.0, "total_mib": 143771.0,
                               "peak_used_mib": 9000.0}]
    assert record.processes == [{"pid": 10, "device": 0, "used_mib": None, "peak_used_mib": 8900.0}]
    sampler.reset_peaks()
    assert sampler.memory_record().devices[0]["peak_used_mib"] == 2000.0  # type: ignore[union-attr]
    sampler.close()
    assert nvml.shutdown


def test_report_lines_peak_only_for_oom() -> None:
    record = {"devices": [{"index": 0, "name": "NVIDIA H200", "used_mib": 2000.0, "total_mib": 143771.0,
                           "peak_used_mib": 140000.0}],
              "processes": [{"pid": 10, "device": 0, "used_mib": None, "peak_used_mib": 139000.0}]}
    plain = report_lines(record, oom=False)
    assert plain == ["GPU memory at the time of death (last sample):",
                     "  GPU 0 NVIDIA H200: 2000.0 / 143771.0 MiB", "  pid 10 on GPU 0: gone"]
    oom = report_lines(record, oom=True)
    assert oom[:3] == plain
    assert "  GPU 0: peak 140000.0 / 143771.0 MiB" in oom and "  pid 10 on GPU 0: peak 139000.0 MiB" in oom
    assert report_lines(None, oom=True) == []
