"""Deterministic demo content: the lines a generation run prints, and a console filled with them.

Why: screenshots, snapshot tests, the UI benchmarks and the test child all need the same
SGLang-shaped output without torch or a GPU.  Test and tooling scaffolding, not product code:
it lives under ``tests/`` (``scripts/screenshots.py`` imports it from there).  The lines are written with
``backend.records``' own writers (so they are exactly what the parsers expect), and the
filled console uses no clock, pid or machine path, so its images are stable.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from backend.records import (
    ArgDesc,
    PerfRecord,
    StageTiming,
    TensorDesc,
    TensorStats,
    format_log_line,
    kernel_call_begin_lines,
    kernel_call_end_lines,
    output_saved_message,
    progress_message,
    stage_finished_message,
    stage_started_message,
)
from tests.console_helpers import pilot_wait_until

WHEN = datetime(2026, 5, 1, 12, 0, 0)
DEMO_ROOT = "/tmp/sgl-demo"
"""Neutral root for every path the demo shows (never a path of the machine that made it)."""


def demo_environ(root: str = DEMO_ROOT, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment with no managed variables and every root under ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "XDG_"))}
    env.update({"HOME": root, "SGLANG_DIFFUSION_CONFIG_ROOT": f"{root}/config",
                "SGLANG_DIFFUSION_CACHE_ROOT": f"{root}/cache", "SGL_CONSOLE_PLATFORMS": "cpu"})
    env.update(extra or {})
    return env


def write_png(path: str, size: int = 32) -> str:
    """A small gradient PNG written with zlib only (deterministic); returns ``path``."""
    rows = b"".join(b"\x00" + bytes(v for x in range(size) for v in (x * 8 % 256, y * 8 % 256, 160))
                    for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def _tensor(shape: tuple[int, ...], nan: int = 0) -> TensorDesc:
    return TensorDesc(shape, "torch.float32", "cpu", stats=TensorStats(-1.5, 2.25, 0.125, nan, 0))


def kernel_block(name: str, nan: int = 0, finish: bool = True) -> list[str]:
    """One kernel API block at level 5 (begin, and end unless the call is to stay in flight)."""
    lines = kernel_call_begin_lines(name, [_tensor((2, 64), nan), _tensor((64,))],
                                    [("eps", ArgDesc("repr", "1e-06"))], when=WHEN)
    if finish:
        lines += kernel_call_end_lines(_tensor((2, 64), nan))
    return lines


STAGES = (("InputValidationStage", 0.0004), ("TextEncodingStage", 0.0121))


def step_ms(step: int, base_ms: float) -> float:
    return base_ms * (1.0 + 0.1 * (step % 3))


def run_lines(steps: int = 8, *, kernel: bool = True, nan_step: int | None = None, output: str | None = None,
              crash_in: str | None = None, base_ms: float = 10.0, cache: bool = False) -> Iterator[tuple[str, str]]:
    """``(stream, line)`` of one request, as our backend (and SGLang) print them.

    Args:
        steps: denoising steps.
        kernel: print kernel API blocks (one per step).
        nan_step: the step whose kernel call reports NaN values.
        output: the saved output path (``Output saved to``), None for no output.
        crash_in: stop after opening a kernel API call of this name (the crash drills).
        base_ms: per-step time written into the performance record.
        cache: add Cache-DiT statistics to the performance record.
    """
    yield "stdout", format_log_line("server_args: ServerArgs(model_path='tiny-shapes', num_gpus=1)", WHEN)
    yield "stderr", format_log_line("\x1b[93mWARNING: cpu run: timings are not representative\x1b[0;0m", WHEN)
    for name, secs in STAGES:
        yield "stdout", format_log_line(stage_started_message(name), WHEN)
        yield "stdout", format_log_line(stage_finished_message(name, secs), WHEN)
    yield "stdout", format_log_line(stage_started_message("DenoisingStage"), WHEN)
    for step in range(steps + 1):
        if step and kernel:
            for line in kernel_block("backend.attention.sdpa", nan=3 if step == nan_step else 0):
                yield "stdout", line
        yield "stdout", progress_message(step, steps, base_ms / 1000 * step)
    denoise = sum(step_ms(s, base_ms) for s in range(1, steps + 1))
    yield "stdout", format_log_line(stage_finished_message("DenoisingStage", denoise / 1000), WHEN)
    yield "stdout", format_log_line(stage_started_message("DecodingStage"), WHEN)
    if crash_in:
        for line in kernel_block(crash_in, finish=False):
            yield "stdout", line
        return
    yield "stdout", format_log_line(stage_finished_message("DecodingStage", 0.0031), WHEN)
    if output:
        yield "stdout", format_log_line(output_saved_message(output), WHEN)
    record = PerfRecord(
        "req-1", "2026-05-01T12:00:00+00:00", "N/A", "pipeline_stage_metrics",
        tuple(StageTiming(n, s * 1000) for n, s in STAGES)
        + (StageTiming("DenoisingStage", denoise), StageTiming("DecodingStage", 3.1)),
        tuple(step_ms(s, base_ms) for s in range(1, steps + 1)), denoise + 15.6,
        cache_stats={"cached_steps": steps // 4, "total_steps": steps} if cache else None,
    )
    yield "stdout", record.to_json_line()


def feed(router: Any, lines: Iterator[tuple[str, str]]) -> None:
    """Feed ``(stream, line)`` pairs to a ``tui.router.Router``, keeping runs of one stream together."""
    stream: str | None = None
    chunk: list[str] = []
    for s, line in lines:
        if s != stream and chunk:
            router.feed(stream, chunk)
            chunk = []
        stream = s
        chunk.append(line)
    if chunk:
        router.feed(stream, chunk)


def process_snapshot(root_pid: int = 4242) -> Any:
    """A fixed process tree (a backend with two workers) for the Process view."""
    from tui.procmon import ProcInfo, TreeSnapshot

    def proc(pid: int, ppid: int | None, name: str, cpu: float, rss_mib: float, threads: int, files: int,
             depth: int) -> ProcInfo:
        return ProcInfo(pid, ppid, name, (name,), "running", cpu, int(rss_mib * 2**20), threads, files, depth)

    return TreeSnapshot(0.0, root_pid, (
        proc(root_pid, 1, "python -m backend generate", 97.0, 812.5, 14, 23, 0),
        proc(root_pid + 1, root_pid, "worker-0", 48.5, 402.1, 6, 9, 1),
        proc(root_pid + 2, root_pid, "worker-1", 47.9, 401.8, 6, 9, 1),
    ))


def reload_event(ok: bool = True) -> Any:
    """A fixed attention-config reload (12:00:05 local time, whatever the time zone)."""
    import time

    from backend.attention_watch import ReloadEvent

    when = time.mktime((2026, 5, 1, 12, 0, 5, 0, 0, -1))
    path = f"{DEMO_ROOT}/attention.json"
    if ok:
        return ReloadEvent(when, path, True, {"sparsity": 0.5}, ("~ sparsity: 0.25 -> 0.5",),
                           backend="video_sparse_attn", seq=2)
    return ReloadEvent(when, path, False, {"sparsity": 0.25}, error="sparsity: fraction of blocks skipped, in [0, 1)"
                       " (got 1.5)", line=2, backend="video_sparse_attn", seq=3)


def fill_console(app: Any, *, runs: int = 2) -> None:
    """Fill a running :class:`tui.app.ConsoleApp`'s views with demo content (no child process).

    Two requests (the second faster, as after a Cache-DiT change) so the history shows a delta;
    a NaN in one kernel call; a fixed process tree; an attention-config reload.
    """
    output = write_png(f"{DEMO_ROOT}/outputs/demo.png")
    for run in range(runs):
        feed(app.router, run_lines(8, nan_step=2 if run == 0 else None, output=output, cache=run > 0,
                                   base_ms=10.0 if run == 0 else 7.5))
    app.engine.dispatch_now()
    process = app.views.process
    process.show_snapshot(process_snapshot())
    process.show_exit(None, "running: pid 4242 (sampled every second)")
    attention = app.views.attention
    attention.show_watching(f"{DEMO_ROOT}/attention.json")
    attention.show_event(reload_event(), resident=True)


DEMO_VALUES = {
    "SGLANG_CACHE_DIT_ENABLED": "true",
    "SGLANG_CACHE_DIT_RDT": "0.12",
    "SGLANG_CACHE_DIT_SECONDARY_WARMUP": "2",
    "SGLANG_DIFFUSION_STAGE_LOGGING": "true",
    "SGLANG_KERNEL_API_LOGLEVEL": "5",
    "SGLANG_CLOUD_STORAGE_TYPE": "s3",
    "SGLANG_S3_BUCKET_NAME": "demo-outputs",
    "SGLANG_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "SGLANG_S3_SECRET_ACCESS_KEY": "not-a-real-secret",
    "SGLANG_USE_ROCM_VAE": "true",
}
"""A session that exercises every kind of field (secret masked, a platform field with no effect)."""

DEMO_TYPING = {"SGLANG_CACHE_DIT_WARMUP": "four", "SGLANG_DIFFUSION_TORCH_PROFILER_DIR": "traces"}
"""Text typed but not valid: the screenshots show the message under the field."""


def fill_settings(app: Any) -> None:
    """Put :data:`DEMO_VALUES` in the session and show them."""
    from tui.messages import SessionChanged

    for name, raw in DEMO_VALUES.items():
        app.session.set(name, raw)
    app.post_message(SessionChanged(None))


def type_invalid(app: Any) -> None:
    """Type :data:`DEMO_TYPING` into the fields that are mounted (as an operator would)."""
    from tui.widgets.var_field import VarField

    for name, raw in DEMO_TYPING.items():
        for field in app.query(f"#field-{name}").results(VarField):
            field.editor.value = raw


def fill_crash(app: Any) -> None:
    """Open the crash screen for a drilled SIGSEGV in ``backend.vae.decode_conv`` (no process)."""
    import signal

    from tui import crash
    from tui.supervisor import ExitStatus

    feed(app.router, run_lines(4, crash_in="backend.vae.decode_conv"))
    app.router.end_stream("stdout")
    report = crash.analyze_router(app.router, ExitStatus.decode(-signal.SIGSEGV),
                                  command="python -m backend generate --prompt 'a red circle'",
                                  run_dir=f"{DEMO_ROOT}/cache/console/runs/demo")
    app.show_crash(report.headline(), report.to_text())


def demo_app(**options: Any) -> Any:
    """The console as the screenshots and snapshot tests show it (``make_app``, demo environment)."""
    from tui.__main__ import make_app

    options.setdefault("environ", demo_environ())
    options.setdefault("host_platforms", frozenset({"cpu"}))
    options.setdefault("half_block", True)
    options.setdefault("watch_config", False)
    options.setdefault("theme", "textual-dark")
    return make_app(session="demo", **options)


SCENES: dict[str, str] = {
    "pane-runtime": "Runtime pane: a typed relative profiler dir with its message under the field",
    "pane-platform": "Platform pane: ROCm VAE on, marked 'no effect on this host' (cpu only)",
    "pane-caching": "Caching pane: Cache-DiT on, RDT 0.12, 'four' rejected for WARMUP",
    "pane-storage": "Storage pane: S3 on with a bucket and endpoint, the secret masked",
    "pane-debug": "Debug pane: kernel API level 5 selected",
    "view-output": "Output view: stderr marked, kernel API blocks, follow on",
    "view-timings": "Timings view: stages, per-step chart, two runs with deltas and cache hit ratio",
    "view-kernel": "Kernel API view: blocks, NaN counts highlighted, calls per API, block detail",
    "view-process": "Process view: a backend with two workers, CPU/RSS/threads/files, exit decoded",
    "view-image": "Image view: the last output as half-blocks, with its path",
    "view-attention": "Attention view: reload time, the diff, the resident-backend note",
    "screen-crash": "Crash report: SIGSEGV with the in-flight kernel API call and its arguments",
    "screen-diff": "Diff screen: the demo session against the defaults (the secret masked)",
    "screen-refused": "Run refused: storage on without a bucket, the run bar names the variable",
    "ansi-pane-caching": "Caching pane in 16 colours (ansi-dark theme: the terminal's own palette)",
    "ansi-view-kernel": "Kernel API view in 16 colours, NaN still highlighted",
}
"""Every pane, view and screen the screenshots show, with what each image shows."""


def scene_app(scene: str) -> Any:
    """The demo app for ``scene``: ``ansi-`` scenes use the 16-colour theme."""
    return demo_app(theme="ansi-dark" if scene.startswith("ansi-") else "textual-dark")



def no_blink(app: Any) -> None:
    """Stop every Input's cursor from blinking: a snapshot must not depend on when it is taken."""
    from textual.widgets import Input

    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False


