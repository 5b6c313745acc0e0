"""``serve --num-workers N``: N resident worker processes, each with its own model on its own device.

Why a pool and not one runtime: data-parallel serving, as SGLang's scheduler processes do on several
GPUs.  The parent (HTTP, stdin, queue) stays torch-free; worker ``r`` loads the model once on
``cuda:r`` when several GPUs are visible (``backend.pipeline.device.place_worker``), tags its lines
``DP<r>``, carries only the faults scoped to it (``,rank=r``), and runs one request at a time from
its own queue.  A request goes to an idle worker, so up to N requests run side by side.  Each worker
watches the attention config file itself and applies a change between its requests; the dev routes
that read the model (``devserver.MODEL_ROUTES``) are asked of every worker and answered together.

A worker that dies is the server's death, as a GPU worker's is upstream's: its request is answered
with an error naming the worker, the others are stopped at their next step boundary, and ``serve``
exits with the worker-failed code so the console's crash report runs.  SIGTERM is forwarded: each
worker abandons its request at the next step boundary and answers it; every wait is bounded.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
import time
from argparse import Namespace
from dataclasses import dataclass
from typing import Any

from backend import envs
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import get_logger
from backend.pipeline.request import GenerationRequest, GenerationResult
from backend.records.request_records import request_started_message
from backend.records.worker_lines import worker_died_message, worker_finished_message
from backend.server.devserver import model_answer, workers_answer
from backend.server.workers import STOP_GRACE_S, worker_preamble

log = get_logger("workers")
ASK = "ask"
"""A worker's queue item ``(ASK, path)``: answer a dev route (``devserver.model_answer``) between requests."""


def _pool_worker_main(rank: int, args: dict[str, Any], jobs: Any, results: Any, workers: int,
                      parent_pid: int) -> None:
    """One resident worker: load, say ready, then answer requests from ``jobs`` until None or a stop."""
    cancel, ns, settings = worker_preamble(rank, args, workers, parent_pid)
    from backend.logging_setup import flush_all
    from backend.server.runtime import Runtime, install_faults

    outputs = 0
    try:
        install_faults(ns.inject_fault, rank, workers)
        runtime = Runtime(settings, ns, rank=rank, workers=workers)
        runtime.start()
        from backend.server.config_watch import watch_loaded_config  # after the faults: it imports attention

        stage = watch_loaded_config()
    except BackendError as exc:
        log.error(exc.message)
        flush_all()
        results.put({"rank": rank, "error": exc.message, "exit_code": int(exc.code)})
        sys.exit(int(exc.code))
    results.put({"rank": rank, "pid": os.getpid(), "ready": True})
    while not cancel.cancelled:
        try:
            item = jobs.get(timeout=0.2)
        except queue.Empty:
            continue
        if item is None:
            break
        if item[0] == ASK:
            status, body = model_answer(item[1], runtime, stage)
            results.put({"rank": rank, "asked": {"rank": rank, "pid": os.getpid(), "status": status, **body}})
            continue
        ticket, req = item
        if stage is not None:
            stage.apply_pending()
        log.info(request_started_message(req.request_id, f"{req.batch_size} image(s) on worker {rank}"))
        cancel.immediate = False
        result = runtime.generate(req, cancel)
        cancel.immediate = True
        outputs += len(result.paths)
        flush_all()
        results.put({"rank": rank, "ticket": ticket, "result": result})
    if stage is not None:
        stage.stop()
    log.info(worker_finished_message(rank, os.getpid(), outputs, 0))
    flush_all()


@dataclass
class _Worker:
    rank: int
    proc: Any
    jobs: Any
    ready: bool = False
    ticket: Any = None
    """The request it runs now (the server's job), None when idle."""
    dead: bool = False

    def give_up(self, error: str, code: ExitCode) -> list[tuple[Any, GenerationResult]]:
        """Its request, if any, answered with ``error`` (it will not answer it itself)."""
        if self.ticket is None:
            return []
        ticket, self.ticket = self.ticket, None
        return [(ticket, GenerationResult(request_id="", error=error, exit_code=int(code), pid=self.proc.pid or 0))]


