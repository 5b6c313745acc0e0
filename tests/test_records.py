"""Round trips of every record shape, plus SGLang-shaped captured samples in ``tests/data``."""

from __future__ import annotations

import io
import json
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import records as r

DATA = Path(__file__).parent / "data"


# ---- log lines -----------------------------------------------------------------------------------


def test_strip_ansi_and_prefixes() -> None:
    line = "\x1b[91m[05-01 12:34:55] boom \x1b[1;36m/x\x1b[0;0m\x1b[0;0m"
    assert r.strip_ansi(line) == "[05-01 12:34:55] boom /x"
    assert r.split_log_prefix("[05-01 12:34:55] hello") == ("05-01 12:34:55", None, "hello")
    assert r.split_log_prefix("[2026-05-01 12:35:03] WARNING:  careful") == (
        "2026-05-01 12:35:03",
        "WARNING",
        "careful",
    )
    assert r.split_log_prefix("plain") == (None, None, "plain")


def test_format_log_line() -> None:
    when = datetime(2026, 5, 1, 12, 34, 56)
    assert r.format_log_line("hi", when) == "[05-01 12:34:56] hi"
    assert r.format_log_line("hi", when, tag="DP1") == "[05-01 12:34:56 DP1] hi"


def test_rank_tags_inside_the_prefix() -> None:
    """SGLang's prefixed loggers (``[%(asctime)s{prefix}]``: `` TP0``, `` DP0 TP1``) and our workers' `` DP<r>``:
    the line is still an ordinary log line, and the tag says which rank wrote it."""
    assert r.split_log_prefix("[05-01 12:34:55 DP1] [DenoisingStage] started...") == (
        "05-01 12:34:55", None, "[DenoisingStage] started...")
    assert r.parse_line("[05-01 12:34:55 DP1] [DenoisingStage] finished in 0.5000 seconds") == r.StageFinished(
        "DenoisingStage", 0.5)
    assert r.log_rank_tag("[05-01 12:34:55 DP1] x") == "DP1"
    assert r.log_rank_tag("[05-01 12:34:55 DP0 TP1] x") == "DP0 TP1"
    assert r.log_rank_tag("[05-01 12:34:55] x") is None and r.log_rank_tag("DP1 x") is None
    assert r.log_rank_tag("[05-01 12:34:55 dp1] x") is None  # not a tag: not a log prefix either
    assert [r.dp_rank(t) for t in ("DP1", "DP0 TP1", "TP1 DP12", "TP1", None)] == [1, 0, 12, None, None]
    assert re.fullmatch(r"\[\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] x", r.format_log_line("x"))


# ---- stage lines ---------------------------------------------------------------------------------


def test_stage_messages_round_trip() -> None:
    when = datetime(2026, 5, 1, 12, 0, 0)
    assert r.stage_started_message("DenoisingStage") == "[DenoisingStage] started..."
    assert (
        r.stage_finished_message("DenoisingStage", 2.48931) == "[DenoisingStage] finished in 2.4893 seconds"
    )
    assert r.stage_error_message("DecodingStage", 412.05171, "boom") == (
        "[DecodingStage] Error during execution after 412.0517 ms: boom"
    )
    assert r.parse_line(r.format_log_line(r.stage_started_message("A"), when)) == r.StageStarted("A")
    assert r.parse_line(r.format_log_line(r.stage_finished_message("A", 1.5), when)) == r.StageFinished(
        "A", 1.5
    )
    assert r.parse_line("\x1b[91m" + r.format_log_line(r.stage_error_message("A", 3.0, "x: y"), when)) == (
        r.StageError("A", 3.0, "x: y")
    )
    assert r.parse_line("[05-01 12:34:50] [TextEncodingStage] started... (71.52 GB left)") == (
        r.StageStarted("TextEncodingStage", 71.52)
    )


# ---- progress ------------------------------------------------------------------------------------


def test_progress_message_matches_tqdm_shape() -> None:
    assert r.progress_message(4, 8, 1.25) == " 50%|█████     | 4/8 [00:01<00:01,  3.20it/s]"
    assert r.progress_message(0, 8, 0.0) == "  0%|          | 0/8 [00:00<?, ?it/s]"
    assert r.progress_message(1, 4, 2.5).endswith("[00:02<00:07,  2.50s/it]")


@given(st.integers(1, 500), st.data(), st.floats(0.01, 5000.0))
@settings(max_examples=60, deadline=None)
def test_progress_round_trip(total: int, data: st.DataObject, elapsed: float) -> None:
    step = data.draw(st.integers(0, total))
    rec = r.parse_line(r.progress_message(step, total, elapsed) + "\n")
    assert isinstance(rec, r.ProgressRecord)
    assert (rec.step, rec.total) == (step, total)
    assert rec.elapsed_s == float(int(elapsed))
    assert (rec.rate_its is None) == (step == 0)


