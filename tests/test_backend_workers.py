"""``--num-workers``: a batch split over worker processes started with fork or spawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from backend.records import OutputSaved, parse_line
from backend.workers import split_batch
from tests.fixtures_backend import clean_env, run_backend


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_two_workers_distinct_pids(tmp_path: Path, method: str) -> None:
    env = clean_env(tmp_path, SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD=method)
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2",
                       "--batch-size", "2", "--num-workers", "2", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    saved = [r.path for r in map(parse_line, proc.stdout.splitlines()) if isinstance(r, OutputSaved)]
    assert len(saved) == 2
    texts = [Image.open(p).text for p in saved]  # type: ignore[attr-defined]
    pids = {t["pid"] for t in texts}
    assert len(pids) == 2
    assert sorted(int(t["seed"]) for t in texts) == [42, 43]
    started = [line for line in proc.stdout.splitlines() if "Started worker" in line and f", {method})" in line]
    assert len(started) == 2 and {line.split("pid ")[1].split(",")[0] for line in started} == pids


def test_split_batch() -> None:
    assert split_batch(5, 2) == [(0, 3), (3, 2)]
    assert split_batch(2, 4) == [(0, 1), (1, 1)]
    assert split_batch(1, 1) == [(0, 1)]
