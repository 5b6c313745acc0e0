"""backend.artifacts.images: SGLang's default output file names; images written whole or not at all."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from backend.artifacts.images import default_stem, output_name, sanitize
from backend.exit_codes import ExitCode
from tests.fixtures_backend import run_backend


def test_default_stem_follows_sglang() -> None:
    when = datetime(2026, 11, 26, 1, 2, 3)
    assert default_stem("a red circle", "deadbeef", when) == "a_red_circle_20261126-010203_deadbeef"
    assert default_stem("", "deadbeef", when) == "output_20261126-010203"
    long = default_stem("x" * 300, "deadbeef", when)
    assert long.startswith("x" * 100 + "_2026") and len(long) <= 150


def test_sanitize_keeps_only_safe_characters() -> None:
    assert sanitize("a/b\\c: d?*é.png") == "abc_d.png"


def test_batch_suffix_and_explicit_name() -> None:
    assert output_name("p", "h", "img", 0, 1) == "img.png"
    assert output_name("p", "h", "dir/img.webp", 1, 2) == "img_1.webp"
    assert output_name("a b", "h", None, 1, 2).endswith("_h_1.png")


def _run_with_file_size_limit(tmp_path: Path, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``sgl-backend generate`` whose files may not grow past ``limit`` bytes: a full disk, as a write sees it
    (EFBIG; SIGXFSZ ignored so the write fails instead of killing the process)."""
    return run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2", *args,
                       rlimits={resource.RLIMIT_FSIZE: limit}, ignored_signals=(signal.SIGXFSZ,))


@pytest.mark.slow
def test_a_full_disk_keeps_the_old_image_and_leaves_no_torn_file(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    out.mkdir()
    precious = out / "precious.png"
    old = os.urandom(1500)
    precious.write_bytes(old)
    proc = _run_with_file_size_limit(tmp_path, 2000, "--output-file-name", "precious.png")
    assert proc.returncode == ExitCode.OUTPUT_ERROR, proc.stdout + proc.stderr
    assert "Cannot write" in proc.stdout and "File too large" in proc.stdout
    assert precious.read_bytes() == old
    assert sorted(p.name for p in out.iterdir()) == ["precious.png"]  # no temp file, nothing half-written
    proc = _run_with_file_size_limit(tmp_path, 2000)  # the default name: no 0-byte PNG either
    assert proc.returncode == ExitCode.OUTPUT_ERROR
    assert sorted(p.name for p in out.iterdir()) == ["precious.png"]