async def stage(pilot: Any, scene: str) -> None:
    """Bring the demo app of ``pilot`` to ``scene`` (one of :data:`SCENES`), by key presses from
    the app's real start where an operator would use keys (F2 cycles panes, F3 views)."""
    from backend.envs import Pane

    app = pilot.app
    scene = scene.removeprefix("ansi-")
    await pilot_wait_until(pilot, lambda: app.settled)
    kind, _, name = scene.partition("-")
    panes = [p.name.lower() for p in Pane]
    from tui.command_palette import VIEWS

    views = [view for view, _ in VIEWS]
    if kind == "pane":
        fill_settings(app)
        await pilot.press(*["f2"] * panes.index(name))
        await pilot_wait_until(pilot, lambda: app.query_one(f"#pane-{name}").loaded)
        await pilot.pause()
        type_invalid(app)
        await pilot.pause()
        from tui.widgets.var_field import VarField

        typed = [f for f in app.query(VarField) if f.var.name in DEMO_TYPING and f.var.pane.name.lower() == name]
        if typed:
            typed[0].editor.focus()
            typed[0].scroll_visible(animate=False, top=True)
    elif kind == "view":
        fill_console(app)
        await pilot.press(*["f3"] * (views.index(name) + 1))
        await pilot_wait_until(pilot, lambda: app.shown_view is getattr(app.views, name))
        # the tab underline is placed after the first layout of a freshly composed tab row
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        if name == "kernel":
            app.views.kernel.table.move_cursor(1)
    elif scene == "screen-crash":
        fill_crash(app)
    elif scene == "screen-diff":
        fill_settings(app)
        await pilot.pause()
        app.action_diff()
    elif scene == "screen-refused":
        fill_settings(app)
        app.session.unset("SGLANG_S3_BUCKET_NAME")
        from tui.messages import SessionChanged

        app.post_message(SessionChanged(None))
        await pilot.pause()
        await pilot.press(*["f2"] * panes.index("storage"))
        await pilot_wait_until(pilot, lambda: app.query_one("#pane-storage").loaded)
        await pilot.press("f5")
    await pilot.pause()
    no_blink(app)
    await pilot.pause()
