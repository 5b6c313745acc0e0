"""Attention config hot reload with real files and real watchfiles events.

"None missed" is tested as the module docstring of ``tui.watch`` defines it:
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

from tests.console_helpers import wait_until
from tui.watch import ConfigWatcher, ReloadEvent, watch_in_thread


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
    # Another backend's schema accepts it.
    atomic_save(cfg, '{"sparsity": 0.5}')
    assert watcher.set_backend("video_sparse_attn").ok
    assert "reloaded" in watcher.set_backend("video_sparse_attn").summary()


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
        while seen[-1:] != [i - 1]:
            await asyncio.sleep(0.01)
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
