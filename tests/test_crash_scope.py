"""crash_scope: cutting merged log lines into requests, per worker when the lines carry ``DP<r>`` tags."""

from __future__ import annotations

from backend.records import (
    format_log_line,
    progress_message,
    request_started_message,
    stage_error_message,
    stage_finished_message,
    stage_started_message,
)
from tui.crash_scope import build_timeline, stamp_lines


def test_two_workers_lines_make_two_requests_and_the_failed_one_is_found_by_rank() -> None:
    """Worker 1 fails in its denoising stage while worker 0 goes on and finishes: each worker's tagged
    lines make its own request, tqdm's untagged bar is rank 0's, and the failure is scoped to worker 1."""
    def w(rank: int, message: str) -> str:
        return format_log_line(message, tag=f"DP{rank}")

    lines = [
        w(0, request_started_message("r-0", "1 image(s)")), w(1, request_started_message("r-1", "1 image(s)")),
        w(0, stage_started_message("DenoisingStage")), w(1, stage_started_message("DenoisingStage")),
        progress_message(0, 4, 0.0),
        w(1, stage_error_message("DenoisingStage", 12.5, "CUDA error: device-side assert triggered")),
        progress_message(1, 4, 0.1),
        w(0, stage_finished_message("DenoisingStage", 0.4)),
        format_log_line("Worker 0 (pid 11) finished: 1 output(s), exit code 0"),
    ]
    timeline = build_timeline(stamp_lines("out.log", lines))
    by_rank = {r.rank: r for r in timeline.requests}
    assert sorted(by_rank) == [0, 1] and len(timeline.requests) == 2
    failed = timeline.last_of(1)
    assert failed is by_rank[1] and failed.request_id == "r-1" and failed.failed_stage == "DenoisingStage"
    assert failed.errors and failed.errors[0].fatal, "nothing of worker 1 ran after its error"
    assert by_rank[0].stage_in_flight is None and by_rank[0].total_steps == 4
    assert timeline.last_of(7) is timeline.last


def test_untagged_lines_still_make_one_request_after_another() -> None:
    lines = [format_log_line(stage_started_message("DenoisingStage")),
             format_log_line(stage_finished_message("DenoisingStage", 0.1)),
             format_log_line(stage_started_message("DenoisingStage"))]
    timeline = build_timeline(stamp_lines("out.log", lines))
    assert [r.rank for r in timeline.requests] == [None, None]
    assert timeline.last is not None and timeline.last.stage_in_flight == "DenoisingStage"
