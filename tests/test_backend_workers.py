"""``--num-workers``: a batch split over worker processes started with fork or spawn."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.exit_codes import ExitCode
from backend.records import OutputSaved, parse_line
from backend.server.devserver import workers_answer
from backend.server.workers import split_batch
from tests.console_helpers import pid_running, wait_until
from tests.fixtures_backend import DEVICE, clean_env, run_backend, start_backend


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_two_workers_distinct_pids(tmp_path: Path, method: str) -> None:
    env = clean_env(tmp_path, SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD=method)
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2",
                       "--batch-size", "2", "--num-workers", "2", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    saved = [r.path for r in map(parse_line, proc.stdout.splitlines()) if isinstance(r, OutputSaved)]
    assert len(saved) == 2
    texts = [Image.open(p).text for p in saved]  # type: ignore[attr-defined]
    pids = {t["pid"] for t in texts}
    assert len(pids) == 2
    assert sorted(int(t["seed"]) for t in texts) == [42, 43]
    started = [line for line in proc.stdout.splitlines() if "Started worker" in line and f", {method})" in line]
    assert len(started) == 2 and {line.split("pid ")[1].split(",")[0] for line in started} == pids


def test_worker_device_one_gpu_each_when_several_are_visible() -> None:
    torch = pytest.importorskip("torch")
    from backend.pipeline.device import worker_device

    cuda0, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert [worker_device(cuda0, r, 2) for r in range(3)] == [torch.device("cuda", 0), torch.device("cuda", 1),
                                                               torch.device("cuda", 0)]
    assert worker_device(cuda0, 1, 1) == cuda0, "one visible GPU: both workers share it"
    assert worker_device(cpu, 1, 0) == cpu


def test_worker_lines_are_written_and_read_with_the_same_shape() -> None:
    from backend.records import (
        WorkerEnded,
        WorkerPlaced,
        format_log_line,
        worker_died_message,
        worker_finished_message,
        worker_placed_message,
    )

    placed = worker_placed_message(1, 2, 4242, "cuda:1", "NVIDIA H200; 2 visible GPU(s)")
    assert parse_line(format_log_line(placed)) == WorkerPlaced(1, 2, 4242, "cuda:1", "NVIDIA H200; 2 visible GPU(s)")
    assert parse_line(format_log_line(worker_finished_message(0, 4241, 1, 0))) == WorkerEnded(0, 4241, 1, 0, True)
    assert parse_line(format_log_line(worker_died_message(1, 4242, -11))) == WorkerEnded(1, 4242, 0, -11, False)


def test_split_batch() -> None:
    assert split_batch(5, 2) == [(0, 3), (3, 2)]
    assert split_batch(2, 4) == [(0, 1), (1, 1)]
    assert split_batch(1, 1) == [(0, 1)]


def _start_workers(tmp_path: Path, *extra: str) -> tuple[Any, Path, Path]:
    """A generate with two workers (fork), its stdout and stderr going to files the test polls."""
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = start_backend(["generate", "--prompt", "a red circle", "--batch-size", "2", "--num-workers", "2",
                              *extra],
                             tmp_path, clean_env(tmp_path, SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD="fork"),
                             stdout=o, stderr=e)
    return proc, out, err


def _wait_for(path: Path, pattern: str, proc: Any, count: int = 1) -> list[str]:
    def hits() -> list[str]:
        return re.findall(pattern, path.read_text(errors="replace"))

    wait_until(lambda: len(hits()) >= count or proc.poll() is not None, timeout=240, interval=0.1,
               describe=lambda: path.read_text(errors="replace"))
    found = hits()
    assert len(found) >= count, f"the backend exited first:\n{path.read_text(errors='replace')}"
    return found


@pytest.mark.slow
def test_stopping_hung_workers_exits_143(tmp_path: Path) -> None:
    """A hang drill in both workers, then SIGTERM to the backend: the workers die of it (the drill resets
    SIGTERM) without a result, and the backend reports the stop (143), not a worker failure (12)."""
    proc, _, err = _start_workers(tmp_path, "--num-inference-steps", "2", "--inject-fault", "hang@backend.attention.*")
    try:
        _wait_for(err, r"injected fault: hang", proc, count=2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == ExitCode.CANCELLED
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.slow
def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    """SIGKILL the backend (no chance to forward anything): its workers stop too (PR_SET_PDEATHSIG)."""
    proc, out, _ = _start_workers(tmp_path, "--num-inference-steps", "3000", "--max-steps", "3000")
    try:
        pids = [int(p) for p in _wait_for(out, r"Worker \d \(pid (\d+)\) started", proc, count=2)]
        proc.kill()
        proc.wait(10)
        wait_until(lambda: not any(pid_running(pid) for pid in pids), timeout=60, interval=0.2,
                   describe=lambda: f"workers {pids} outlived their parent")
    finally:
        for pid in pids if "pids" in locals() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _placed(server: Any) -> dict[int, int]:
    """Rank -> pid, from the workers' placement lines (``Worker R of N (pid P) on DEVICE``)."""
    server.wait_for(r"Worker 1 \(pid \d+\) ready")
    found = {}
    for line in server.lines:
        if m := re.search(r"Worker (\d) of 2 \(pid (\d+)\) on ", line):
            found[int(m.group(1))] = int(m.group(2))
    return found


