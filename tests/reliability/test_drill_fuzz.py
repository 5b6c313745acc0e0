"""Drill: fuzz every variable's parser and the session-file reader (hypothesis), then source what
was written in a real bash.

Values are read the way the session reads them: upstream's semantics by default, ours in strict mode
(both are drawn).  Required: no exception but the variable's own ``EnvError``; nothing invalid ever written; sourcing a
saved session (or a hand-edited one that the reader finds clean) executes nothing (a sandbox folder
stays empty and no marker file appears) and gives bash exactly the values the console holds.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import envs
from backend.envs.settings import read_value
from tests.reliability.support import size
from tui.session import Session

HOSTILE = [
    "x&&{touch,PWNED}", "x;touch PWNED", "x|tee PWNED", "x>PWNED", "$(touch PWNED)", "`touch PWNED`",
    "x\ntouch PWNED", "'x'\"y\"", "a b", "\\", "'", '"', "${HOME}", "x\r", "\x00", "é", "\u2028", "-1", "1e309",
    "nan", "inf", " 1", "1 ", "0x10", "TRUE", "cuda,cpu", "s3://b", "http://u:p@h", "%i", "*", "~",
]
"""Values that broke shells, parsers or terminals somewhere before."""


def _raw_values(var: envs.EnvVar[Any]) -> st.SearchStrategy[str]:
    examples = list(var.kind.examples()) or ["x"]
    pieces = st.sampled_from(examples + HOSTILE)
    return st.one_of(pieces, st.text(max_size=40), st.builds(lambda a, b: a + b, pieces, pieces))


def _bash_values(path: Path, names: list[str], sandbox: Path) -> tuple[dict[str, str], str]:
    """Source ``path`` in a clean bash inside ``sandbox``; return the variables' values and stderr."""
    script = 'source "$1" >/dev/null 2>&1; shift; for n in "$@"; do printf "%s=%s\\0" "$n" "${!n-<unset>}"; done'
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script, "bash", str(path), *names],
                          cwd=sandbox, env={"PATH": "/usr/bin:/bin", "HOME": str(sandbox)},
                          capture_output=True, timeout=30)
    out = proc.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    return dict(item.split("=", 1) for item in out if "=" in item), proc.stderr.decode(errors="replace")


class Tally:
    def __init__(self) -> None:
        self.tried = self.crashes = self.invalid_written = self.executed = self.mismatched = 0
        self.examples: list[str] = []

    def note(self, what: str, example: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(f"{what}: {example!r}")


def _sandbox(tmp_path: Path) -> Path:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir(exist_ok=True)
    for child in sandbox.iterdir():
        child.unlink()
    return sandbox


def test_fuzz_parsers_and_saved_sessions(tmp_path: Path, clean_env: dict[str, str],
                                         figure: Callable[[str, str], None]) -> None:
    tally = Tally()
    variables = list(envs.REGISTRY.values())

    @settings(max_examples=size(150, 2000), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(variables), st.data()), min_size=1, max_size=6), st.data(),
           st.booleans())
    def run(picks: list[tuple[envs.EnvVar[Any], Any]], data: Any, strict: bool) -> None:
        session = Session.new("fuzz", clean_env)
        session.strict = strict  # upstream's reading by default, ours with --strict: both are fuzzed
        for var, _ in picks:
            raw = data.draw(_raw_values(var))
            tally.tried += 1
            try:
                read_value(var, raw, strict)
            except envs.EnvError:
                pass
            except Exception as exc:  # noqa: BLE001 - the figure counts what escapes
                tally.crashes += 1
                tally.note(f"{var.name} parse raised {type(exc).__name__}", raw)
            try:
                session.set(var.name, raw)
            except envs.EnvError:
                continue
            except Exception as exc:  # noqa: BLE001
                tally.crashes += 1
                tally.note(f"{var.name} set raised {type(exc).__name__}", raw)
        path = session.save()
        reread = Session.load("fuzz", clean_env)
        for name, raw in reread.values.items():
            try:
                read_value(envs.REGISTRY[name], raw, strict)
            except envs.EnvError:
                tally.invalid_written += 1
                tally.note(f"{name} written invalid", raw)
        sandbox = _sandbox(tmp_path)
        values, _ = _bash_values(path, list(reread.values), sandbox)
        if any(sandbox.iterdir()):
            tally.executed += 1
            tally.note("sourcing executed something", path.read_text(errors="replace"))
        for name, raw in reread.values.items():
            if values.get(name) != raw:
                tally.mismatched += 1
                tally.note(f"{name} differs in bash ({values.get(name)!r})", raw)
        path.unlink()

    try:
        run()
    finally:
        figure("fuzz parsers", f"{tally.tried} values over {len(variables)} variables: {tally.crashes} crashes, "
                               f"{tally.invalid_written} invalid values written, {tally.executed} sourcings "
                               f"executed anything, {tally.mismatched} values differing in bash")
    assert (tally.crashes, tally.invalid_written, tally.executed, tally.mismatched) == (0, 0, 0, 0), tally.examples


