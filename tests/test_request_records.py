"""Parsers per record family on genuine upstream output (sglang 0.5.23's own code wrote these files):
request outcome and exception lines, stage lines, tqdm \\r fragments, performance.log, the perf dump,
kernel API blocks at each level, and dump folders."""

from __future__ import annotations

from collections import Counter

import pytest

from backend import records as r
from tests.upstream_data import scenario
from tui.crash_scope import read_source


def parsed(name: str, file: str) -> list[r.Record]:
    return [rec for line in read_source(str(scenario(name) / file)) if (rec := r.parse_line(line.text))]


def test_request_outcome_and_exception_lines() -> None:
    recs = parsed("handled_then_cuda_error", "stdout.log")
    assert [x for x in recs if isinstance(x, r.RequestStarted)] == [
        r.RequestStarted(1, 3), r.RequestStarted(2, 3), r.RequestStarted(3, 3)]
    failed = [x for x in recs if isinstance(x, r.GenerationFailed)]
    assert [f.index for f in failed] == [1, 3]
    assert failed[0].message.startswith("Expected size for first two dimensions")
    assert failed[1].message == "CUDA error: an illegal memory access was encountered"
    # The CPU shape mismatch is an exception line, never a CUDA error; the CUDA one is classified by its text.
    cpu = [x for x in recs if isinstance(x, r.ExceptionRaised)]
    assert cpu and all(x.exc_type == "RuntimeError" and x.cuda is None for x in cpu)
    cuda = [x for x in recs if isinstance(x, r.CudaError)]
    assert cuda and all(x.kind == "cuda" for x in cuda)
    assert not any("Expected size" in x.message for x in cuda)
    assert sum(isinstance(x, r.GenerationDone) for x in recs) == 1


def test_stage_step_error_and_completion_lines() -> None:
    recs = parsed("level5", "stdout.log")
    errors = [x for x in recs if isinstance(x, r.StageError)]
    assert [e.stage for e in errors] == ["denoising_step_1", "DenoisingStage"]
    assert errors[0].error == errors[1].error and errors[0].ms > 0
    assert [x.stage for x in recs if isinstance(x, r.StageStarted)][-1] == "DenoisingStage"
    saved = [x for x in recs if isinstance(x, r.OutputSaved)]
    assert [s.path for s in saved] == ["/srv/sgl-run/images/req-1.png", "/srv/sgl-run/images/req-3.png"]
    assert [x for x in recs if isinstance(x, r.MetricsDumped)] == [r.MetricsDumped("/srv/sgl-run/perf/req-1.json")]
    assert sum(isinstance(x, r.GenerationDone) for x in recs) == 2


def test_tqdm_carriage_return_fragments() -> None:
    bars = [x for x in parsed("level5", "stderr.log") if isinstance(x, r.ProgressRecord)]
    # req-1: 0..4 (+ the close redraw), req-2: 0..1 + close after the failure, req-3, req-4: 0..1 then SIGKILL.
    assert [b.step for b in bars] == [0, 1, 2, 3, 4, 4, 0, 1, 1, 0, 1, 2, 3, 4, 4, 0, 1]
    assert {b.total for b in bars} == {4}


def test_performance_log_and_perf_dump() -> None:
    d = scenario("level5") / "perf"
    recs = [r.PerfRecord.from_json_line(line) for line in (d / "performance.log").read_text().splitlines()]
    assert [x.request_id for x in recs] == ["req-1", "req-3"]  # the failed req-2 and the killed req-4 have none
    assert [s.name for s in recs[0].stages] == ["InputValidationStage", "TextEncodingStage", "DenoisingStage",
                                                 "DecodingStage"]
    assert len(recs[0].steps) == 4
    dump = r.PerfDumpReport.from_json((d / "req-1.json").read_text())
    assert dump.tag == "cli_generate" and dump.request_id == "req-1" and len(dump.denoise_steps_ms) == 4


@pytest.mark.parametrize("level", [1, 3, 5, 10])
def test_kernel_blocks_at_each_level(level: int) -> None:
    parser = r.KernelApiLogParser()
    calls: list[r.KernelApiCall] = []
    for line in (scenario(f"level{level}") / "kernel_api.log").read_text().splitlines():
        calls += parser.feed(line)
    calls += parser.flush()
    assert len(calls) == 38 and parser.detailed is (level >= 3)
    raised = [c for c in calls if c.exception]
    assert [(c.api_name.rsplit(".", 1)[-1], c.exception[0]) for c in raised] == [("sdpa", "RuntimeError")]  # type: ignore[index]
    last = max(calls, key=lambda c: c.index)
    assert last.api_name.endswith(".sdpa") and not last.completed
    nan_calls = [c for c in calls if c.nan_total() > 0]
    if level >= 5:
        first = min(nan_calls, key=lambda c: c.index)
        assert first.api_name == "jit_kernel.norm.rmsnorm" and first.nan_total("inputs") == 1
        assert first.nan_total("output") == 8
    else:
        assert nan_calls == []
    if level == 10:
        assert last.dumped_inputs_dir is not None and last.dumped_outputs_dir is None


def test_dump_folders() -> None:
    entries = r.scan_dump_root(scenario("level10") / "dumps")
    assert Counter(e.status for e in entries) == {"completed": 36, "exception": 1, "inputs_saved": 1}
    exc = next(e for e in entries if e.status == "exception")
    assert exc.metadata is not None and exc.metadata.exception is not None
    assert exc.metadata.exception["type"] == "RuntimeError"
    hard = next(e for e in entries if e.status == "inputs_saved")
    assert hard.metadata is not None and hard.metadata.function_name.endswith(".sdpa")
    assert hard.timestamp is not None and exc.timestamp is not None and hard.timestamp > exc.timestamp
