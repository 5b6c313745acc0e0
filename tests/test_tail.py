"""File following: late files, truncation, rotation, long lines, invalid UTF-8, %i patterns.

The tailer is stepped with ``poll_once`` (no timing assumptions), plus one test of its thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.console_helpers import wait_until
from tui.routed import file_stream
from tui.router import Router
from tui.tail import FileFollower, Tailer, expand_pid_pattern


def pid_of(path: str, pattern: str) -> int | None:
    """The pid a ``%i`` pattern matched in ``path`` (first ``%i``), or None."""
    m = expand_pid_pattern(pattern)[1].match(path)
    return int(m.group(1)) if m else None


def texts(router: Router, stream: str | None = None) -> list[str]:
    return [ln.text for ln in router.drain().lines if stream is None or ln.stream == stream]


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


class TestFollower:
    def test_late_file_truncation_and_rotation(self, tmp_path: Path) -> None:
        log = tmp_path / "app.log"
        router = Router()
        tailer = Tailer(router)
        tailer.add(str(log))
        assert tailer.poll_once() == 0  # missing file = "not yet"
        append(log, b"one\ntwo\npart")
        tailer.poll_once()
        assert texts(router, file_stream(str(log))) == ["one", "two"]  # "part" waits for its newline
        append(log, b"ial\n")
        tailer.poll_once()
        assert texts(router) == ["partial"]
        # Truncation (size shrinks): read again from 0.
        log.write_bytes(b"new\n")
        tailer.poll_once()
        assert texts(router) == ["new"]
        # Rotation: rename + new file.  The old file's late lines are finished first.
        append(log, b"last of old\n")
        os.rename(log, tmp_path / "app.log.1")
        append(tmp_path / "app.log.1", b"written after rename\n")
        log.write_bytes(b"first of new\n")
        tailer.poll_once()
        assert texts(router) == ["last of old", "written after rename", "first of new"]
        follower = tailer._files[str(log)][0]
        assert (follower.rotations, follower.truncations) == (1, 1)

    def test_existing_file_starts_at_end_unless_asked(self, tmp_path: Path) -> None:
        log = tmp_path / "performance.log"
        log.write_bytes(b"old record\n")
        f = FileFollower(str(log))
        assert f.poll() == []
        append(log, b"new record\n")
        assert [t for t, _, _ in f.poll()] == ["new record"]
        assert [t for t, _, _ in FileFollower(str(log), from_start=True).poll()] == ["old record", "new record"]

    def test_one_megabyte_line_and_invalid_utf8(self, tmp_path: Path) -> None:
        log = tmp_path / "big.log"
        log.write_bytes(b"")
        f = FileFollower(str(log), from_start=True, max_line_bytes=1024)
        append(log, b"a" * (1 << 20) + b"\nbad \xff\xc3( ok\r\nshort\n")
        lines = f.poll() + f.poll()
        assert lines[0] == ("a" * 1024, True, False)
        assert lines[1] == ("bad \ufffd\ufffd( ok", False, False)
        assert lines[2] == ("short", False, False)
        assert len(lines) == 3


class TestPidPatterns:
    def test_expand(self) -> None:
        g, rx = expand_pid_pattern("/x/k[1]_%i.log")
        assert g == "/x/k[[]1]_*.log" and rx.match("/x/k[1]_42.log")
        assert pid_of("/x/k[1]_42.log", "/x/k[1]_%i.log") == 42 and pid_of("/x/k[1]_ab.log", "/x/k[1]_%i.log") is None

    def test_every_pid_of_the_tree_including_later_files(self, tmp_path: Path) -> None:
        known = {100, 101}
        router = Router()
        tailer = Tailer(router, pids=lambda: known, glob_interval=0)
        (tmp_path / "kernel_100.log").write_bytes(b"from 100, before add\n")
        (tmp_path / "kernel_999.log").write_bytes(b"someone else's\n")
        old_run = Tailer(router, glob_interval=0)  # no pid filter: existing files start at their end
        old_run.add(str(tmp_path / "kernel_%i.log"))
        old_run.poll_once()
        assert texts(router) == []
        tailer.add(str(tmp_path / "kernel_%i.log"))
        append(tmp_path / "kernel_100.log", b"from 100\n")
        tailer.poll_once()
        assert texts(router) == ["from 100, before add", "from 100"]  # a pid of this run: from its start
        (tmp_path / "kernel_101.log").write_bytes(b"from 101\n")  # created later: from its start
        known.add(102)
        (tmp_path / "kernel_102.log").write_bytes(b"from 102\n")
        tailer.poll_once()
        assert sorted(texts(router)) == ["from 101", "from 102"]
        assert str(tmp_path / "kernel_999.log") not in tailer.followed()
        # Later files of unknown pids: a live stranger's is refused, a gone (short-lived) worker's taken.
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait(30)
        (tmp_path / f"kernel_{os.getpid()}.log").write_bytes(b"live stranger\n")
        (tmp_path / f"kernel_{gone.pid}.log").write_bytes(b"short-lived worker\n")
        tailer.poll_once()
        assert texts(router) == ["short-lived worker"]


def test_thread_follows_and_stop_flushes(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    router = Router()
    tailer = Tailer(router, interval=0.02)
    tailer.add(str(log))
    tailer.start()
    try:
        log.write_bytes(b"hello\n")
        wait_until(lambda: router.total_lines == 1)
        append(log, b"unterminated")
    finally:
        tailer.stop()
    assert [ln.text for ln in router.drain().lines] == ["hello", "unterminated"]


class Seen:
    """Every line drained so far (draining in a wait loop must not lose what it took)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.lines: list[str] = []

    def __call__(self) -> list[str]:
        self.lines += texts(self.router)
        return self.lines


def test_events_not_polls_bring_new_lines(tmp_path: Path) -> None:
    """With the fallback read every 60 s, only file events can bring these lines within the wait:
    an append, a truncation, a rotation and a late ``%i`` file of a known pid."""
    log = tmp_path / "perf.log"
    log.write_bytes(b"old\n")
    router = Router()
    seen = Seen(router)
    tailer = Tailer(router, interval=60.0, glob_interval=60.0, pids=lambda: {os.getpid()})
    tailer.add(str(log))
    tailer.add(str(tmp_path / "kernel_%i.log"))
    tailer.start()
    try:
        assert tailer.watching.wait(10)
        append(log, b"appended\n")
        wait_until(lambda: seen() == ["appended"], timeout=10, describe=seen)
        log.write_bytes(b"after truncation\n")
        wait_until(lambda: seen()[-1:] == ["after truncation"], timeout=10, describe=seen)
        os.rename(log, tmp_path / "perf.log.1")
        log.write_bytes(b"rotated\n")
        wait_until(lambda: seen()[-1:] == ["rotated"], timeout=10, describe=seen)
        (tmp_path / f"kernel_{os.getpid()}.log").write_bytes(b"late pid file\n")
        wait_until(lambda: "late pid file" in seen(), timeout=10, describe=seen)
    finally:
        tailer.stop()


def test_a_directory_that_appears_later_is_watched(tmp_path: Path) -> None:
    later = tmp_path / "later" / "performance.log"
    router = Router()
    seen = Seen(router)
    tailer = Tailer(router, interval=0.1)
    tailer.add(str(later))
    tailer.start()
    try:
        later.parent.mkdir()
        later.write_bytes(b"first\n")
        wait_until(lambda: seen() == ["first"], timeout=10, describe=seen)
        assert tailer.watching.wait(10)
        append(later, b"second\n")
        wait_until(lambda: seen() == ["first", "second"], timeout=10, describe=seen)
    finally:
        tailer.stop()
