"""Hard to break: bounded requests, clear refusals of bad flags, prompt stops (issue 10, defects 2 and 8).

The usage errors are refused by argparse before torch loads (exit 2, one sentence naming the flag,
the value and what is allowed); the bounds also hold for a served request's body (400).
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend.exit_codes import BackendError, ExitCode
from backend.pipeline.limits import Limits, estimate_request_bytes, parse_bytes
from backend.server.request_body import request_from_body
from tests.console_helpers import wait_until
from tests.fixtures_backend import backend_command, clean_env, run_backend


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seed", "99999999999999999999999"], "argument --seed: '99999999999999999999999' is not in 0..9223372036854775807"),
        (["--seed", "-1"], "argument --seed: '-1' is not in 0.."),
        (["--guidance-scale", "nan"], "argument --guidance-scale: 'nan' is not a finite number"),
        (["--guidance-scale", "inf"], "argument --guidance-scale: 'inf' is not a finite number"),
        (["--num-inference-steps", "100000000"], "--num-inference-steps 100000000 is over the limit of 1000 steps"),
        (["--batch-size", "100000"], "--batch-size 100000 is over the limit of 64 images per request"),
        (["--height", "8192", "--width", "8192", "--max-pixels", "1000000"], "8192x8192 is 67108864 pixels"),
        (["--max-request-memory", "lots"], "'lots' is not a size"),
    ],
    ids=["huge-seed", "negative-seed", "nan-guidance", "inf-guidance", "steps", "batch", "pixels", "memory-flag"],
)
def test_bad_generate_flags_exit_2_before_loading(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", *args, timeout=60)
    assert proc.returncode == ExitCode.USAGE, proc.stdout + proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "Loading model" not in proc.stdout


def test_limits_raised_by_their_flags() -> None:
    limits = Limits(max_steps=5000, max_batch=2, max_pixels=64 * 64)
    assert limits.problems(5000, 2, 64, 64) == []
    assert limits.problems(5001, 3, 64, 65) == [
        "--num-inference-steps 5001 is over the limit of 5000 steps (raise it with --max-steps)",
        "--batch-size 3 is over the limit of 2 images per request (raise it with --max-batch-size)",
        "65x64 is 4160 pixels per image, over the limit of 4096 (raise it with --max-pixels)",
    ]
    assert parse_bytes("1.5G") == 3 * 2**29 and parse_bytes("4096") == 4096


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"prompt": "x", "steps": 100000000}, "'steps' must be an integer from 1 to 1000"),
        ({"prompt": "x", "n": 3}, "'n' must be an integer from 1 to 2"),
        ({"prompt": "x", "size": "100000x100000"}, "each side must be from 1 to 16384 pixels"),
        ({"prompt": "x", "size": "128x128"}, "over the server's limit of 4096 (--max-pixels)"),
        ({"prompt": "x", "seed": 10**30}, "'seed' must be an integer from 0 to"),
    ],
)
def test_served_bodies_are_bounded_by_the_server_limits(body: dict[str, object], needle: str) -> None:
    with pytest.raises(BackendError) as info:
        request_from_body(body, "out", limits=Limits(max_batch=2, max_pixels=64 * 64))
    assert info.value.code == ExitCode.BAD_REQUEST and needle in info.value.message


def test_memory_estimate_grows_with_the_work() -> None:
    from backend.models.shapes_pipeline import load_pipeline

    pipe = load_pipeline()
    one = estimate_request_bytes(pipe, 8, 1, 64, 64, guided=True)
    assert 0 < one < 2**30
    assert estimate_request_bytes(pipe, 8, 64, 256, 256, guided=True) > 64 * 16 * one / 2
    assert estimate_request_bytes(pipe, 8, 1, 64, 64, guided=True) > estimate_request_bytes(pipe, 8, 1, 64, 64, False)


@pytest.mark.slow
def test_a_request_over_its_memory_estimate_is_refused_before_allocating(tmp_path: Path) -> None:
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2",
                       "--batch-size", "8", "--max-request-memory", "64K")
    assert proc.returncode == ExitCode.BAD_REQUEST, proc.stdout + proc.stderr
    assert "over --max-request-memory 64.0 KiB" in proc.stdout
    assert "[InputValidationStage] Error during execution" in proc.stdout
    assert "[TextEncodingStage] started" not in proc.stdout  # nothing of the request was allocated


@pytest.mark.slow
def test_a_stop_while_loading_is_honoured_at_once(tmp_path: Path) -> None:
    """SIGTERM before the first request: exit 143 from the handler, without waiting for the load."""
    out = tmp_path / "stdout.txt"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(backend_command("generate", "--prompt", "a red circle", "--num-inference-steps", "2"),
                                cwd=tmp_path, env=clean_env(tmp_path), stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Target device" in out.read_text() or proc.poll() is not None, timeout=120,
                   describe=out.read_text)
        assert proc.poll() is None, out.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == ExitCode.CANCELLED
    finally:
        proc.kill()
        proc.wait(10)
    text = out.read_text()
    assert "Stopped during start-up" in text and "[InputValidationStage] started" not in text


@pytest.mark.slow
def test_serve_refuses_work_over_its_limits_with_400_and_keeps_serving(tmp_path: Path, serve_process: Any) -> None:
    server = serve_process(clean_env(tmp_path), "--max-batch-size", "2", "--max-request-memory", "64K")
    status, body = server.http("POST", "/v1/images/generations", {"prompt": "a red circle", "n": 3})
    assert status == 400 and "'n' must be an integer from 1 to 2" in body["error"]["message"]
    status, body = server.http("POST", "/v1/images/generations", {"prompt": "a red circle", "n": 2, "steps": 2})
    assert status == 400 and "over --max-request-memory 64.0 KiB" in body["error"]["message"]
    status, body = server.http("POST", "/v1/images/generations", {"prompt": "a red circle", "steps": 100000000})
    assert status == 400 and "'steps' must be an integer from 1 to 1000" in body["error"]["message"]
    assert server.proc.poll() is None
    assert server.stop() == 0


def test_allocation_failures_are_out_of_memory() -> None:
    """The CPU allocator under a memory limit raises RuntimeError; the text, not the class, decides."""
    from backend.server.runtime import classify

    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 3145728 bytes. Error code 12 (Cannot allocate memory)")
    assert classify(cpu)[0] == ExitCode.OUT_OF_MEMORY
    assert classify(MemoryError())[0] == ExitCode.OUT_OF_MEMORY
    assert classify(RuntimeError("shape mismatch"))[0] == ExitCode.RUNTIME_ERROR