class WorkerPool:
    """The parent's side: start, dispatch to an idle worker, collect answers, notice a death, stop."""

    def __init__(self, settings: envs.Settings, args: Namespace) -> None:
        self.method = settings[envs.WORKER_MULTIPROC_METHOD]
        self._ctx = mp.get_context(self.method)
        self._args = args
        self._results = self._ctx.Queue()
        self._workers: list[_Worker] = []
        self.failed: str | None = None
        """Why the pool cannot serve any more (a worker died or failed to start), else None."""
        self._stopping = False
        self._asks: list[tuple[Any, str]] = []
        """Dev-route questions (job, path) waiting for their turn; the first is out when ``_answers`` is not None."""
        self._answers: dict[int, dict[str, Any]] | None = None
        self._done_asks: list[tuple[Any, tuple[int, dict[str, Any]]]] = []

    @property
    def size(self) -> int:
        return self._args.num_workers

    def start(self, stop: Any) -> bool:
        """Start every worker and wait until each has loaded its model; False when ``stop`` was set
        or a worker failed meanwhile (then :attr:`failed` says why)."""
        args = dict(vars(self._args))
        for rank in range(self.size):
            jobs = self._ctx.Queue()
            proc = self._ctx.Process(target=_pool_worker_main, name=f"sgl-backend-worker-{rank}",
                                     args=(rank, args, jobs, self._results, self.size, os.getpid()))
            proc.start()
            log.info("Started worker %d (pid %s, %s): serving", rank, proc.pid, self.method)
            self._workers.append(_Worker(rank, proc, jobs))
        while not all(w.ready for w in self._workers):
            if stop.is_set():
                return False
            self.collect(0.2)
            if self.failed:
                return False
        return True

    def idle(self) -> bool:
        """A worker is ready and has no request."""
        return any(w.ready and w.ticket is None for w in self._workers)

    def busy(self) -> bool:
        return any(w.ticket is not None for w in self._workers)

    def dispatch(self, ticket: Any, req: GenerationRequest) -> None:
        """Give ``req`` to an idle worker (call only when :meth:`idle`)."""
        worker = next(w for w in self._workers if w.ready and w.ticket is None)
        worker.ticket = ticket
        worker.jobs.put((id(ticket), req))

    def ask(self, job: Any, path: str) -> None:
        """Ask every worker ``path`` (a dev route), between its requests; answered through :meth:`asked`."""
        self._asks.append((job, path))
        self._next_ask()

    def _next_ask(self) -> None:
        if self._answers is not None or not self._asks:
            return
        self._answers = {}
        for worker in self._workers:
            if not worker.dead:
                worker.jobs.put((ASK, self._asks[0][1]))

    def asked(self) -> list[tuple[Any, tuple[int, dict[str, Any]]]]:
        """Questions every live worker has answered, as ``(job, (status, body))``."""
        live = [w.rank for w in self._workers if not w.dead]
        if self._answers is not None and self._asks and all(r in self._answers for r in live):
            job, _path = self._asks.pop(0)
            self._done_asks.append((job, workers_answer(list(self._answers.values()))))
            self._answers = None
            self._next_ask()
        done, self._done_asks = self._done_asks, []
        return done

    def abandon_asks(self) -> list[Any]:
        """The jobs of questions left unanswered (the pool stopped)."""
        jobs = [job for job, _path in self._asks]
        self._asks, self._answers = [], None
        return jobs

    def collect(self, timeout: float) -> list[tuple[Any, GenerationResult]]:
        """Answers that arrived within ``timeout`` as ``(ticket, result)``.  A worker found dead
        outside :meth:`stop` fails the pool; its request is answered with an error naming it."""
        done = self._drain(timeout)
        for worker in self._workers:
            if worker.dead or worker.proc.is_alive():
                continue
            done += self._drain(1.0 if worker.ticket is not None else 0.0)  # its last answer may still be queued
            worker.dead = True
            worker.proc.join(timeout=1)
            if self._stopping:
                continue
            log.error(worker_died_message(worker.rank, worker.proc.pid, worker.proc.exitcode))
            why = f"worker {worker.rank} (pid {worker.proc.pid}) died (exit status {worker.proc.exitcode})"
            self.failed = self.failed or why
            done += worker.give_up(f"{why} while running this request", ExitCode.WORKER_FAILED)
        return done

    def _drain(self, timeout: float) -> list[tuple[Any, GenerationResult]]:
        done: list[tuple[Any, GenerationResult]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self._results.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return done
            worker = self._workers[msg["rank"]]
            if msg.get("ready"):
                worker.ready = True
                log.info("Worker %d (pid %s) ready", worker.rank, msg["pid"])
            elif "error" in msg:
                self.failed = self.failed or f"worker {worker.rank} failed to start: {msg['error']}"
            elif "asked" in msg:
                if self._answers is not None:
                    self._answers[worker.rank] = msg["asked"]
            elif worker.ticket is not None and msg.get("ticket") == id(worker.ticket):
                done.append((worker.ticket, msg["result"]))
                worker.ticket = None

    def stop(self, abandon: bool) -> list[tuple[Any, GenerationResult]]:
        """End every worker: ``abandon`` (a stop signal, a dead worker) forwards SIGTERM, so requests
        in flight end at their next step boundary and are answered; else idle workers are told to
        exit.  Bounded: a worker still alive after the grace is killed.  Returns the last answers."""
        self._stopping = True
        answers: list[tuple[Any, GenerationResult]] = []
        for worker in self._workers:
            if not worker.proc.is_alive():
                continue
            if abandon and worker.proc.pid:
                os.kill(worker.proc.pid, signal.SIGTERM)
            else:
                worker.jobs.put(None)
        deadline = time.monotonic() + STOP_GRACE_S
        while any(w.proc.is_alive() for w in self._workers) and time.monotonic() < deadline:
            answers += self.collect(0.2)
        for worker in self._workers:
            if worker.proc.is_alive():
                log.warning("Worker %d (pid %s) did not stop within %.0f s: killed", worker.rank, worker.proc.pid,
                            STOP_GRACE_S)
                worker.proc.kill()
            worker.proc.join(timeout=5)
        answers += self.collect(0.0)
        for worker in self._workers:
            answers += worker.give_up(f"worker {worker.rank} (pid {worker.proc.pid}) ended before answering",
                                      ExitCode.CANCELLED)
        return answers