@pytest.mark.slow
def test_serve_with_two_workers_runs_two_requests_side_by_side_and_stops_both(tmp_path: Path,
                                                                            serve_process: Any) -> None:
    """``serve --num-workers 2``: two resident workers, each its own pid and ``DP<r>`` lines; the dev
    routes that read the model are asked of both workers; an attention config change reaches both
    (watched by each, and re-read at once on ``/dev/reload-attention-config``; a broken file keeps the
    last good config in both); two requests sent together run on the two workers at once; SIGTERM
    stops both workers and the server exits 0."""
    config = tmp_path / "attention.json"
    config.write_text(json.dumps({"sdpa_kernels": ["math"]}))
    server = serve_process(clean_env(tmp_path, SGLANG_DIFFUSION_SERVER_DEV_MODE="true",
                                     SGLANG_DIFFUSION_ATTENTION_CONFIG=str(config)), "--num-workers", "2")
    placed = _placed(server)
    assert sorted(placed) == [0, 1] and placed[0] != placed[1]
    assert any(line.startswith("[") and " DP1] Worker 1 of 2" in line for line in server.lines)

    status, memory = server.http("GET", "/dev/memory")
    assert status == 200, memory
    assert [(w["rank"], w["pid"], w["status"]) for w in memory["workers"]] == [(0, placed[0], 200), (1, placed[1], 200)]
    assert all(w["device"].startswith(DEVICE) and w["rss_mb"] > 0 for w in memory["workers"])
    status, last = server.http("GET", "/dev/last-request")
    assert status == 404 and "no request yet" in last["error"]["message"]

    config.write_text(json.dumps({"sdpa_kernels": ["math"], "scale": 0.125}))
    status, reload = server.http("POST", "/dev/reload-attention-config", {})
    assert status == 200, reload
    for worker in reload["workers"]:
        assert worker["attention"]["config"] == {"sdpa_kernels": ["math"], "scale": 0.125}
        assert any("scale=0.125" in change for change in worker["changes"]), worker
    config.write_text('{\n  "sdpa_kernels": ["math"],\n  "bogus": 1\n}\n')
    status, reload = server.http("POST", "/dev/reload-attention-config", {})
    assert status == 400 and reload["error"]["message"].startswith("worker 0: ") and "line 3" in reload["error"]["message"]
    assert all(w["attention"]["config"]["scale"] == 0.125 for w in reload["workers"]), "the last good config stays"

    server.send({"prompt": "a red circle", "steps": 2, "id": "a"})
    server.send({"prompt": "a blue square", "steps": 2, "id": "b"})
    answers = {a["id"]: a for a in server.wait_responses(2)}
    assert answers["a"]["error"] is None and answers["b"]["error"] is None
    assert {answers["a"]["pid"], answers["b"]["pid"]} == set(placed.values()), "one request on each worker"
    assert all(Path(a["paths"][0]).is_file() for a in answers.values())
    assert all(a["attention"]["config"]["scale"] == 0.125 for a in answers.values())
    status, last = server.http("GET", "/dev/last-request")
    assert status == 200 and sorted(w["request_id"] for w in last["workers"]) == sorted(
        a["request_id"] for a in answers.values())
    assert server.stop() == 0
    server.wait_for(r"Shutting down \(SIGTERM\)")
    assert not [pid for pid in placed.values() if pid_running(pid)]


@pytest.mark.slow
def test_serve_ends_when_a_worker_dies_and_names_it(tmp_path: Path, serve_process: Any) -> None:
    """A segfault on worker 1 only (``,rank=1``): its request is answered with an error naming worker 1
    and its pid, the other worker is stopped, nothing survives, and serve exits worker-failed."""
    server = serve_process(clean_env(tmp_path), "--num-workers", "2",
                           "--inject-fault", "segfault@backend.attention.*:2,rank=1")
    placed = _placed(server)
    server.send({"prompt": "a red circle", "steps": 2, "id": "a"})
    server.send({"prompt": "a blue square", "steps": 2, "id": "b"})
    assert server.proc.wait(timeout=120) == ExitCode.WORKER_FAILED
    answers = {a["id"]: a for a in server.wait_responses(2)}
    assert answers["b"]["exit_code"] == ExitCode.WORKER_FAILED and answers["b"]["pid"] == placed[1]
    assert f"worker 1 (pid {placed[1]}) died" in answers["b"]["error"]["message"]
    assert answers["a"]["pid"] == placed[0]  # finished, or abandoned at a step boundary when the server stopped
    server.wait_for(rf"Worker 1 \(pid {placed[1]}\) died without a result")
    assert not [pid for pid in placed.values() if pid_running(pid)]


def test_workers_answer_puts_every_worker_in_one_answer() -> None:
    """A worker with nothing to show (404) does not fail the answer while another has something; a
    refusal does, naming its worker; nobody left to answer is a 503, not a crash."""
    ok = {"rank": 1, "pid": 11, "status": 200, "rss_mb": 1.0}
    empty = {"rank": 0, "pid": 10, "status": 404, "error": {"message": "no request yet"}}
    refused = {"rank": 1, "pid": 11, "status": 400, "error": {"message": "line 3: unknown key"}}
    status, body = workers_answer([ok, empty])
    assert status == 200 and [w["rank"] for w in body["workers"]] == [0, 1] and "error" not in body
    status, body = workers_answer([empty, {**empty, "rank": 1}])
    assert status == 404 and body["error"]["message"] == "worker 0: no request yet"
    status, body = workers_answer([refused, {**ok, "rank": 0}])
    assert status == 400 and body["error"]["message"] == "worker 1: line 3: unknown key"
    assert workers_answer([])[0] == 503
