"""``sgl-backend serve``: load the model once, answer requests until SIGTERM or the end of stdin.

Requests come as JSON lines on stdin (one response JSON line each on stdout) and as HTTP on
127.0.0.1:``--port`` (``POST /v1/images/generations``, OpenAI-style).  Both feed one queue that the
main thread drains, so requests run one at a time and attention-config changes are applied between
them.  Body (both transports)::

    {"prompt": "a red circle", "n": 1, "size": "64x64", "steps": 4, "seed": 42,
     "negative_prompt": null, "guidance_scale": null, "output_file_name": null, "perf_dump_path": null,
     "id": "client-chosen, echoed back"}

Bodies are untrusted: ``output_file_name`` and ``perf_dump_path`` are bare file names placed in
``--output-path`` (see ``request_body``); HTTP accepts ``application/json`` only, refuses browser
``Origin``s unless ``--allow-origin`` names them, and bounds ``steps`` by ``--max-steps``.

Answer: ``{"id", "created", "data": [{"path", "url"}], "request_id", "pid", "paths", "urls", "timings",
"attention", "error", "exit_code", ...}``; HTTP status 200, 400 (bad request), 500 (failure), 503
(stopping).

Stopping: SIGTERM/SIGINT only set an event; the request in flight is abandoned at its next step
boundary and answered with an error, the HTTP server and watcher stop, logs are flushed, exit 0.
End of stdin: queued requests finish first, then the same shutdown.

``--num-workers N``: N resident worker processes (``backend.server.worker_pool``), one model each, one
device each when several GPUs are visible; requests go to an idle worker, so up to N run at once.  ``--no-stdin`` (or a stdin that
is /dev/null, as a supervisor's ``stdin=DEVNULL`` gives) leaves only the signals.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import stat
import sys
import threading
import time
from argparse import Namespace
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from backend import envs
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import emit_raw, flush_all, get_logger
from backend.pipeline.limits import Limits
from backend.pipeline.request import CancelToken, GenerationRequest, GenerationResult
from backend.server import devserver
from backend.server.answers import error_answer
from backend.server.request_body import request_from_body
from backend.server.runtime import Runtime
from backend.server.worker_pool import WorkerPool

log = get_logger("serve")
MAX_BODY = 1 << 20
HTTP_WAIT_S = 3600.0


@dataclass
class Job:
    kind: str
    """``generate``, ``ask`` (a dev route for the model's process: ``path``) or ``eof``."""
    request: GenerationRequest | None = None
    client_id: Any = None
    source: str = "http"
    done: threading.Event = field(default_factory=threading.Event)
    answer: tuple[int, dict[str, Any]] | None = None
    path: str = ""
    """For ``ask``: the dev route."""


def stdin_is_a_stream() -> bool:
    """False when stdin is /dev/null (a supervisor's ``stdin=DEVNULL``): its instant EOF is not "stop"."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return not (stat.S_ISCHR(mode) and not sys.stdin.isatty())


def answer_for(result: GenerationResult, client_id: Any) -> tuple[int, dict[str, Any]]:
    body = {"id": client_id, "created": int(time.time()),
            "data": [{"path": p, "url": result.urls.get(p)} for p in result.paths], **result.to_json()}
    if result.error is None or result.exit_code == int(ExitCode.UPLOAD_FAILED):
        return 200, body
    status = {int(ExitCode.BAD_REQUEST): 400, int(ExitCode.CANCELLED): 503}.get(result.exit_code, 500)
    body["error"] = {"message": result.error, "type": ExitCode(result.exit_code).name.lower(), "code": result.exit_code}
    return status, body


class Server:
    """The resident backend: one runtime, one queue, two transports."""

    def __init__(self, settings: envs.Settings, args: Namespace) -> None:
        self.settings = settings
        self.args = args
        self.runtime = Runtime(settings, args)
        """This process's model (loaded by :meth:`run`); with ``--num-workers`` never loaded: the workers' are."""
        self.pool = WorkerPool(settings, args) if getattr(args, "num_workers", 1) > 1 else None
        self.limits = Limits.from_args(args)
        self.dev_mode = bool(settings[envs.SERVER_DEV_MODE])
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.asks: queue.Queue[Job] = queue.Queue()
        """With workers: dev-route questions, handed to the pool at once (not behind an idle worker)."""
        self.stop = threading.Event()
        self.cancel = CancelToken()
        self.stopping = False
        self.loading = True
        """Until the model is loaded a stop signal exits at once."""
        self.busy = False
        self.served = 0
        self.started = time.monotonic()
        self.watcher: Any = None
        self.httpd: ThreadingHTTPServer | None = None

    # -- transports ---------------------------------------------------------------------------------

    def submit(self, job: Job, wait: bool, lane: queue.Queue[Job] | None = None) -> tuple[int, dict[str, Any]]:
        if self.stopping:
            return error_answer(503, "the backend is stopping", ExitCode.CANCELLED, job.client_id)
        (lane or self.jobs).put(job)
        if not wait:
            return 202, {}
        if not job.done.wait(HTTP_WAIT_S):
            return error_answer(504, "timed out waiting for the request", ExitCode.RUNTIME_ERROR, job.client_id)
        assert job.answer is not None
        return job.answer

    def ask_model(self, path: str) -> tuple[int, dict[str, Any]]:
        """A dev route for the model's process: the reload runs between requests (queued), the
        others read this process's model at once; with workers every route is asked of each."""
        if self.pool is None and path != "/dev/reload-attention-config":
            return devserver.model_answer(path, self.runtime, self.watcher)
        return self.submit(Job("ask", path=path), wait=True, lane=self.asks if self.pool is not None else None)

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            client_id = None
            try:
                body = json.loads(line)
                client_id = body.get("id") if isinstance(body, dict) else None
                req = request_from_body(body, self.args.output_path, limits=self.limits)
            except (ValueError, BackendError) as exc:
                message = exc.message if isinstance(exc, BackendError) else f"Bad request: invalid JSON: {exc}"
                log.error(message)
                emit_raw(json.dumps(error_answer(400, message, ExitCode.BAD_REQUEST, client_id)[1]))
                continue
            self.submit(Job("generate", req, client_id, "stdin"), wait=False)
        self.jobs.put(Job("eof"))

    def _start_http(self) -> None:
        server = self
        handler = type("Handler", (_Handler,), {"server_ref": server})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.args.port), handler)
        self.httpd.daemon_threads = True
        port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="http",
                         daemon=True).start()
        log.info("Serving on http://127.0.0.1:%d (POST /v1/images/generations%s)", port,
                 "; dev endpoints on" if self.dev_mode else "")

    # -- the main loop ------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop.set()
        self.cancel.cancel()
        if self.loading and self.pool is None:  # nothing to finish while the model loads: stop now
            self.loading = False
            raise SystemExit(0)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if self.pool is not None:
            return self._run_pool(self.pool)
        try:
            self.runtime.start()
        except SystemExit:
            log.info("Stopped before serving (signal during start-up)")
            raise
        self.loading = False
        if self.stop.is_set():
            log.info("Stopped before serving (signal during start-up)")
            return 0
        self._start_watcher()
        self._start_transports()
        reason = "SIGTERM"
        while not self.stop.is_set():
            try:
                job = self.jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            if job.kind == "eof":
                reason = "end of stdin"
                break
            self._process(job)
        self._shutdown(reason)
        return 0

    def _start_transports(self) -> None:
        try:
            self._start_http()
        except OSError as exc:
            raise BackendError(ExitCode.USAGE, f"Cannot listen on 127.0.0.1:{self.args.port}: {exc}") from None
        if self.args.stdin and stdin_is_a_stream():
            threading.Thread(target=self._read_stdin, name="stdin", daemon=True).start()
        elif self.args.stdin:
            log.info("stdin is /dev/null: requests over HTTP only; stop with SIGTERM")

    def _run_pool(self, pool: WorkerPool) -> int:
        """``--num-workers``: the workers load their models; requests go to an idle worker, so up to
        N run side by side.  A dead worker ends the server (exit code worker-failed)."""
        started = pool.start(self.stop)
        self.loading = False
        if not started:
            self._answer_all(pool.stop(abandon=True))
            if pool.failed:
                log.error("Cannot serve: %s", pool.failed)
                return int(ExitCode.WORKER_FAILED)
            log.info("Stopped before serving (signal during start-up)")
            return 0
        log.info("%d workers serving; each watches the attention config and applies a change between its "
                 "requests", pool.size)
        try:
            self._start_transports()
        except BackendError:
            pool.stop(abandon=True)
            raise
        reason, eof = "SIGTERM", False
        while not self.stop.is_set():
            self._answer_all(pool.collect(0.05))
            while not self.asks.empty():
                ask = self.asks.get_nowait()
                pool.ask(ask, ask.path)
            self._answer_asks(pool.asked())
            self.busy = pool.busy()
            if pool.failed:
                reason = pool.failed
                break
            if eof and not self.busy:
                reason = "end of stdin"
                break
            if eof or not pool.idle():
                continue
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                continue
            if job.kind == "eof":
                eof = True
            else:
                assert job.request is not None
                pool.dispatch(job, job.request)
        self.stopping = True
        self._answer_all(pool.stop(abandon=reason != "end of stdin"))
        self._answer_asks(pool.asked())
        for job in pool.abandon_asks():
            job.answer = error_answer(503, "the backend stopped before every worker answered", ExitCode.CANCELLED)
            job.done.set()
        self._shutdown(reason)
        return int(ExitCode.WORKER_FAILED) if pool.failed else 0

    def _answer_all(self, answers: list[tuple[Any, GenerationResult]]) -> None:
        for job, result in answers:
            self._answer(job, result)

    def _answer_asks(self, answers: list[tuple[Any, tuple[int, dict[str, Any]]]]) -> None:
        for job, answer in answers:
            job.answer = answer
            job.done.set()

    def _answer(self, job: Job, result: GenerationResult) -> None:
        self.served += 1
        job.answer = answer_for(result, job.client_id)
        if job.source == "stdin":
            emit_raw(json.dumps(job.answer[1]))
        job.done.set()

    def _start_watcher(self) -> None:
        from backend.server.config_watch import watch_loaded_config

        self.watcher = watch_loaded_config()

    def _process(self, job: Job) -> None:
        if job.kind == "ask":
            job.answer = devserver.model_answer(job.path, self.runtime, self.watcher)
            job.done.set()
            return
        assert job.request is not None
        if self.watcher is not None:
            self.watcher.apply_pending()
        self.busy = True
        try:
            result = self.runtime.generate(job.request, self.cancel)
        finally:
            self.busy = False
        self._answer(job, result)

    def _shutdown(self, reason: str) -> None:
        self.stopping = True
        log.info("Shutting down (%s)", reason)
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.watcher is not None:
            self.watcher.stop()
        while True:
            try:
                job = self.jobs.get_nowait() if not self.jobs.empty() else self.asks.get_nowait()
            except queue.Empty:
                break
            job.answer = error_answer(503, "the backend stopped before this request ran", ExitCode.CANCELLED,
                                      job.client_id)
            job.done.set()
        log.info("Server stopped after %d request(s)", self.served)
        flush_all()


