"""backend.server.config_watch: rename saves are staged, validated and applied between requests only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from backend.pipeline.attention import AttentionState
from backend.server.config_watch import ConfigWatcher


def _rename_save(path: Path, text: str) -> None:
    tmp = path.with_name(".~" + path.name)
    tmp.write_text(text)
    os.replace(tmp, path)


def test_rename_save_is_staged_then_applied(tmp_path: Path) -> None:
    path = tmp_path / "attn.json"
    path.write_text(json.dumps({"sdpa_kernels": ["math"]}))
    state = AttentionState(requested=None, config={"sdpa_kernels": ["math"]})
    watcher = ConfigWatcher(str(path), state)
    _rename_save(path, json.dumps({"sdpa_kernels": ["math"], "scale": 0.5}))
    assert watcher.poll() == ["+ scale=0.5"]
    assert "scale" not in state.config  # not applied until the next request
    assert watcher.apply_pending() == ["+ scale=0.5"]
    assert state.config["scale"] == 0.5 and state.source == str(path)


def test_broken_or_missing_file_keeps_last_good(tmp_path: Path) -> None:
    path = tmp_path / "attn.yaml"
    path.write_text("sdpa_kernels: [math]\n")
    state = AttentionState(requested=None, config={"sdpa_kernels": ["math"]})
    watcher = ConfigWatcher(str(path), state)
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
    watcher = ConfigWatcher(str(path), state)
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
    watcher = ConfigWatcher(str(path), state)
    path.unlink()
    path.mkdir()
    assert watcher.apply_pending() == [] and state.config == {"scale": 0.5}
    path.rmdir()
    path.write_text(" " * (2 << 20))
    assert watcher.apply_pending() == [] and state.config == {"scale": 0.5}
    assert watcher.last_error is not None and "over" in watcher.last_error
    path.write_text(json.dumps({"scale": 2.0}))
    assert watcher.apply_pending() == ["~ scale: 0.5 -> 2.0"]
