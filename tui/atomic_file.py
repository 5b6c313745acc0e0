"""Atomic, private file replacement: the old content or the new, never a torn file.

Why its own module: session files hold credentials and are rewritten while an operator may
kill the console at any moment; the temp-file protocol and the clean-up of temp files left by
dead writers are one job.  Imports neither textual nor rich.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from backend.atomic_files import fsync_dir, make_private_dirs

TMP_PREFIX = "."
"""Temp files are hidden (``.<name>.<pid>.<random>.tmp``) so listings of the folder skip them."""
TMP_SUFFIX = ".tmp"
STALE_TMP_AGE_S = 3600.0
"""A temp file older than this is removed even if its writer's pid is alive (pids are reused)."""


def _tmp_name(target: Path) -> str:
    return f"{TMP_PREFIX}{target.name}.{os.getpid()}."



def clean_stale_temp_files(target: Path) -> list[Path]:
    """Remove temp files of ``target`` left by writers that died (dead pid, or older than an hour)."""
    removed: list[Path] = []
    prefix = f"{TMP_PREFIX}{target.name}."
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(TMP_SUFFIX)):
            continue
        pid_text = entry.name[len(prefix) :].split(".", 1)[0]
        pid = int(pid_text) if pid_text.isdigit() else 0
        try:
            old = time.time() - entry.stat().st_mtime > STALE_TMP_AGE_S
            writer_gone = pid != os.getpid() and not (pid > 0 and _pid_exists(pid))
            if old or writer_gone:
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue
    return removed


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file (0600, O_EXCL) in the same folder, write, fsync,
    rename, fsync the folder.  A kill at any moment leaves the old file or the new one."""
    if path.is_symlink():  # an operator's link (dotfiles repo): replace the file it points to, keep the link
        path = Path(os.path.realpath(path))
    directory = path.parent
    make_private_dirs(directory)
    clean_stale_temp_files(path)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_name(path), suffix=TMP_SUFFIX, dir=directory)  # 0600, O_EXCL
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
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
    fsync_dir(directory)


def _pid_exists(pid: int) -> bool:
    """psutil's probe, imported on first use: the console's start must not pay for psutil."""
    import psutil

    return bool(psutil.pid_exists(pid))
