"""Tests for ``backend/atomic_files.py``: the one atomic writer of the backend and the console.

Real files, a real killed writer (SIGKILL mid-write), real symlinks: the promises are private modes,
the old file or the new one and nothing in between, no temp file left by a finished or failed write,
symlinks refused unless followed on purpose, and temp files of dead writers cleaned.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from backend.atomic_files import (
    STALE_TMP_AGE_S,
    SymlinkRefused,
    append_private,
    atomic_open,
    atomic_write_bytes,
    clean_stale_temp_files,
    make_private_dirs,
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replaces_whole_and_private(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "x.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and mode_of(target) == 0o600
    assert mode_of(target.parent) == 0o700 and mode_of(target.parent.parent) == 0o700
    assert os.listdir(target.parent) == ["x.bin"]


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    atomic_write_bytes(tmp_path / "x", b"data")
    assert mode_of(tmp_path) == 0o755


def test_explicit_mode_applies_despite_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic_write_bytes(tmp_path / "shared.txt", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "shared.txt") == 0o644


def test_a_failed_block_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(ZeroDivisionError), atomic_open(target) as fh:
        fh.write(b"half")
        raise ZeroDivisionError
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.bin"]


def test_a_long_name_fits_its_temp_name(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 250)
    atomic_write_bytes(target, b"x")
    assert target.read_bytes() == b"x" and os.listdir(tmp_path) == [target.name]


def test_a_symlink_is_refused_and_left_alone(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.txt"
    real.write_bytes(b"keep")
    link = tmp_path / "out.txt"
    link.symlink_to(real)
    with pytest.raises(SymlinkRefused, match="out.txt.*symbolic link"):
        atomic_write_bytes(link, b"new")
    with pytest.raises(SymlinkRefused):
        append_private(link, "new\n")
    assert link.is_symlink() and real.read_bytes() == b"keep"
    assert sorted(os.listdir(tmp_path)) == ["elsewhere.txt", "out.txt"]


def test_follow_symlink_replaces_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "dev.env"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "dev.env"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new", follow_symlink=True)
    assert link.is_symlink() and real.read_bytes() == b"new" and mode_of(real) == 0o600


def test_append_creates_private_and_appends(tmp_path: Path) -> None:
    target = tmp_path / "logs" / "perf.jsonl"
    append_private(target, "a\n")
    append_private(target, "b\n")
    assert target.read_text() == "a\nb\n" and mode_of(target) == 0o600 and mode_of(target.parent) == 0o700


def test_make_private_dirs_chmods_every_created_level(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        make_private_dirs(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old)
    for level in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert mode_of(level) == 0o700


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_stale_temp_files_of_dead_writers_are_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "s.env"
    dead = _dead_pid()
    stale = tmp_path / f".s.env.{dead}.abc.tmp"
    no_pid = tmp_path / ".s.env.notapid.tmp"
    live = tmp_path / f".s.env.{os.getppid()}.def.tmp"  # a live writer's file is left alone
    other = tmp_path / f".t.env.{dead}.ghi.tmp"  # another target's file is not ours to clean
    for p in (stale, no_pid, live, other):
        p.write_text("partial", encoding="utf-8")
    atomic_write_bytes(target, b"x")
    assert not stale.exists() and not no_pid.exists()
    assert live.exists() and other.exists()
    old = time.time() - STALE_TMP_AGE_S - 60
    os.utime(live, (old, old))  # an hour-old temp file is stale whoever wrote it
    assert clean_stale_temp_files(target) == [live]


_KILLED_WRITER = textwrap.dedent("""
    import sys
    from backend.atomic_files import atomic_open
    with atomic_open(sys.argv[1]) as fh:
        fh.write(b"half")
        fh.flush()
        print("writing", flush=True)
        sys.stdin.read()
""")


def test_a_killed_writer_leaves_the_old_file_and_its_temp_is_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"writing\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert target.read_bytes() == b"old"
    assert len(os.listdir(tmp_path)) == 2  # its temp file stays behind
    atomic_write_bytes(target, b"new")  # the next writer removes the dead one's temp file
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["x.bin"]
