"""backend.exit_codes: one documented meaning per code."""

from __future__ import annotations

from backend.exit_codes import EXIT_CODES, ExitCode, describe, markdown_table


def test_every_code_documented_once() -> None:
    assert set(EXIT_CODES) == set(ExitCode)
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    table = markdown_table()
    assert all(f"| {int(c)} |" in table for c in ExitCode)


def test_describe_signals() -> None:
    assert describe(-11) == "killed by signal SIGSEGV"
    assert describe(134) == "killed by signal SIGABRT"
    assert "upload" in describe(ExitCode.UPLOAD_FAILED)


def test_classify_runtime_failures() -> None:
    import torch

    from backend.server.runtime import classify

    assert classify(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))[0] == ExitCode.OUT_OF_MEMORY
    assert classify(RuntimeError("CUDA error: device-side assert triggered\nmore"))[0] == ExitCode.RUNTIME_ERROR
    code, line = classify(KeyError("x"))
    assert code == ExitCode.INTERNAL and "\n" not in line