def test_progress_parses_real_tqdm_fragments() -> None:
    tqdm = pytest.importorskip("tqdm")
    buf = io.StringIO()
    bar = tqdm.tqdm(total=8, file=buf, mininterval=0, miniters=1)
    for _ in range(8):
        bar.update(1)
    bar.close()
    fragments = [f for f in buf.getvalue().split("\r") if f.strip()]
    parsed = [r.parse_line(f) for f in fragments]
    assert all(isinstance(p, r.ProgressRecord) for p in parsed), fragments
    assert [p.step for p in parsed if isinstance(p, r.ProgressRecord)][-1] == 8
    # a whole \r-joined line is judged by its last fragment
    last = r.parse_line(buf.getvalue())
    assert isinstance(last, r.ProgressRecord) and last.step == 8 and last.percent == 100


# ---- performance.log -----------------------------------------------------------------------------


def _record(**extra: object) -> r.PerfRecord:
    fields: dict[str, object] = {
        "request_id": "req-1",
        "timestamp": r.utc_timestamp(datetime(2026, 5, 1, tzinfo=timezone.utc)),
        "commit_hash": "abc",
        "tag": r.PERF_RECORD_TAG,
        "stages": (r.StageTiming("DenoisingStage", 12.5), r.StageTiming("DecodingStage", 3.25)),
        "steps": (1.0, 2.5),
        "total_duration_ms": 20.0,
    }
    return r.PerfRecord(**(fields | extra))  # type: ignore[arg-type]


def test_perf_record_key_order_and_round_trip() -> None:
    """SGLang 0.5.23's ``RequestPerfRecord``: ``memory_snapshots`` always written, ``{}`` when empty."""
    rec = _record()
    line = rec.to_json_line()
    assert list(json.loads(line)) == [
        "request_id",
        "timestamp",
        "commit_hash",
        "tag",
        "stages",
        "steps",
        "total_duration_ms",
        "memory_snapshots",
    ]
    assert json.loads(line)["memory_snapshots"] == {}
    assert line.startswith('{"request_id": "req-1", "timestamp": "2026-05-01T00:00:00+00:00"')
    assert r.PerfRecord.from_json_line(line) == rec
    full = _record(memory_snapshots={"after_DenoisingStage": {"allocated_mb": 1.0}}, cache_stats={"hits": 2})
    assert list(json.loads(full.to_json_line()))[-2:] == ["memory_snapshots", "cache_stats"]
    assert r.PerfRecord.from_json_line(full.to_json_line()) == full
    assert r.parse_line(line) == rec
    marked = _record(stages=(r.StageTiming("DenoisingStage", 12.5, True), r.StageTiming("DecodingStage", 3.25, False)))
    assert json.loads(marked.to_json_line())["stages"] == [
        {"name": "DenoisingStage", "execution_time_ms": 12.5, "is_denoising": True},
        {"name": "DecodingStage", "execution_time_ms": 3.25, "is_denoising": False},
    ]
    assert r.PerfRecord.from_json_line(marked.to_json_line()) == marked


def test_sglang_performance_log_sample() -> None:
    lines = (DATA / "sglang_performance.log").read_text().splitlines()
    recs = [r.PerfRecord.from_json_line(x) for x in lines]
    assert [s.name for s in recs[0].stages][-1] == "DecodingStage"
    assert recs[0].steps == (240.5, 279.1, 281.0) and recs[0].memory_snapshots is None
    assert recs[1].memory_snapshots["after_DenoisingStage"]["peak_reserved_mb"] == 32768.0  # type: ignore[index]
    assert [rec.to_json_line() for rec in recs] == lines  # byte-for-byte writer


def test_append_and_dir_semantics(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert r.append_perf_record(str(target), _record()) == target / "performance.log"
    r.append_perf_record(str(target), _record())
    assert len((target / "performance.log").read_text().splitlines()) == 2
    assert r.append_perf_record("", _record()) is None
    assert r.perf_log_dir({"SGLANG_PERF_LOG_DIR": "rel"}) == str(Path("rel").absolute())
    assert r.perf_log_dir({"SGLANG_PERF_LOG_DIR": ""}, fallback="x") == ""
    assert r.perf_log_dir({}, fallback=str(tmp_path / "logs")) == str(tmp_path / "logs")


def test_commit_hash(tmp_path: Path) -> None:
    assert r.commit_hash({"SGLANG_GIT_COMMIT": "deadbeef"}) == "deadbeef"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert r.commit_hash({}, cwd=str(plain)) == "N/A"  # no repository: SGLang's placeholder
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True, timeout=30)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert len(head) == 40 and r.commit_hash({}, cwd=str(repo)) == head


def test_perf_dump_report(tmp_path: Path) -> None:
    text = (DATA / "sglang_perf_dump.json").read_text()
    rep = r.PerfDumpReport.from_json(text)
    assert rep.tag == "cli_generate" and rep.denoise_steps_ms == (240.5, 279.1)
    assert rep.steps[1] == r.StageTiming("DenoisingStage", 14289.46)
    assert json.loads(rep.to_json()) == json.loads(text)
    assert r.PerfDumpReport.from_json(rep.to_json()) == rep
    msg = r.write_perf_dump(tmp_path / "d" / "perf.json", rep)
    assert msg == f"Metrics dumped to: \x1b[1;36m{tmp_path / 'd' / 'perf.json'}\x1b[0;0m"
    assert (tmp_path / "d" / "perf.json").stat().st_mode & 0o777 == 0o600
    assert r.parse_line(r.format_log_line(msg)) == r.MetricsDumped(str(tmp_path / "d" / "perf.json"))


