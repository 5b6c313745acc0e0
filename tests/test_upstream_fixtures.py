"""The genuine fixtures and their generator: the manifest names the release and wheel, exit statuses
are what each scenario did, no path of the generating machine leaked, and ``--compare`` reports a
changed line shape (stamps, pids and durations ignored)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

from tests.upstream_data import RELEASE, UPSTREAM, manifest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_upstream_fixtures.py"


def load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_upstream_fixtures", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the class is built
    spec.loader.exec_module(module)
    return module


def test_manifest_names_release_wheel_and_exit_statuses() -> None:
    m = manifest()
    assert m["release"] == RELEASE and re.fullmatch(r"[0-9a-f]{64}", m["wheel_sha256"])
    assert m["wheel"].startswith(f"sglang-{RELEASE}-")
    codes = {name: [p["returncode"] for p in s["processes"]] for name, s in m["scenarios"].items()}
    assert codes["level1"] == codes["level10"] == codes["kill_outside_kernel_l1"] == [-9]
    assert codes["handled_then_cuda_error"] == [1] and codes["clean"] == [0] and codes["multiproc"] == [0, -9]
    assert all((UPSTREAM / name / "stdout.log").is_file() or (UPSTREAM / name / "console.log").is_file()
               for name in m["scenarios"])


def test_no_machine_path_in_the_fixtures() -> None:
    """The generator rewrites the paths of the machine it ran on: no checkout, home or temp dir leaks."""
    import tempfile

    here = {str(Path(__file__).resolve().parents[2]), str(Path.home()), tempfile.gettempdir()}
    for path in UPSTREAM.rglob("*"):
        if path.is_file() and path.suffix not in {".pt", ".png"}:
            text = path.read_text(errors="replace")
            assert not [p for p in here if p + "/" in text], path


def test_compare_reports_changed_shapes_only(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    script = load_script()
    assert script.compare(UPSTREAM, UPSTREAM) == 0
    other = tmp_path / "sglang-next"
    shutil.copytree(UPSTREAM, other)
    out = other / "level1" / "stdout.log"
    out.write_text(out.read_text().replace("Output saved to", "Saved output to:"))
    assert script.compare(UPSTREAM, other) == 4  # two lines gone, two new
    printed = capsys.readouterr().out
    assert "level1/stdout.log" in printed and "+[<TIME>] Saved output to:" in printed
