"""Attention config hot reload with real files and real watchfiles events.

"None missed" is tested as the module docstring of ``backend.attention_watch`` defines it:
* lockstep: 100 atomic saves (temp file + ``os.replace``), each waiting until it is observed
  (bounded) before the next: every one of the 100 distinct values is seen, in order;
* burst: 100 atomic saves back to back: the observed values are strictly increasing (never stale
  or reordered) and always end with the last save.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

from backend.attention_watch import MAX_CONFIG_BYTES, ConfigWatcher, ReloadEvent, watch_in_thread
from tests.console_helpers import async_wait_until, wait_until


def atomic_save(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def scale_of(event: ReloadEvent) -> float | None:
    return (event.config or {}).get("scale") if event.ok else None


class Collector:
    def __init__(self) -> None:
        self.events: list[ReloadEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: ReloadEvent) -> None:
        with self.lock:
            self.events.append(event)

    def scales(self) -> list[float]:
        with self.lock:
            return [s for e in self.events if (s := scale_of(e)) is not None]


def start(path: Path, backend: str | None = "torch_sdpa") -> tuple[ConfigWatcher, Collector, threading.Thread]:
    watcher = ConfigWatcher(str(path), backend)
    got = Collector()
    thread = watch_in_thread(watcher, got)
    wait_until(lambda: got.events)  # the initial load
    return watcher, got, thread


def test_lockstep_100_atomic_saves_all_seen_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "attn.json"
    atomic_save(cfg, json.dumps({"scale": 1000}))
    watcher, got, thread = start(cfg)
    try:
        for i in range(1, 101):
            atomic_save(cfg, json.dumps({"scale": i}))
            wait_until(lambda i=i: got.scales()[-1] == i, timeout=10)
    finally:
        watcher.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert got.scales() == [1000, *range(1, 101)]
    assert got.events[1].diff_lines == ("~ scale: 1000 -> 1",)


def test_burst_of_100_saves_is_monotonic_and_ends_with_the_last(tmp_path: Path) -> None:
    cfg = tmp_path / "attn.yaml"
    atomic_save(cfg, "scale: 0\n")
    watcher, got, thread = start(cfg)
    try:
        for i in range(1, 101):
            atomic_save(cfg, f"scale: {i}\n")
        wait_until(lambda: got.scales()[-1] == 100, timeout=10)
    finally:
        watcher.stop()
        thread.join(5)
    seen = got.scales()
    assert seen == sorted(set(seen)) and seen[-1] == 100


def test_errors_keep_the_last_good_config_and_give_the_line(tmp_path: Path) -> None:
    cfg = tmp_path / "attn.json"
    atomic_save(cfg, '{"scale": 2}')
    watcher = ConfigWatcher(str(cfg), "torch_sdpa")
    assert watcher.load().ok and watcher.last_good == {"scale": 2}
    atomic_save(cfg, '{\n  "scale": 2,\n  "scale" 3\n}')
    bad = watcher.check()
    assert bad is not None and not bad.ok and bad.line == 3 and bad.config == {"scale": 2}
    atomic_save(cfg, '{\n  "scale": 2,\n  "sparsity": 0.5\n}')
    schema = watcher.check()
    assert schema is not None and schema.line == 3 and "sparsity" in (schema.error or "")
    assert watcher.check() is None  # same bytes: nothing new
    cfg.unlink()
    gone = watcher.check()
    assert gone is not None and gone.missing and gone.config == {"scale": 2}
    # Another backend's schema accepts it (the console starts a new watch when the backend changes).
    atomic_save(cfg, '{"sparsity": 0.5}')
    rejected = watcher.check()
    assert rejected is not None and not rejected.ok and "sparsity" in (rejected.error or "")
    assert ConfigWatcher(str(cfg), "video_sparse_attn").load().ok


async def test_async_generator(tmp_path: Path) -> None:
    cfg = tmp_path / "attn.json"
    atomic_save(cfg, '{"scale": 1}')
    watcher = ConfigWatcher(str(cfg), None)
    seen: list[float | None] = []

    async def consume() -> None:
        async for event in watcher.awatch():
            seen.append(scale_of(event))
            if seen[-1] == 3:
                watcher.stop()

    task = asyncio.create_task(consume())
    for i in (2, 3):
        await async_wait_until(lambda i=i: seen[-1:] == [i - 1], timeout=10)
        atomic_save(cfg, json.dumps({"scale": i}))
    await asyncio.wait_for(task, 10)
    assert seen == [1, 2, 3]


def test_directory_created_later(tmp_path: Path) -> None:
    cfg = tmp_path / "later" / "attn.json"
    watcher = ConfigWatcher(str(cfg), None)
    got = Collector()
    thread = watch_in_thread(watcher, got)
    try:
        wait_until(lambda: got.events and got.events[0].missing)
        cfg.parent.mkdir()
        atomic_save(cfg, '{"scale": 5}')
        wait_until(lambda: got.scales() == [5], timeout=10)
        atomic_save(cfg, '{"scale": 6}')
        wait_until(lambda: got.scales() == [5, 6], timeout=10)
    finally:
        watcher.stop()
        thread.join(5)


def test_content_not_stat_decides_a_change(tmp_path: Path) -> None:
    """Same inode, same size, same timestamp tick: only the content tells the two saves apart."""
    cfg = tmp_path / "attn.json"
    cfg.write_text(json.dumps({"scale": 0.5}))
    watcher = ConfigWatcher(str(cfg), None)
    watcher.load()
    before = cfg.stat()
    with open(cfg, "r+") as fh:  # in place: no new inode
        fh.write(json.dumps({"scale": 0.7}))
    os.utime(cfg, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert cfg.stat().st_size == before.st_size and cfg.stat().st_ino == before.st_ino
    event = watcher.check()
    assert event is not None and event.diff_lines == ("~ scale: 0.5 -> 0.7",)
    atomic_save(cfg, json.dumps({"scale": 0.7}))  # a new inode, the same content: nothing new
    assert watcher.check() is None
    assert watcher.reload().ok and watcher.last_event is not None and watcher.last_event.diff_lines == ()


def test_a_directory_or_a_huge_file_keeps_the_last_good(tmp_path: Path) -> None:
    cfg = tmp_path / "attn.json"
    cfg.write_text(json.dumps({"scale": 0.5}))
    watcher = ConfigWatcher(str(cfg), None)
    watcher.load()
    cfg.unlink()
    cfg.mkdir()
    in_place = watcher.check()
    assert in_place is not None and in_place.missing and in_place.config == {"scale": 0.5}
    cfg.rmdir()
    cfg.write_text(" " * (MAX_CONFIG_BYTES + 1))
    huge = watcher.check()
    assert huge is not None and not huge.ok and not huge.missing and "over" in (huge.error or "")
    assert huge.config == {"scale": 0.5}


def test_the_first_diff_is_against_the_config_in_force(tmp_path: Path) -> None:
    cfg = tmp_path / "attn.yaml"
    cfg.write_text("scale: 0.5\nsdpa_kernels: [math]\n")
    event = ConfigWatcher(str(cfg), None, last_good={"scale": 0.5}).load()
    assert event.ok and event.initial and event.diff_lines == ("+ sdpa_kernels=['math']",)


def test_two_readers_number_their_reads_in_order(tmp_path: Path) -> None:
    """A watch thread and a request both re-read: ``seq`` orders the reads, so a stale one is detectable."""
    cfg = tmp_path / "attn.json"
    atomic_save(cfg, json.dumps({"scale": 0}))
    watcher = ConfigWatcher(str(cfg), None)
    watcher.load()
    seen: list[tuple[int, float]] = []
    lock = threading.Lock()

    def reader() -> None:
        for _ in range(200):
            event = watcher.check()
            if event is not None and event.ok:
                with lock:
                    seen.append((event.seq, (event.config or {})["scale"]))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(1, 51):
        atomic_save(cfg, json.dumps({"scale": i}))
    for t in threads:
        t.join(30)
    last = watcher.check() or watcher.last_event
    assert last is not None and last.config == {"scale": 50}
    by_seq = [scale for _, scale in sorted(seen)]
    assert by_seq == sorted(by_seq) and len({seq for seq, _ in seen}) == len(seen)


def test_a_failure_in_the_watch_thread_goes_to_on_error(tmp_path: Path) -> None:
    cfg = tmp_path / "attn.json"
    cfg.write_text("{}")
    watcher = ConfigWatcher(str(cfg), None)
    failures: list[Exception] = []

    def broken(event: ReloadEvent) -> None:
        raise RuntimeError(f"cannot show event {event.seq}")

    thread = watch_in_thread(watcher, broken, on_error=failures.append)
    thread.join(10)
    watcher.stop()
    assert not thread.is_alive() and [str(f) for f in failures] == ["cannot show event 1"]
