"""``--num-workers N``: split one batch over N worker processes.

The start method is ``SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD`` (fork or spawn).  The parent never
imports torch, so ``fork`` is safe (no OpenMP/CUDA state to inherit) and every worker loads its own
model.  Worker ``r`` generates images ``[offset, offset + size)`` of the batch with seeds
``seed + index``, so an image does not depend on how the batch was split.  Each worker is its own
pid (``%i`` log paths differ), runs on its own GPU when several are visible (``cuda:r``, see
``backend.pipeline.device.place_worker``), carries only the faults scoped to it (``,rank=r``),
writes its own ``performance.log`` line and profiler trace
(``-rank-<r>``), and reports back on a queue.  SIGTERM to the parent is forwarded to the workers,
which abandon at their next step boundary; every wait is bounded.  A stop ends with 143 (cancelled)
even when a worker had to be killed (a hung one) rather than reporting.

Workers die with their parent: on Linux each sets ``PR_SET_PDEATHSIG`` (SIGTERM, honoured at the next
step) first thing, and exits at once if the parent is already gone, so a SIGKILLed backend leaves
no worker behind.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
from argparse import Namespace
from dataclasses import replace
from typing import Any

from backend import envs
from backend.exit_codes import ExitCode
from backend.logging_setup import get_logger
from backend.pipeline.request import CancelToken, new_request_id
from backend.records.request_records import request_started_message
from backend.records.worker_lines import worker_died_message, worker_finished_message

log = get_logger("workers")
STOP_GRACE_S = 20.0


def split_batch(batch: int, workers: int) -> list[tuple[int, int]]:
    """``(offset, size)`` per worker; sizes differ by at most one, no worker gets zero."""
    workers = max(1, min(workers, batch))
    base, extra = divmod(batch, workers)
    out, offset = [], 0
    for rank in range(workers):
        size = base + (1 if rank < extra else 0)
        out.append((offset, size))
        offset += size
    return out


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux only).

    Returns False where that is not available.  Exits at once (143) when the parent has already gone,
    the race ``prctl`` alone cannot close.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent_pid:
        os._exit(int(ExitCode.CANCELLED))
    return True


def worker_preamble(rank: int, args: dict[str, Any], workers: int,
                    parent_pid: int | None) -> tuple[CancelToken, Namespace, envs.Settings]:
    """What every worker process does first (generate's and serve's alike): stop handlers before
    anything else (a fork child still has the parent's), die with the parent, share the cores, log
    with its ``DP<rank>`` tag, mask secrets, keep its outputs private."""
    from backend.logging_setup import configure, effective_level, redact_settings, tag_lines
    from backend.server.stop_signals import install_stop_handlers

    cancel = CancelToken(immediate=True)
    install_stop_handlers(cancel)
    die_with_parent(parent_pid if parent_pid is not None else os.getppid())
    if "OMP_NUM_THREADS" not in os.environ:  # share the cores instead of oversubscribing them
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    ns = Namespace(**args)
    settings = envs.load_settings()
    configure(effective_level(settings[envs.LOGGING_LEVEL], ns.log_level))
    tag_lines(f"DP{rank}")  # [MM-DD HH:MM:SS DP1]: the console tells the workers' stage lines apart
    redact_settings(settings)
    os.umask(0o077)
    return cancel, ns, settings


def _worker_main(rank: int, args: dict[str, Any], offset: int, size: int, request_id: str, results: Any,
                 workers: int = 1, parent_pid: int | None = None) -> None:
    cancel, ns, settings = worker_preamble(rank, args, workers, parent_pid)
    from backend.exit_codes import BackendError
    from backend.logging_setup import flush_all
    from backend.server.cli import request_from_args
    from backend.server.runtime import Runtime, install_faults

    report: dict[str, Any] = {"rank": rank, "pid": os.getpid(), "paths": [], "exit_code": 0, "error": None}
    try:
        install_faults(ns.inject_fault, rank, workers)
        log.info("Worker %d (pid %d) started (%s): images %d..%d", rank, os.getpid(),
                 settings[envs.WORKER_MULTIPROC_METHOD], offset, offset + size - 1)
        runtime = Runtime(settings, ns, rank=rank, workers=workers)
        runtime.start()
        req = replace(request_from_args(ns), batch_size=size, index_offset=offset, request_id=f"{request_id}-{rank}")
        if ns.perf_dump_path:
            stem, ext = os.path.splitext(ns.perf_dump_path)
            req.perf_dump_path = f"{stem}-rank-{rank}{ext or '.json'}"
        log.info(request_started_message(req.request_id, f"{size} image(s) from index {offset}"))
        cancel.immediate = False
        result = runtime.generate(req, cancel)
        report.update(paths=result.paths, exit_code=result.exit_code, error=result.error)
    except BackendError as exc:
        log.error(exc.message)
        report.update(exit_code=int(exc.code), error=exc.message)
    finally:
        flush_all()
    results.put(report)
    sys.exit(report["exit_code"])


def run_workers(args: Namespace, settings: envs.Settings) -> int:
    """Start the workers, wait for them (bounded), and combine their exit codes."""
    method = settings[envs.WORKER_MULTIPROC_METHOD]
    ctx = mp.get_context(method)
    chunks = split_batch(args.batch_size, args.num_workers)
    if len(chunks) < args.num_workers:
        log.warning("--num-workers %d is more than --batch-size %d; starting %d worker(s)",
                    args.num_workers, args.batch_size, len(chunks))
    results = ctx.Queue()
    request_id = new_request_id()
    stop = CancelToken()
    signal.signal(signal.SIGTERM, lambda *_: stop.cancel())
    signal.signal(signal.SIGINT, lambda *_: stop.cancel())
    procs = []
    for rank, (offset, size) in enumerate(chunks):
        proc = ctx.Process(target=_worker_main, name=f"sgl-backend-worker-{rank}",
                           args=(rank, vars(args), offset, size, request_id, results, len(chunks), os.getpid()))
        proc.start()
        log.info("Started worker %d (pid %s, %s): %d image(s)", rank, proc.pid, method, size)
        procs.append(proc)
    reports: dict[int, dict[str, Any]] = {}
    forwarded_at: float | None = None
    while any(p.is_alive() for p in procs) or not results.empty():
        if stop.cancelled and forwarded_at is None:
            forwarded_at = time.monotonic()
            for p in procs:
                if p.is_alive() and p.pid:
                    os.kill(p.pid, signal.SIGTERM)
        if forwarded_at is not None and time.monotonic() - forwarded_at > STOP_GRACE_S:
            for p in procs:
                if p.is_alive():
                    p.kill()
        try:
            report = results.get(timeout=0.2)
        except queue.Empty:
            continue
        reports[report["rank"]] = report
    for p in procs:
        p.join(timeout=5)
    code = 0
    for rank, p in enumerate(procs):
        report = reports.get(rank)
        if report is None and stop.cancelled:
            log.warning("Worker %d (pid %s) stopped without a result (exit status %s)", rank, p.pid, p.exitcode)
            code = code or int(ExitCode.CANCELLED)
            continue
        if report is None:
            log.error(worker_died_message(rank, p.pid, p.exitcode))
            code = code or int(ExitCode.WORKER_FAILED)
            continue
        log.info(worker_finished_message(rank, report["pid"], len(report["paths"]), report["exit_code"]))
        if report["exit_code"] and not code:
            code = int(report["exit_code"])
    if stop.cancelled and code in (0, int(ExitCode.CANCELLED)):
        return int(ExitCode.CANCELLED)
    return code
