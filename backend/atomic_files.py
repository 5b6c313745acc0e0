"""Files written whole or not at all: a private temp file beside the target, fsync, rename, fsync dir.

Why: an image or a perf report that readers poll for must never be seen half-written, a full disk
must not replace a good file by a torn one (issue 10, defect 7), and a session file holding
credentials must survive the console being killed mid-save.  Everything written here is private
(0600) and new parent directories are 0700: run outputs may carry prompts and settings.  The one
writer for the backend and the console: standard library only (the records module and the console's
start use it; neither may pay for torch or psutil).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
TMP_PREFIX = "."
"""Temp files are hidden (``.<name>.<pid>.<random>.tmp``) so listings of the folder skip them."""
TMP_SUFFIX = ".tmp"
STALE_TMP_AGE_S = 3600.0
"""A temp file older than this is removed even if its writer's pid is alive (pids are reused)."""
_NAME_IN_TMP = 80
"""Characters of the target's name kept in its temp name: a 255-byte name plus the suffix would not fit."""


class SymlinkRefused(OSError):
    """The target is a symbolic link and the caller did not ask to follow it."""


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


def _tmp_prefix(target: Path) -> str:
    """The temp-name prefix shared by every writer of ``target`` (the stale clean-up matches it)."""
    return f"{TMP_PREFIX}{target.name[:_NAME_IN_TMP]}."


def _resolve_target(target: str | os.PathLike[str], follow_symlink: bool) -> Path:
    """The path to replace: a symlink is followed only when asked, and refused otherwise.

    Why refuse: a link planted where a run writes would otherwise be silently replaced (or, by a
    writer that follows links, written through); session files follow on purpose, because an
    operator's link into a dotfiles repo must keep working.
    """
    path = Path(target)
    if not path.is_symlink():
        return path
    if follow_symlink:
        return Path(os.path.realpath(path))
    raise SymlinkRefused(f"refusing to write {path}: it is a symbolic link (to {os.readlink(path)})")


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0 probes without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    except OSError:
        return False
    return True


def clean_stale_temp_files(target: str | os.PathLike[str]) -> list[Path]:
    """Remove temp files of ``target`` left by writers that died (dead pid, or older than an hour).

    A live writer's temp file is left alone; other targets' temp files are not ours to clean.
    """
    path = Path(target)
    prefix = _tmp_prefix(path)
    removed: list[Path] = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(TMP_SUFFIX)):
            continue
        pid_text = entry.name[len(prefix):].split(".", 1)[0]
        pid = int(pid_text) if pid_text.isdigit() else 0
        try:
            old = time.time() - entry.lstat().st_mtime > STALE_TMP_AGE_S
            writer_gone = pid != os.getpid() and not (pid > 0 and _pid_alive(pid))
            if old or writer_gone:
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue
    return removed


@contextmanager
def _atomic_fd(target: str | os.PathLike[str], mode: int, follow_symlink: bool) -> Iterator[int]:
    """The protocol, around a raw descriptor: temp file, (caller writes), fsync, rename, fsync dir."""
    path = _resolve_target(target, follow_symlink)
    make_private_dirs(path.parent)
    clean_stale_temp_files(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_tmp_prefix(path)}{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)
            yield fd
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


@contextmanager
def atomic_open(
    target: str | os.PathLike[str], mode: int = PRIVATE_FILE, *, follow_symlink: bool = False
) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``target`` only if the block completes.

    The temp file is created 0600 with O_EXCL beside ``target`` (missing parents 0700), stale temp
    files of dead writers are removed first, and the file and then the directory are fsynced around
    the rename.  On any exception (``OSError`` for a full disk or a file size limit included) the
    temp file is removed, ``target`` is left exactly as it was, and the exception propagates.

    Raises:
        SymlinkRefused: ``target`` is a symbolic link and ``follow_symlink`` is false.
    """
    with _atomic_fd(target, mode, follow_symlink) as fd, os.fdopen(fd, "wb", closefd=False) as fh:
        yield fh


def atomic_write_bytes(
    target: str | os.PathLike[str], data: bytes, mode: int = PRIVATE_FILE, *, follow_symlink: bool = False
) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_open`).

    Written with ``os.write`` until all of it is down: a short write (a slow or full disk) is
    continued, never mistaken for the end, and the session drill can slow exactly this call.
    """
    with _atomic_fd(target, mode, follow_symlink) as fd:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]


def append_private(target: str | os.PathLike[str], text: str) -> None:
    """Append ``text`` to ``target``, creating it 0600 (and missing parents 0700) if needed.

    Raises:
        SymlinkRefused: ``target`` is a symbolic link (O_NOFOLLOW: never appended through).
    """
    path = Path(target)
    make_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
    except OSError:
        if path.is_symlink():
            raise SymlinkRefused(f"refusing to append to {path}: it is a symbolic link") from None
        raise
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
