"""Files the backend writes whole or not at all: a private temp file beside the target, fsync, rename.

Why: an image or a perf report that readers poll for must never be seen half-written, and a full
disk must not replace a good file by a torn one or leave an empty file behind (issue 10, defect 7).
Everything written here is private (0600) and new parent directories are 0700: run outputs may carry
prompts and settings.  Standard library only (the records module uses it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dirs(directory: str | os.PathLike[str]) -> None:
    """Create ``directory`` and every missing parent as 0700; an existing directory keeps its mode.

    Why not ``mkdir(mode=..., parents=True)``: Python creates the parents with the umask's default
    (often 0755), and mkdir's mode is cut by the umask too; each level created here is chmod-ed.
    """
    path = Path(directory)
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for level in reversed(missing):
        try:
            level.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(level, PRIVATE_DIR)


@contextmanager
def atomic_open(target: str | os.PathLike[str], mode: int = PRIVATE_FILE) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``target`` only if the block completes.

    On any exception (``OSError`` for a full disk or a file size limit included) the temp file is
    removed, ``target`` is left exactly as it was, and the exception propagates.
    """
    path = Path(target)
    make_private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_open`)."""
    with atomic_open(target, mode) as fh:
        fh.write(data)


def append_private(target: str | os.PathLike[str], text: str) -> None:
    """Append ``text`` to ``target``, creating it 0600 (and missing parents 0700) if needed."""
    path = Path(target)
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(text)


def fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
