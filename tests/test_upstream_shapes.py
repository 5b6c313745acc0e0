"""Our backend's lines against genuine SGLang 0.5.23 output, through the same parser (issue 9, item 4).

The upstream side is ``tests/data/upstream/sglang-0.5.23`` (written by the release's own code, see
``scripts/make_upstream_fixtures.py``).  Both sides go through :func:`backend.records.parse_line`;
what is compared is the record types, their fields and the types of the field values, the colours
around lines, the JSON keys of ``performance.log`` and the perf dump, and tqdm's ``\\r`` fragments:
never values such as times, pids or paths.

Known, deliberate differences, filtered here: the fixture child names the request in its failure
line (``Failed to generate output for prompt 2:``, ``log_generation_timer``'s indexed form, which
``sglang generate`` and ``serve`` do not use) and logs ``Processing prompt N/M`` (same reason).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from backend.records import MEMORY_SNAPSHOT_KEYS, ProgressRecord, RequestStarted, parse_line, strip_ansi
from tests.fixtures_backend import DEVICE, clean_env, run_backend

pytestmark = pytest.mark.slow
UPSTREAM = Path(__file__).parent / "data" / "upstream" / "sglang-0.5.23"
RED, RESET = "\x1b[91m", "\x1b[0;0m"
OPTIONAL_UPSTREAM_FIELDS = {("GenerationFailed", "index")}
"""Set by the fixture child's indexed ``log_generation_timer`` form only."""


def read(path: Path) -> str:
    """The file as written: no universal-newline translation (tqdm's ``\\r`` must stay)."""
    return path.read_bytes().decode("utf-8")


