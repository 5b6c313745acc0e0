"""backend.server.config_watch: rename saves are staged, validated and applied between requests only
(the watch itself, shared with the console, is tested in test_attention_watch.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from backend.pipeline.attention import AttentionState
from backend.server.config_watch import AttentionConfigStage
from tests.console_helpers import wait_until


def _rename_save(path: Path, text: str) -> None:
    tmp = path.with_name(".~" + path.name)
    tmp.write_text(text)
    os.replace(tmp, path)


def test_rename_save_is_staged_then_applied(tmp_path: Path) -> None:
    path = tmp_path / "attn.json"
    path.write_text(json.dumps({"sdpa_kernels": ["math"]}))
    state = AttentionState(requested=None, config={"sdpa_kernels": ["math"]})
    watcher = AttentionConfigStage(str(path), state)
    _rename_save(path, json.dumps({"sdpa_kernels": ["math"], "scale": 0.5}))
    assert watcher.poll() == ["+ scale=0.5"]
    assert "scale" not in state.config  # not applied until the next request
    assert watcher.apply_pending() == ["+ scale=0.5"]
    assert state.config["scale"] == 0.5 and state.source == str(path)


def test_broken_or_missing_file_keeps_last_good(tmp_path: Path) -> None:
    path = tmp_path / "attn.yaml"
    path.write_text("sdpa_kernels: [math]\n")
    state = AttentionState(requested=None, config={"sdpa_kernels": ["math"]})
    watcher = AttentionConfigStage(str(path), state)
    _rename_save(path, "sdpa_kernels: [math]\nscale: -1\n")
    assert watcher.apply_pending() == []
    assert watcher.last_error is not None and watcher.last_error.startswith("line 2:")
    assert state.config == {"sdpa_kernels": ["math"]}
    path.unlink()
    assert watcher.apply_pending() == [] and state.config == {"sdpa_kernels": ["math"]}
    path.write_text("sdpa_kernels: [flash]\n")
    assert watcher.apply_pending() == ["~ sdpa_kernels: ['math'] -> ['flash']"]


def test_same_size_rewrite_in_place_is_seen(tmp_path: Path) -> None:
    """Same inode, same size, same timestamp tick: only the content tells the two saves apart."""
    path = tmp_path / "attn.json"
    path.write_text(json.dumps({"scale": 0.5}))
    state = AttentionState(requested=None, config={"scale": 0.5})
    watcher = AttentionConfigStage(str(path), state)
    stat = path.stat()
    with open(path, "r+") as fh:  # in place: no new inode
        fh.write(json.dumps({"scale": 0.7}))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as if within one tick
    assert path.stat().st_size == stat.st_size and path.stat().st_ino == stat.st_ino
    assert watcher.apply_pending() == ["~ scale: 0.5 -> 0.7"]


def test_directory_in_place_and_huge_file_keep_last_good(tmp_path: Path) -> None:
    path = tmp_path / "attn.json"
    path.write_text(json.dumps({"scale": 0.5}))
    state = AttentionState(requested=None, config={"scale": 0.5})
    watcher = AttentionConfigStage(str(path), state)
    path.unlink()
    path.mkdir()
    assert watcher.apply_pending() == [] and state.config == {"scale": 0.5}
    path.rmdir()
    path.write_text(" " * (2 << 20))
    assert watcher.apply_pending() == [] and state.config == {"scale": 0.5}
    assert watcher.last_error is not None and "over" in watcher.last_error
    path.write_text(json.dumps({"scale": 2.0}))
    assert watcher.apply_pending() == ["~ scale: 0.5 -> 2.0"]


def test_the_watch_thread_stages_a_save_before_the_request(tmp_path: Path) -> None:
    path = tmp_path / "attn.json"
    path.write_text(json.dumps({"scale": 0.5}))
    state = AttentionState(requested=None, config={"scale": 0.5})
    stage = AttentionConfigStage(str(path), state)
    stage.start()
    try:
        seq = stage.watcher.last_event.seq if stage.watcher.last_event else 0
        _rename_save(path, json.dumps({"scale": 0.25}))
        wait_until(lambda: stage.watcher.last_event is not None and stage.watcher.last_event.seq > seq, timeout=10)
        assert stage.watcher.check() is None  # the thread read it: the request's re-read finds nothing new
        assert state.config == {"scale": 0.5}
        assert stage.apply_pending() == ["~ scale: 0.5 -> 0.25"]
    finally:
        stage.stop()
    assert stage._thread is not None and not stage._thread.is_alive()


def test_a_stale_event_is_dropped(tmp_path: Path) -> None:
    """Two readers: an event read before one already staged never replaces it."""
    path = tmp_path / "attn.json"
    path.write_text(json.dumps({"scale": 0.5}))
    state = AttentionState(requested=None, config={"scale": 0.5})
    stage = AttentionConfigStage(str(path), state)
    _rename_save(path, json.dumps({"scale": 1.0}))
    older = stage.watcher.check()
    _rename_save(path, json.dumps({"scale": 2.0}))
    newer = stage.watcher.check()
    assert older is not None and newer is not None
    assert stage._handle(newer) == ["~ scale: 1.0 -> 2.0"]
    assert stage._handle(older) is None
    assert stage.apply_pending() == ["~ scale: 0.5 -> 2.0"]
