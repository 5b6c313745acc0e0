"""Router: bounded batching, parsed records, stage table, kernel API blocks, concurrency.

Lines are produced with the writers of ``backend.records`` (the same module parses them)."""

from __future__ import annotations

import threading

from backend.records import (
    PerfRecord,
    StageTiming,
    TensorDesc,
    TensorStats,
    format_log_line,
    kernel_call_begin_lines,
    kernel_call_end_lines,
    output_saved_message,
    progress_message,
    request_started_message,
    stage_finished_message,
    stage_started_message,
)
from tui.routed import STDERR, STDOUT
from tui.router import Router


def nan_tensor(nans: int) -> TensorDesc:
    return TensorDesc((2, 8), "torch.float16", "cpu", stats=TensorStats(0.0, 1.0, 0.5, nans, 1))


class TestBatching:
    def test_ring_buffer_drops_oldest_and_counts(self) -> None:
        router = Router(max_pending=100)
        router.feed(STDOUT, [f"line {i}" for i in range(250)])
        batch = router.drain()
        assert len(batch.lines) == 100 and batch.dropped == 150 and batch.total_lines == 250
        assert batch.lines[0].text == "line 150" and batch.lines[-1].seq == 250
        assert router.drain().empty

    def test_ring_is_also_bounded_in_characters(self) -> None:
        router = Router(max_pending=1000, max_pending_chars=10_000)
        router.feed(STDOUT, ["x" * 1000] * 25)
        batch = router.drain()
        assert len(batch.lines) == 10 and batch.dropped == 15

    def test_drain_max_lines_leaves_the_rest(self) -> None:
        router = Router()
        router.feed(STDOUT, [str(i) for i in range(10)])
        assert [ln.text for ln in router.drain(max_lines=4).lines] == ["0", "1", "2", "3"]
        assert len(router.drain().lines) == 6

    def test_ansi_kept_for_display_parsed_on_plain(self) -> None:
        router = Router()
        colored = "\x1b[93m" + format_log_line(stage_started_message("DenoisingStage")) + "\x1b[0;0m"
        router.feed(STDERR, [(colored, False, False)])
        batch = router.drain()
        line = batch.lines[0]
        assert line.text == colored and "\x1b" not in line.plain and line.is_stderr
        assert type(batch.records[0][1]).__name__ == "StageStarted"

    def test_concurrent_feeders_keep_per_stream_order(self) -> None:
        router = Router(max_pending=100_000)
        streams = [f"file:/s{i}" for i in range(4)]

        def feed(stream: str) -> None:
            for start in range(0, 5000, 250):
                router.feed(stream, [f"{stream} {i}" for i in range(start, start + 250)])

        threads = [threading.Thread(target=feed, args=(s,)) for s in streams]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        lines = router.drain().lines
        assert len(lines) == 20_000 and [ln.seq for ln in lines] == list(range(1, 20_001))
        for s in streams:
            assert [int(ln.text.split()[1]) for ln in lines if ln.stream == s] == list(range(5000))


