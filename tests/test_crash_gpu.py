"""The crash report's GPU part: memory at death always (when sampled), the peak for an OOM."""

from __future__ import annotations

from tui.crash_report import CrashReport

RECORD = {"sampled_at": 0.0,
          "devices": [{"index": 0, "name": "NVIDIA H200", "used_mib": 900.0, "total_mib": 143771.0,
                       "peak_used_mib": 143000.0}],
          "processes": [{"pid": 4242, "device": 0, "used_mib": None, "peak_used_mib": 142000.0}]}


def test_memory_at_death_without_peak_for_a_segfault() -> None:
    report = CrashReport(how="killed by SIGSEGV", abnormal=True, exit={"exit_code": -11, "signal": 11},
                         gpu_memory=RECORD)
    text = report.to_text()
    assert "GPU memory at the time of death (last sample):" in text
    assert "GPU 0 NVIDIA H200: 900.0 / 143771.0 MiB" in text and "pid 4242 on GPU 0: gone" in text
    assert "peak" not in text
    assert report.to_dict()["gpu_memory"] == RECORD


def test_peak_for_an_out_of_memory_end() -> None:
    by_code = CrashReport(how="exited with code 8", abnormal=True, exit={"exit_code": 8}, gpu_memory=RECORD)
    by_text = CrashReport(how="exited with code 1", abnormal=True, exit={"exit_code": 1}, gpu_memory=RECORD,
                          tail=["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"])
    for report in (by_code, by_text):
        assert report.out_of_memory
        text = report.to_text()
        assert "GPU memory peak during the run (out of memory):" in text
        assert "GPU 0: peak 143000.0 / 143771.0 MiB" in text and "pid 4242 on GPU 0: peak 142000.0 MiB" in text


def test_no_gpu_no_lines() -> None:
    assert "GPU memory" not in CrashReport(how="exited with code 8", abnormal=True, exit={"exit_code": 8}).to_text()
