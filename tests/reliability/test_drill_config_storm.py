"""Drill: random edits of the attention config while a resident backend serves.

Every kind of edit an editor, a script or an accident makes: atomic saves (temp + rename), in-place
rewrites (also of the same size), truncations, half-writes (then finished), deletes, renames away,
a directory in its place, schema errors and non-UTF-8 bytes.  After each edit the drill asks the
server which config is in force (``POST /dev/reload-attention-config``) or runs a real request
(which applies the watcher's staged change without forcing a re-read) and compares it with the last
valid config it wrote.  Figure: edits, requests, crashes, stale or wrong configs.
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_backend import ServeProcess, clean_env
from tests.reliability.support import size

pytestmark = pytest.mark.slow


def _config(rng: random.Random) -> dict[str, Any]:
    """A valid config for the default backend (torch_sdpa schema): the CPU-safe kernel, a scale."""
    return {"sdpa_kernels": ["math"], "scale": round(rng.uniform(0.05, 2.0), rng.choice([1, 2, 3]))}


class Storm:
    """The file under edit and the config a correct server must have in force."""

    def __init__(self, path: Path, rng: random.Random) -> None:
        self.path, self.rng = path, rng
        self.expected = _config(rng)
        path.write_text(json.dumps(self.expected))

    def _clear(self) -> None:
        if self.path.is_dir():
            shutil.rmtree(self.path)

    def atomic_save(self) -> None:
        self._clear()
        new = _config(self.rng)
        tmp = self.path.with_name(".~" + self.path.name)
        tmp.write_text(json.dumps(new))
        os.replace(tmp, self.path)
        self.expected = new

    def in_place(self) -> None:
        self._clear()
        new = _config(self.rng)
        text = json.dumps(new)
        if self.path.is_file() and self.rng.random() < 0.5:  # same size as what is there, same inode
            old = self.path.read_text(errors="replace")
            text = text[: len(old)].ljust(len(old)) if len(old) >= len(text) else text
            try:
                new = json.loads(text)
            except ValueError:
                text, new = json.dumps(new), new
        with open(self.path, "w") as fh:
            fh.write(text)
        self.expected = new

    def truncate(self) -> None:
        self._clear()
        text = json.dumps(_config(self.rng))
        self.path.write_text(text[: self.rng.randrange(0, len(text) - 1)])  # a strict prefix: never valid JSON

    def half_write(self, probe: Callable[[], None]) -> None:
        self._clear()
        new = _config(self.rng)
        text = json.dumps(new)
        with open(self.path, "w") as fh:
            fh.write(text[: len(text) // 2])
            fh.flush()
            probe()  # the writer is mid-way: the last good config must still be in force
            fh.write(text[len(text) // 2 :])
        self.expected = new

    def delete(self) -> None:
        self._clear()
        self.path.unlink(missing_ok=True)

    def rename_away(self) -> None:
        self._clear()
        if self.path.exists():
            os.replace(self.path, self.path.with_name(self.path.name + ".bak"))

    def directory(self) -> None:
        self._clear()
        self.path.unlink(missing_ok=True)
        self.path.mkdir()

    def schema_error(self) -> None:
        self._clear()
        bad = self.rng.choice([{"scale": -1}, {"sdpa_kernels": ["warp"]}, {"no_such_key": 1}, [1, 2], "text"])
        self.path.write_text(json.dumps(bad))

    def garbage(self) -> None:
        self._clear()
        self.path.write_bytes(b"\xff\xfe" + os.urandom(self.rng.randrange(1, 64)))


def test_config_storm(tmp_path: Path, figure: Callable[[str, str], None]) -> None:
    edits = size(200, 1000)
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    path = tmp_path / "attn.json"
    storm = Storm(path, rng)
    env = clean_env(tmp_path, SGLANG_DIFFUSION_ATTENTION_CONFIG=str(path), SGLANG_DIFFUSION_SERVER_DEV_MODE="true")
    server = ServeProcess(tmp_path, env, "--no-stdin", "--max-steps", "2")
    wrong: list[str] = []
    requests = 0

    def in_force(step: int, how: str, generate: bool = False) -> None:
        nonlocal requests
        if generate:
            requests += 1
            status, body = server.http("POST", "/v1/images/generations",
                                       {"prompt": "a red circle", "steps": 1, "size": "64x64"})
            ok = status == 200
        else:
            status, body = server.http("POST", "/dev/reload-attention-config")
            ok = status in (200, 400)
        config = (body.get("attention") or {}).get("config")
        if not ok or config != storm.expected:
            wrong.append(f"edit {step} ({how}, {'request' if generate else 'reload'}): HTTP {status}, "
                         f"in force {config}, expected {storm.expected}")

    try:
        kinds: list[tuple[str, Callable[..., None]]] = [
            ("atomic", storm.atomic_save), ("in-place", storm.in_place), ("truncate", storm.truncate),
            ("delete", storm.delete), ("rename", storm.rename_away), ("directory", storm.directory),
            ("schema", storm.schema_error), ("garbage", storm.garbage),
        ]
        counts: dict[str, int] = {}
        for step in range(edits):
            if rng.random() < 0.1:
                name = "half-write"
                storm.half_write(functools.partial(in_force, step, "half-write, mid-way"))
            else:
                name, edit = rng.choice(kinds)
                edit()
            counts[name] = counts.get(name, 0) + 1
            # every 20th edit a real request: the watcher's staged change, no forced re-read
            in_force(step, name, generate=step % 20 == 19)
            if server.proc.poll() is not None:
                break
    finally:
        code = server.stop()
    crashes = int(server.proc.returncode not in (0, None) or any("Traceback" in line for line in server.lines + server.err))
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    figure("config storm", f"{edits} edits ({summary}), {requests} requests: {crashes} crashes, "
                           f"{len(wrong)} wrong configs in force")
    assert code == 0 and not crashes, "\n".join(server.lines[-30:] + server.err[-30:])
    assert not wrong, "\n".join(wrong[:20])