# ---- the captured stdout sample ------------------------------------------------------------------


def test_sglang_stdout_sample() -> None:
    got = [r.parse_line(x) for x in (DATA / "sglang_stdout.log").read_bytes().decode().split("\n")[:-1]]
    kinds = [type(x).__name__ if x is not None else None for x in got]
    assert kinds == [
        None,
        None,
        "StageStarted",
        "StageFinished",
        "StageStarted",
        "StageFinished",
        "StageStarted",
        "ProgressRecord",
        "StageFinished",
        "StageStarted",
        "StageError",
        None,
        None,
        "CudaError",
        "CudaError",
        "CudaError",
        "CudaError",
        "GenerationDone",
        "OutputSaved",
        "MetricsDumped",
        "ProfilerTracesSaved",
        "Uploaded",
        None,
        "Uploaded",
        "PerfRecord",
    ]
    assert got[7] == r.ProgressRecord(8, 8, 100, 2.0, 0.0, 3.41)
    assert got[13] == r.CudaError(
        "torch.AcceleratorError: CUDA error: an illegal memory access was encountered", "cuda"
    )
    assert [x.kind for x in got[14:17]] == ["device_assert", "device_assert", "oom"]  # type: ignore[union-attr]
    assert got[19] == r.MetricsDumped("/srv/runs/perf.json")
    assert got[21] == r.Uploaded(
        "outputs/a_cat_20260501-123501_1a2b3c4d.png",
        "https://bucket.s3.us-east-1.amazonaws.com/a_cat_20260501-123501_1a2b3c4d.png",
    )
    assert got[23] == r.Uploaded("outputs/clip.mp4", "presigned URL")
    assert got[17] == r.GenerationDone(6.81)
    assert r.parse_line(r.output_saved_message("o/x.png")) == r.OutputSaved("o/x.png")
    assert r.output_saved_message("o/x.png") == "Output saved to \x1b[1;36mo/x.png\x1b[0;0m"
    assert r.generation_completed_message(0.0612) == "Pixel data generated successfully in \x1b[92m0.06\x1b[0;0m seconds"
    assert r.parse_line(r.format_log_line(r.generation_completed_message(1.5))) == r.GenerationDone(1.5)
    # A CPU RuntimeError is an exception line, not a CUDA error: the class name decides nothing.
    assert r.parse_line("RuntimeError: shapes do not match") == r.ExceptionRaised(
        "RuntimeError", "shapes do not match", None
    )


# ---- dump folders --------------------------------------------------------------------------------


def test_dump_dir_name() -> None:
    when = datetime(2026, 5, 1, 12, 34, 56, 789123)
    assert (
        r.dump_dir_name(when, 42, "backend.a/b<c>", 7) == "20260501_123456_789_pid42_backend.a_b_c__call0007"
    )
    assert r.dump_timestamp(when) == "20260501_123456_789"


def test_dump_metadata_round_trip(tmp_path: Path) -> None:
    folder = (
        DATA
        / "kernel_api_dumps"
        / "20260501_123457_001_pid4242_jit_kernel.rope.apply_rotary_embedding_call0001"
    )
    text = (folder / "metadata.json").read_text()
    meta = r.read_dump_metadata(folder)
    assert meta.execution_status == "exception" and meta.exception == {
        "type": "RuntimeError",
        "message": "CUDA error: an illegal memory access was encountered",
    }
    assert meta.to_json() == text
    assert r.DumpMetadata.from_json(meta.to_json()) == meta


def test_scan_dump_root() -> None:
    entries = r.scan_dump_root(DATA / "kernel_api_dumps")
    assert [(e.pid, e.call_n, e.status, e.error is None) for e in entries] == [
        (4242, 1, "completed", True),
        (4242, 1, "exception", True),
        (4242, 7, "inputs_saved", True),
        (4243, 1, "unknown", False),
        (4243, 2, "unknown", False),
    ]
    assert entries[2].api_name == "sglang.custom_op.fused_silu_mul"
    assert entries[4].error == "missing"
    assert r.scan_dump_root(DATA / "nope") == []


def test_a_memory_snapshot_has_upstreams_keys_rounded_and_all_of_them() -> None:
    from backend.records import MEMORY_SNAPSHOT_KEYS, memory_snapshot

    snap = memory_snapshot(1.234, 2.0, 3.456, 4.0, 1121.719)
    assert tuple(snap) == MEMORY_SNAPSHOT_KEYS and snap["allocated_mb"] == 1.23 and snap["peak_host_anon_mb"] == 1121.72
    with pytest.raises(ValueError):
        memory_snapshot(1.0, 2.0)
