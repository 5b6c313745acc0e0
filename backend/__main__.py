"""``sgl-backend``: the bundled generation backend (generate | serve).

Everything before the model loads stays torch-free (settings, logging, usage errors, the worker
parent), so bad input fails in well under a second and ``fork`` workers start from a process that
has no torch thread pools to inherit.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Sequence

from backend import envs
from backend.envs import EnvError, load_settings
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import configure, effective_level, flush_all, get_logger, redact_settings
from backend.pipeline.request import CancelToken
from backend.server import cli
from backend.server.cli import request_from_args
from backend.server.stop_signals import install_stop_handlers

log = get_logger()
OUT_OF_MEMORY_LINE = b"Out of memory: MemoryError (and not enough left to say more)\n"
"""Made at start: when even the report of an allocation failure cannot allocate, these bytes still go out."""


def generate_main(args: Namespace, settings: envs.Settings) -> int:
    if args.num_workers > 1:
        from backend.server.workers import run_workers

        return run_workers(args, settings)
    from backend.server.runtime import Runtime

    cancel = CancelToken(immediate=True)
    install_stop_handlers(cancel)
    try:
        runtime = Runtime(settings, args)
        runtime.start()
    except SystemExit:
        log.warning("Stopped during start-up (signal); nothing generated")
        raise
    cancel.immediate = False
    if cancel.cancelled:
        log.warning("Stopped during start-up (signal); nothing generated")
        return int(ExitCode.CANCELLED)
    result = runtime.generate(request_from_args(args), cancel)
    return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.parse_args(argv)
    configure("INFO")
    try:
        settings = load_settings()
    except EnvError as exc:
        log.error("Invalid environment: %s", exc)
        return int(ExitCode.BAD_ENV)
    configure(effective_level(settings[envs.LOGGING_LEVEL], args.log_level))
    redact_settings(settings)  # before anything can quote a secret (an endpoint URL's password, a key)
    os.umask(0o077)  # run outputs (images, perf logs, traces, kernel API logs, dumps) are private
    try:
        from backend.server.runtime import install_faults

        if args.command == "generate":
            from backend.server.workers import split_batch

            processes = len(split_batch(args.batch_size, args.num_workers))
        else:
            processes = args.num_workers
        install_faults(args.inject_fault, 0, processes)
        if args.command == "generate":
            return generate_main(args, settings)
        from backend.server.serve import serve_main

        return serve_main(args, settings)
    except BackendError as exc:
        log.error(exc.message)
        return int(exc.code)
    except Exception as exc:  # noqa: BLE001 - only an allocation failure is ours to name; a bug re-raises
        try:
            from backend.server.runtime import is_out_of_memory

            if not is_out_of_memory(exc):
                raise
            log.error("Out of memory: %s", f"{type(exc).__name__}: {exc}".splitlines()[0])
        except MemoryError:  # naming it needed memory too (an address-space limit hit while importing)
            os.write(2, OUT_OF_MEMORY_LINE)
        return int(ExitCode.OUT_OF_MEMORY)
    finally:
        try:
            flush_all()
        except MemoryError:
            pass


if __name__ == "__main__":
    sys.exit(main())
