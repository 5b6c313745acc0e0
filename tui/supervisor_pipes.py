"""The supervisor's pipe readers: move the child's bytes, at pipe speed, from its pipes to the run
logs, the echo and the line pump.

Why its own module: a reader does nothing but move bytes (pipe -> secrets masked -> run log ->
echo -> pump), so the child is never slowed by the console (a full pipe would block its writes);
keeping it apart from starting, watching and stopping keeps that promise easy to see.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, BinaryIO

from tui.engine.masking import StreamMasker

READ_BYTES = 1 << 20
"""Most bytes one read takes: a reader that waited for the GIL empties the whole pipe at once."""
PIPE_BYTES = 1 << 20
"""Pipe buffer asked for (Linux ``F_SETPIPE_SZ``; 1 MiB is the unprivileged maximum): the child
keeps writing while the reader waits its turn for the interpreter."""


def widen_pipe(fd: int) -> None:
    """Grow the pipe's buffer to :data:`PIPE_BYTES` where the platform allows (else keep it)."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", 1031 if sys.platform.startswith("linux") else None)
    if setsize is None:
        return
    try:
        fcntl.fcntl(fd, setsize, PIPE_BYTES)
    except OSError:
        pass  # over /proc/sys/fs/pipe-max-size or the user's pipe quota: the default still works


def copy_pipe(pipe: IO[bytes], stream: str, log_fd: int, *, secrets: Sequence[str], echo: BinaryIO | None,
              push: Callable[[str, bytes], object], close_stream: Callable[[str], object],
              got_bytes: Callable[[], None]) -> None:
    """Move bytes until EOF, nothing else: pipe -> masked -> run log -> echo -> ``push``.

    No parsing here.  ``got_bytes`` is called after each read (stall detection); at EOF the
    masker's rest goes out, ``close_stream(stream)`` is called and the log and pipe are closed.
    """
    masker = StreamMasker(secrets)
    fd = pipe.fileno()
    try:
        while True:
            try:
                data = os.read(fd, READ_BYTES)
            except OSError:
                break
            if not data:
                break
            got_bytes()
            if masker.active:
                data = masker.feed(data)
                if not data:
                    continue
            if not _pass_on(log_fd, echo, data):
                echo = None
            push(stream, data)
    finally:
        rest = masker.flush()
        if rest:
            _pass_on(log_fd, echo, rest)
            push(stream, rest)
        close_stream(stream)
        for close in (lambda: os.close(log_fd), pipe.close):
            try:
                close()
            except OSError:
                pass


def _pass_on(log_fd: int, echo: BinaryIO | None, data: bytes) -> bool:
    """Run log, then echo; False when the echo failed (closed: the reader stops echoing)."""
    try:
        os.write(log_fd, data)
    except OSError:
        pass
    if echo is not None:
        try:
            echo.write(data)
            echo.flush()
        except (OSError, ValueError):
            return False
    return True