LINE_TEMPLATES = [
    "export {n}={v}", "{n}={v}", "export {n}='{v}'", 'export {n}="{v}"', "# {v}", "", "{v}",
    "export MY_B=x&&{{touch,PWNED}}", "export {n}=x;touch PWNED", "export {n}=x|tee PWNED", "export {n}=x>PWNED",
    "export {n}=$(touch PWNED)", "export {n}=`touch PWNED`", "export {n}=cpu\r", "export {n}=a b",
    "export {n}=x \\", "readonly {n}=x", "export {n}+=x", "declare -x {n}=x", "export {n}",
]
"""Lines a hand edit may leave: plain assignments, quoting, and ones that run commands when sourced."""


def test_fuzz_hand_edited_session_files(tmp_path: Path, clean_env: dict[str, str], sessions_path: Path,
                                        figure: Callable[[str, str], None]) -> None:
    tally = Tally()
    names = ["SGLANG_DIFFUSION_TARGET_DEVICE", "SGLANG_CACHE_DIT_FN", "MY_B", "OTHER_NAME"]
    sessions_path.mkdir(parents=True, exist_ok=True)
    path = sessions_path / "hand.env"

    @settings(max_examples=size(200, 3000), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(LINE_TEMPLATES), st.sampled_from(names),
                              st.one_of(st.sampled_from(["cpu", "3", "x"] + HOSTILE), st.text(max_size=12))),
                    max_size=6), st.sampled_from(["\n", "\r\n"]))
    def run(lines: list[tuple[str, str, str]], newline: str) -> None:
        text = newline.join(t.format(n=n, v=v) for t, n, v in lines) + newline
        path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        tally.tried += 1
        try:
            session = Session.load("hand", clean_env)
        except Exception as exc:  # noqa: BLE001
            tally.crashes += 1
            tally.note(f"load raised {type(exc).__name__}", text)
            return
        if any(p.is_error for p in session.load_problems):
            return  # refused with a message: fine, as long as it said so
        sandbox = _sandbox(tmp_path)
        values, _ = _bash_values(path, [*session.values, *session.unknown], sandbox)
        if any(sandbox.iterdir()):
            tally.executed += 1
            tally.note("clean file executed something when sourced", text)
        told = {n for p in session.load_problems if "shell expansion" in p.message for n in p.names}
        for name in [*session.values, *session.unknown]:
            if name not in told and values.get(name) != session.get(name):  # else warned: read literally
                tally.mismatched += 1
                tally.note(f"{name}: console {session.get(name)!r}, bash {values.get(name)!r}", text)

    try:
        run()
    finally:
        figure("fuzz session files", f"{tally.tried} files: {tally.crashes} crashes, {tally.executed} found clean "
                                     f"but executing when sourced, {tally.mismatched} values differing in bash")
    assert (tally.crashes, tally.executed, tally.mismatched) == (0, 0, 0), tally.examples