class _Handler(BaseHTTPRequestHandler):
    server_ref: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info('%s - "%s" %s', self.client_address[0], self.requestline, args[1] if len(args) > 1 else "")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        dev = devserver.handle(self.server_ref, method, path)
        if dev is not None:
            self._send(*dev)
            return
        if method == "POST" and path == "/v1/images/generations":
            self._generate()
            return
        self._send(404, {"error": {"message": f"no route {method} {path}", "type": "not_found", "code": 404}})

    def _body_length(self) -> int | None:
        """The declared body length, or None after answering 400/411/413 for a missing or bad one."""
        raw = self.headers.get("Content-Length")
        if raw is None:
            self._send(*error_answer(411, "Content-Length is required", ExitCode.BAD_REQUEST))
            return None
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            self._send(*error_answer(400, f"Content-Length {raw[:40]!r} is not a byte count", ExitCode.BAD_REQUEST))
            return None
        if length > MAX_BODY:
            self._send(*error_answer(413, f"body of {length} bytes is over the {MAX_BODY}-byte limit",
                                     ExitCode.BAD_REQUEST))
            return None
        return length

    def _refused_origin(self) -> bool:
        """Browsers send Origin on cross-site requests: refuse them unless the operator allowed that origin."""
        origin = self.headers.get("Origin")
        if origin is None or origin in (self.server_ref.args.allow_origin or []):
            return False
        self._send(*error_answer(403, f"requests from origin {origin[:80]!r} are refused (serve --allow-origin)",
                                 ExitCode.BAD_REQUEST))
        return True

    def _generate(self) -> None:
        if self._refused_origin():
            return
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            self.close_connection = True
            self._send(*error_answer(415, f"Content-Type must be application/json, got {content_type[:60]!r}",
                                     ExitCode.BAD_REQUEST))
            return
        length = self._body_length()
        if length is None:
            self.close_connection = True
            return
        client_id = None
        try:
            body = json.loads(self.rfile.read(length) or b"null")
            client_id = body.get("id") if isinstance(body, dict) else None
            req = request_from_body(body, self.server_ref.args.output_path, limits=self.server_ref.limits)
        except (ValueError, RecursionError, BackendError) as exc:
            message = exc.message if isinstance(exc, BackendError) else f"Bad request: invalid JSON: {exc}"
            self._send(*error_answer(400, message, ExitCode.BAD_REQUEST, client_id))
            return
        self._send(*self.server_ref.submit(Job("generate", req, client_id, "http"), wait=True))

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if self.path.split("?", 1)[0] != "/v1/images/generations":
            if self._refused_origin():
                return
            raw = self.headers.get("Content-Length") or "0"
            length = int(raw) if raw.isdigit() else 0
            if 0 < length <= MAX_BODY:
                self.rfile.read(length)
            else:
                self.close_connection = True
        self._route("POST")


def serve_main(args: Namespace, settings: envs.Settings) -> int:
    return Server(settings, args).run()
