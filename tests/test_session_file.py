"""Tests for ``tui/session_file.py`` and its use by sessions and ``env set``: lines that bash would
run, CRLF, concurrent writers (real processes, real flock), a TUI save over a changed file, and
secrets taken from standard input.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_session import REPO_ROOT
from tui.session import Session, SessionConflict
from tui.session_file import crlf_problem, shell_hazard

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")

HOSTILE = [
    "export MY_B=x&&{touch,{marker}}",
    "export MY_B=x;touch {marker}",
    "export MY_B=x|touch {marker}",
    "export MY_B=x>{marker}",
    'export MY_B="$(touch {marker})"',
    "export MY_B=`touch {marker}`",
    "export MY_B=x&touch {marker}",
    "export MY_B=(touch {marker})",
]


@pytest.mark.parametrize("text", ["export A=1", "A='x;y|z&w'", 'A="a > b"', "export A=x # a comment; fine",
                                  "A=\\;", "A='$(not run)'"])
def test_plain_assignments_are_not_hazards(text: str) -> None:
    assert shell_hazard(text) is None


@pytest.mark.parametrize("template", HOSTILE)
def test_hazards_are_named(template: str) -> None:
    found = shell_hazard(template.replace("{marker}", "/tmp/x"))
    assert found is not None and ("command" in found or "file" in found or "subshell" in found)


@needs_bash
@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_line_is_an_error_and_bash_would_have_run_it(template: str, sessions_path: Path,
                                                             tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "PWNED"
    line = template.replace("{marker}", str(marker))
    sessions_path.mkdir(parents=True)
    path = sessions_path / "h.env"
    path.write_text(f"export SGLANG_CACHE_DIT_FN=2\n{line}\n", encoding="utf-8")
    session = Session.load("h")
    errors = [p.message for p in session.load_problems if p.is_error]
    assert len(errors) == 1 and "h.env line 2 is not a plain assignment" in errors[0], errors
    assert "MY_B" not in session.unknown
    result = run_cli("env", "check", "--session", "h")
    assert result.rc == 1 and "line 2 is not a plain assignment" in result.out, result
    assert not marker.exists()  # the console never sources it
    # ... and the check is right: a real bash does run something when it sources the line
    subprocess.run([BASH, "--noprofile", "--norc", "-c", 'source "$1"', "bash", str(path)], cwd=tmp_path,
                   capture_output=True, timeout=30)
    assert marker.exists() or any(tmp_path.iterdir()), "this line was expected to do something in bash"


@needs_bash
def test_a_saved_session_runs_nothing_when_sourced(config_root: Path, tmp_path: Path) -> None:
    session = Session.new("safe")
    marker = tmp_path / "PWNED"
    for text in (f"x&&{{touch,{marker}}}", f"x;touch {marker}", f"$(touch {marker})", f"`touch {marker}`"):
        session.set("MY_VALUE", text)
        path = session.save()
        out = subprocess.run([BASH, "--noprofile", "--norc", "-c", 'source "$1"; printf %s "$MY_VALUE"', "bash",
                              str(path)], capture_output=True, text=True, timeout=30)
        assert out.stdout == text
        assert not marker.exists()
        assert not [p for p in Session.load("safe").load_problems if p.is_error]


def test_crlf_is_an_error_with_the_fix(sessions_path: Path) -> None:
    sessions_path.mkdir(parents=True)
    (sessions_path / "w.env").write_bytes(b"export SGLANG_DIFFUSION_TARGET_DEVICE=cpu\r\n")
    session = Session.load("w")
    (problem,) = [p for p in session.load_problems if p.is_error]
    assert "w.env line 1" in problem.message and "carriage return" in problem.message
    assert "sed -i 's/\\r$//'" in problem.message
    assert session.values == {}
    assert crlf_problem("A=1") is None


def test_tui_save_over_a_changed_file_refuses_then_merges(config_root: Path) -> None:
    mine = Session.new("shared")
    mine.set("SGLANG_CACHE_DIT_FN", "2")
    mine.save()
    mine = Session.load("shared")
    other = Session.load("shared")
    other.set("SGLANG_CACHE_DIT_MC", "5")
    other.save()
    mine.set("SGLANG_CACHE_DIT_BN", "3")
    assert mine.changed_on_disk()
    with pytest.raises(SessionConflict, match="changed on disk since it was loaded"):
        mine.save()
    assert Session.load("shared").values == {"SGLANG_CACHE_DIT_FN": "2", "SGLANG_CACHE_DIT_MC": "5"}
    assert mine.merge_from_disk() == []
    mine.save()
    assert Session.load("shared").values == {"SGLANG_CACHE_DIT_FN": "2", "SGLANG_CACHE_DIT_MC": "5",
                                             "SGLANG_CACHE_DIT_BN": "3"}


def test_reload_drops_local_changes(config_root: Path) -> None:
    first = Session.new("r")
    first.set("SGLANG_CACHE_DIT_FN", "2")
    first.save()
    other = Session.load("r")
    other.set("SGLANG_CACHE_DIT_FN", "7")
    other.save()
    first.set("SGLANG_CACHE_DIT_BN", "3")
    first.reload()
    assert (first.values, first.dirty) == ({"SGLANG_CACHE_DIT_FN": "7"}, False)


_WRITER = """
import sys
from tui.cli_env import main
who, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    rc = main(["set", "race", f"K_{who}_{i}={who}-{i}"])
    assert rc == 0, rc
"""


def test_two_writers_lose_no_update(clean_env: dict[str, str], sessions_path: Path) -> None:
    """2 processes x 200 ``env set`` on one session (real processes, real flock): 0 lost, 0 torn."""
    count = 200
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, who, str(count)], cwd=REPO_ROOT, env=clean_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for who in ("a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=540)
        assert proc.returncode == 0, err[-2000:]
    session = Session.load("race")
    expected = {f"K_{who}_{i}": f"{who}-{i}" for who in ("a", "b") for i in range(count)}
    assert session.unknown == expected
    assert not session.load_problems
    print(f"concurrent env set: {len(expected)} written, {len(expected) - len(session.unknown)} lost, 0 torn")


def test_set_reads_a_secret_from_stdin(run_cli, sessions_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("env", "set", "s", "SGLANG_S3_SECRET_ACCESS_KEY", "--stdin", input="s3cr3t/Key+v\n")
    assert result.rc == 0, result
    assert "s3cr3t" not in result.out + result.err
    assert Session.load("s").values == {"SGLANG_S3_SECRET_ACCESS_KEY": "s3cr3t/Key+v"}
    refused = run_cli("env", "set", "s", "A", "B", "--stdin", input="x\n")
    assert refused.rc == 2 and "only one NAME" in refused.err