class TestTimings:
    def test_stage_table_progress_and_perf_record(self) -> None:
        router = Router()
        lines = [format_log_line(stage_started_message("TextEncodingStage")),
                 format_log_line(stage_finished_message("TextEncodingStage", 0.25)),
                 format_log_line(stage_started_message("DenoisingStage"))]
        lines += [progress_message(i, 4, i * 0.1) for i in range(5)]
        router.feed(STDOUT, lines)
        cur = router.drain().current
        assert cur is not None and [s.state for s in cur.stages] == ["done", "running"]
        assert cur.progress is not None and cur.progress.step == 4 and len(cur.live_step_s) == 4
        perf = PerfRecord("req-1", "2026-11-26T00:00:00+00:00", "N/A", "pipeline_stage_metrics",
                          (StageTiming("TextEncodingStage", 250.0), StageTiming("DenoisingStage", 400.0)),
                          (100.0, 100.0, 100.0, 100.0), 650.0)
        router.feed(STDOUT, [format_log_line(stage_finished_message("DenoisingStage", 0.4)),
                             format_log_line(output_saved_message("/out/a.png"))])
        router.feed("file:/logs/performance.log", [perf.to_json_line()])
        batch = router.drain()
        assert batch.outputs == ("/out/a.png",) and batch.last_perf == perf
        (done,) = batch.finished_requests
        assert done.finished and done.steps_ms == [100.0] * 4 and done.total_s == 0.65
        assert done.stage_seconds() == {"TextEncodingStage": 0.25, "DenoisingStage": 0.4}
        # The next request starts a new row set; the history keeps the first.
        router.feed(STDOUT, [format_log_line(stage_started_message("TextEncodingStage"))])
        cur = router.drain().current
        assert cur is not None and cur.index == 1 and len(router.history()) == 1

    def test_two_workers_stage_lines_are_told_apart_by_their_rank_tags(self) -> None:
        """``--num-workers 2``: both workers' stage lines interleave on one stdout, each tagged ``DP<r>``
        (``[MM-DD HH:MM:SS DP1]``); each worker gets its own request, the untagged tqdm lines (only
        rank 0 draws the bar) go to rank 0, and each ``performance.log`` record (no tag, the worker's
        request id) joins the request of the worker that announced that id."""
        router = Router()

        def tagged(rank: int, message: str) -> str:
            return format_log_line(message, tag=f"DP{rank}")

        router.feed(STDOUT, [tagged(0, request_started_message("r-0", "1 image(s)")),
                             tagged(1, request_started_message("r-1", "1 image(s)")),
                             tagged(0, stage_started_message("DenoisingStage")),
                             tagged(1, stage_started_message("DenoisingStage")),
                             tagged(1, stage_finished_message("DenoisingStage", 0.3))])
        router.feed(STDERR, [progress_message(i, 2, i * 0.1) for i in range(3)])
        cur = router.drain().current
        assert cur is not None and cur.rank == 0 and cur.progress is not None and cur.progress.step == 2
        assert [s.state for s in cur.stages] == ["running"]
        for rank, total in ((1, 300.0), (0, 500.0)):
            record = PerfRecord(f"r-{rank}", "2026-11-26T00:00:00+00:00", "N/A", "pipeline_stage_metrics",
                                (StageTiming("DenoisingStage", total),), (total / 2, total / 2), total)
            router.feed("file:/logs/performance.log", [record.to_json_line()])
        done = {req.rank: req for req in router.drain().finished_requests}
        assert sorted(done) == [0, 1]
        assert done[0].total_s == 0.5 and done[0].steps_ms == [250.0, 250.0]
        assert done[1].total_s == 0.3 and done[1].stage_seconds() == {"DenoisingStage": 0.3}
        assert len(router.history()) == 2

    def test_a_perf_record_ahead_of_the_last_stage_lines_does_not_split_the_request(self) -> None:
        """On a loaded host the performance.log tailer can hand the record over before the pipe's parser
        reached the request's last lines: those lines still belong to that request (seen under two CPU
        hogs: the summary showed a second request with only the last two stages and one step)."""
        router = Router()
        router.feed(STDOUT, [format_log_line(stage_started_message("TextEncodingStage")),
                             format_log_line(stage_finished_message("TextEncodingStage", 0.25)),
                             format_log_line(stage_started_message("DenoisingStage"))])
        perf = PerfRecord("req-1", "2026-11-26T00:00:00+00:00", "N/A", "pipeline_stage_metrics",
                          (StageTiming("TextEncodingStage", 250.0), StageTiming("DenoisingStage", 400.0),
                           StageTiming("DecodingStage", 100.0)), (200.0, 200.0), 750.0)
        router.feed("file:/logs/performance.log", [perf.to_json_line()])
        # stderr's parse lagged as well: the whole bar comes after the record
        router.feed(STDERR, [*(progress_message(i, 2, i * 0.1) for i in range(3)), progress_message(2, 2, 0.2)])
        router.feed(STDOUT, [format_log_line(stage_finished_message("DenoisingStage", 0.4)),
                             format_log_line(stage_started_message("DecodingStage")),
                             format_log_line(stage_finished_message("DecodingStage", 0.1))])
        batch = router.drain()
        (done,) = batch.finished_requests
        assert done.stage_seconds() == {"TextEncodingStage": 0.25, "DenoisingStage": 0.4, "DecodingStage": 0.1}
        assert batch.current is not None and batch.current.index == 0 and len(router.history()) == 1
        # the next request still starts a request of its own
        router.feed(STDOUT, [format_log_line(stage_started_message("TextEncodingStage"))])
        nxt = router.drain().current
        assert nxt is not None and nxt.index == 1

    def test_untagged_lines_keep_one_request_at_a_time(self) -> None:
        router = Router()
        router.feed(STDOUT, [format_log_line(stage_started_message("DenoisingStage")),
                             format_log_line(stage_started_message("DenoisingStage"))])
        batch = router.drain()
        assert [r.rank for r in batch.finished_requests] == [None]
        assert batch.current is not None and batch.current.index == 1 and batch.current.rank is None

    def test_cuda_error_and_upload_lines(self) -> None:
        router = Router()
        router.feed(STDERR, ["RuntimeError: CUDA error: device-side assert triggered",
                             format_log_line("Uploaded /out/a.png to https://bucket.example/a.png")])
        batch = router.drain()
        assert [ln.plain for ln in batch.cuda_errors] == ["RuntimeError: CUDA error: device-side assert triggered"]
        assert batch.uploads == (("/out/a.png", "https://bucket.example/a.png"),)


class TestKernelApi:
    def test_counts_nan_totals_and_in_flight_at_end(self) -> None:
        router = Router()
        for nans in (3, 4):
            router.feed(STDOUT, kernel_call_begin_lines("backend.attn", [nan_tensor(nans)])
                        + kernel_call_end_lines(nan_tensor(0)))
        router.feed(STDOUT, [format_log_line("ordinary line between blocks")])
        router.feed(STDOUT, kernel_call_begin_lines("backend.vae.decode", [nan_tensor(0)]))
        batch = router.drain()
        assert batch.api_counts == {"backend.attn": 2} and batch.nan_total == 7 and batch.inf_total == 4
        assert [c.api_name for c in router.open_kernel_calls()[STDOUT]] == ["backend.vae.decode"]
        (call,) = router.end_stream(STDOUT)
        assert call.api_name == "backend.vae.decode" and not call.completed
        assert router.drain().kernel_calls == ((STDOUT, call),)

    def test_streams_have_their_own_parsers(self) -> None:
        router = Router()
        begin = kernel_call_begin_lines("a.api", [nan_tensor(0)])
        router.feed(STDOUT, begin[:3])
        router.feed(STDERR, ["noise on stderr"])
        router.feed(STDOUT, begin[3:] + kernel_call_end_lines(nan_tensor(0)))
        assert router.drain().api_counts == {"a.api": 1}