def shape(record: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A record's type and the type of each field's value (not the values)."""
    name = type(record).__name__
    fields = tuple(
        (f.name, type(getattr(record, f.name)).__name__)
        for f in dataclasses.fields(record)
        if (name, f.name) not in OPTIONAL_UPSTREAM_FIELDS
    )
    return name, fields


def records(text: str) -> list[tuple[int, Any]]:
    """(line index, record) of every recognised line, request markers of the fixture child left out."""
    out = []
    for i, line in enumerate(text.split("\n")):
        record = parse_line(line)
        if record is not None and not isinstance(record, RequestStarted):
            out.append((i, record))
    return out


def upstream_request(scenario: str, index: int) -> list[tuple[int, Any]]:
    """The records of request ``index`` (1-based) of an upstream scenario, with the raw lines' indexes."""
    text = read(UPSTREAM / scenario / "stdout.log")
    starts = [i for i, line in enumerate(text.split("\n")) if "Processing prompt" in line] + [10**9]
    return [(i, r) for i, r in records(text) if starts[index - 1] <= i < starts[index]]


@pytest.fixture(scope="module")
def ours_ok(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tmp = tmp_path_factory.mktemp("ours-ok")
    env = clean_env(tmp, SGLANG_DIFFUSION_STAGE_LOGGING="1", SGLANG_GIT_COMMIT="N/A")
    proc = run_backend(tmp, "generate", "--prompt", "a red circle", "--num-inference-steps", "4",
                       "--perf-dump-path", "perf/req-1.json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp, proc


@pytest.fixture(scope="module")
def ours_failed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("ours-failed")
    env = clean_env(tmp, SGLANG_DIFFUSION_STAGE_LOGGING="1")
    proc = run_backend(tmp, "generate", "--prompt", "a red circle", "--num-inference-steps", "4",
                       "--inject-fault", "exception@backend.attention.*:3", env=env)
    assert proc.returncode != 0
    return proc


def test_a_successful_request_has_upstreams_records(ours_ok: tuple[Path, Any]) -> None:
    _, proc = ours_ok
    theirs = [r for _, r in upstream_request("level3", 1)]
    mine = [r for _, r in records(proc.stdout)]
    last_stage = max(i for i, r in enumerate(theirs) if type(r).__name__ == "StageFinished")
    my_last_stage = max(i for i, r in enumerate(mine) if type(r).__name__ == "StageFinished")
    their_stages = [shape(r) for r in theirs[: last_stage + 1]]
    my_stages = [shape(r) for r in mine[: my_last_stage + 1]]
    pair = their_stages[:2]  # started, finished
    assert their_stages == pair * (len(their_stages) // 2) and my_stages == pair * (len(my_stages) // 2)
    # after the stages: the output, the completion and the perf dump lines (upstream's CLI logs the
    # output inside its generation timer, so ours saves first; the fixture child reverses the two)
    assert sorted(shape(r) for r in mine[my_last_stage + 1:]) == sorted(shape(r) for r in theirs[last_stage + 1:])
    assert {type(r).__name__ for r in mine[my_last_stage + 1:]} == {"OutputSaved", "GenerationDone", "MetricsDumped"}


def test_the_inline_colours_are_upstreams(ours_ok: tuple[Path, Any]) -> None:
    _, proc = ours_ok
    upstream = read(UPSTREAM / "level3" / "stdout.log")

    def colours(text: str, needle: str) -> str:
        line = next(x for x in text.split("\n") if needle in x)
        return re.sub(r"\x1b\[[0-9;]*m", lambda m: m.group(0), re.sub(r"[^\x1b]+?(?=\x1b|$)", "·", line))

    for needle in ("Output saved to", "Pixel data generated successfully", "Metrics dumped to"):
        assert colours(proc.stdout, needle) == colours(upstream, needle), needle


def test_a_failed_step_is_logged_as_upstream_does(ours_failed: Any) -> None:
    theirs = upstream_request("level3", 2)
    mine = records(ours_failed.stdout)
    first = next(k for k, (_, r) in enumerate(mine) if type(r).__name__ == "StageError")
    up_first = next(k for k, (_, r) in enumerate(theirs) if type(r).__name__ == "StageError")
    assert [shape(r) for _, r in mine[first:]] == [shape(r) for _, r in theirs[up_first:]]
    assert [r.stage for _, r in mine if type(r).__name__ == "StageError"] == ["denoising_step_0", "DenoisingStage"]
    lines = ours_failed.stdout.split("\n")
    up_lines = read(UPSTREAM / "level3" / "stdout.log").split("\n")
    for (i, record), (j, _) in zip(mine[first:], theirs[up_first:], strict=True):
        if type(record).__name__ in ("StageError", "GenerationFailed"):  # red from the line to its traceback's end
            assert lines[i].startswith(RED) == up_lines[j].startswith(RED) is True
            assert lines[i + 1] == up_lines[j + 1] == "Traceback (most recent call last):"
        if type(record).__name__ == "ExceptionRaised":
            assert lines[i].endswith(RESET) and up_lines[j].endswith(RESET)
        if type(record).__name__ == "StageError":
            assert not re.match(r"^\w+(Error|Exception): ", record.error)  # str(exc), no class, as upstream


def test_performance_log_and_dump_have_upstreams_keys(ours_ok: tuple[Path, Any]) -> None:
    tmp, _ = ours_ok
    (mine,) = [json.loads(x) for x in (tmp / "logs" / "performance.log").read_text().splitlines()]
    theirs = json.loads((UPSTREAM / "level3" / "perf" / "performance.log").read_text().splitlines()[0])
    assert list(mine) == list(theirs)
    assert [list(s) for s in mine["stages"]][0] == [list(s) for s in theirs["stages"]][0]
    assert {type(v).__name__ for s in mine["stages"] for v in s.values()} == {
        type(v).__name__ for s in theirs["stages"] for v in s.values()}
    assert [s["is_denoising"] for s in mine["stages"]].count(True) == 1
    assert theirs["memory_snapshots"] == {}  # the fixture ran on a CPU
    _assert_snapshots(mine["memory_snapshots"])
    my_dump = json.loads((tmp / "perf" / "req-1.json").read_text())
    their_dump = json.loads((UPSTREAM / "level3" / "perf" / "req-1.json").read_text())
    assert list(my_dump) == list(their_dump)
    for key in ("steps", "denoise_steps_ms"):
        assert list(my_dump[key][0]) == list(their_dump[key][0])
    assert list(my_dump["meta"]) == list(their_dump["meta"])
    _assert_snapshots(my_dump["memory_checkpoints"])


def _assert_snapshots(snapshots: dict[str, Any]) -> None:
    """None on a CPU, as upstream; on a GPU (``SGL_BACKEND_TEST_DEVICE=cuda``) one per stage, with the keys
    of upstream's ``MemorySnapshot.to_dict()`` in its order."""
    if DEVICE == "cpu":
        assert snapshots == {}
        return
    assert snapshots and all(name.startswith("after_") for name in snapshots)
    assert all(tuple(values) == MEMORY_SNAPSHOT_KEYS for values in snapshots.values())


def test_progress_is_tqdm_fragments_like_upstreams(ours_ok: tuple[Path, Any]) -> None:
    _, proc = ours_ok

    def bar(text: str) -> list[ProgressRecord]:
        (line,) = [x for x in text.split("\n") if x.startswith("\r")][:1]
        parsed = [parse_line(f) for f in line.split("\r")[1:]]
        assert all(isinstance(p, ProgressRecord) for p in parsed), line
        return parsed  # type: ignore[return-value]

    mine, theirs = bar(proc.stderr), bar(read(UPSTREAM / "level3" / "stderr.log"))
    for fragments in (mine, theirs):
        assert fragments[0].step == 0 and fragments[-1].step == fragments[-1].total == 4
    assert {shape(p) for p in mine[1:]} <= {shape(p) for p in theirs[1:]}
    assert shape(mine[0]) == shape(theirs[0])
    assert strip_ansi(proc.stderr) == proc.stderr  # tqdm writes no colours
