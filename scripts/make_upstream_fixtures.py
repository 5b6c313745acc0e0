"""Regenerate tests/data/upstream/sglang-<release>/ by running that release's own logging code.

Why: the console's parsers and crash report must be right on what the real
runtime writes, not on lines we typed. This downloads the sglang wheel
(``pip download --no-deps``), unpacks it into a temporary directory and runs
its kernel API logger, configure_logger, StageProfiler, PerformanceLogger and
output saver on small CPU tensors in real subprocesses (SIGKILL included);
see upstream_fixture_child.py. No upstream code is copied into the project.

    python scripts/make_upstream_fixtures.py                       # 0.5.23 -> tests/data/upstream/
    python scripts/make_upstream_fixtures.py --wheel sglang-0.5.23-....whl
    python scripts/make_upstream_fixtures.py --release 0.5.24 --compare   # what changed vs 0.5.23

Paths of this machine are rewritten (MANIFEST.json lists the rewrites);
timestamps, pids, durations and tqdm rates stay as the runtime wrote them,
so a re-run only changes those.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "upstream_fixture_child.py"
DATA = REPO / "tests" / "data" / "upstream"
BASELINE = "0.5.23"
KEEP_PT_BYTES = 4096  # tensor dumps larger than this are dropped (a note says so)

# Neutral stand-ins for this machine's paths in what gets committed.
SGLANG_ROOT = "/opt/venv/lib/python3.11/site-packages"
RUN_ROOT = "/srv/sgl-run"
PY_ROOT = "/usr/local/lib/python3.11"


@dataclass(frozen=True)
class Proc:
    """One process of a scenario: its child program and its environment."""

    program: str
    env: dict[str, str] = field(default_factory=dict)
    merged: bool = False
    """stderr into stdout (``> console.log 2>&1``): one file, lines in the order they were written."""


def _kapi(level: int, **extra: str) -> dict[str, str]:
    env = {"SGLANG_KERNEL_API_LOGLEVEL": str(level), "SGLANG_KERNEL_API_LOGDEST": "kernel_api.log"}
    if level >= 10:
        env["SGLANG_KERNEL_API_DUMP_DIR"] = "dumps"
    env.update(extra)
    return env


# name -> (what it shows, processes). Every process runs in the scenario's directory.
SCENARIOS: dict[str, tuple[str, list[Proc]]] = {
    **{
        f"level{lvl}": (
            f"kernel API level {lvl}: req-1 ok (perf dump), req-2 handled CPU shape mismatch in a kernel at "
            "denoising step 1, req-3 NaN in and out, req-4 SIGKILL inside the sdpa kernel at step 1",
            [Proc("story", _kapi(lvl))],
        )
        for lvl in (1, 3, 5, 10)
    },
    "level0_kill_in_step": (
        "kernel API logging off: req-1 ok, req-2 SIGKILL in denoising step 2 (stage and progress lines only)",
        [Proc("kill_in_step", {"SGLANG_KERNEL_API_LOGLEVEL": "0"})],
    ),
    "kill_outside_kernel_l1": (
        "level 1: req-1 ok, req-2 SIGKILL in step 2 after every kernel call of the step returned",
        [Proc("kill_outside_kernel", _kapi(1))],
    ),
    "kill_outside_kernel_l3": (
        "level 3: same as kill_outside_kernel_l1; the Output: section shows the last call finished",
        [Proc("kill_outside_kernel", _kapi(3))],
    ),
    "handled_then_cuda_error": (
        "level 10: req-1 handled CPU shape mismatch, req-2 ok, req-3 raises a CUDA-error RuntimeError in "
        "sdpa at step 2, not handled: the process exits 1",
        [Proc("handled_then_cuda_error", _kapi(10))],
    ),
    "merged_l5": (
        "the level5 story with everything in one file, as '> console.log 2>&1' gives: kernel API log on "
        "stdout (LOGDEST unset), tqdm fragments and stage lines interleaved in write order",
        [Proc("story", {"SGLANG_KERNEL_API_LOGLEVEL": "5"}, merged=True)],
    ),
    "clean": (
        "level 5: two ok requests, batch completion line, exit 0",
        [Proc("clean", _kapi(5))],
    ),
    "multiproc": (
        "level 3, LOGDEST kernel_api_%i.log, two ranks sharing stdout/stderr: rank 0 ok, rank 1 SIGKILLed "
        "inside sdpa at step 1",
        [
            Proc("multiproc", _kapi(3, SGLANG_KERNEL_API_LOGDEST="kernel_api_%i.log", RANK="0", LOCAL_RANK="0")),
            Proc("multiproc", _kapi(3, SGLANG_KERNEL_API_LOGDEST="kernel_api_%i.log", RANK="1", LOCAL_RANK="1")),
        ],
    ),
}
COMMON_ENV = {
    "SGLANG_DIFFUSION_STAGE_LOGGING": "1",
    "SGLANG_PERF_LOG_DIR": "perf",
    "SGLANG_GIT_COMMIT": "N/A",
    "TQDM_NCOLS": "80",
    "TQDM_MININTERVAL": "0",  # one \r fragment per step, as a real (seconds-long) step gives
}


def fetch_wheel(release: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", f"sglang=={release}", "-d", str(into)],
        check=True,
    )
    wheels = sorted(into.glob(f"sglang-{release}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download gave no sglang-{release} wheel in {into}")
    return wheels[0]


def unpack(wheel: Path, into: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.startswith("sglang/") and n.endswith(".py")]
        archive.extractall(into, members=names)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_scenario(name: str, procs: list[Proc], root: Path, run_dir: Path) -> list[dict[str, object]]:
    """Start the scenario's processes together (they share stdout/stderr like spawned workers) and wait."""
    run_dir.mkdir(parents=True)
    # Default buffering, as under a launcher: every logging handler and tqdm flush per line anyway.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "PYTHONUNBUFFERED", "TQDM_"))}
    env.update(COMMON_ENV)
    merged = any(p.merged for p in procs)
    stdout = (run_dir / ("console.log" if merged else "stdout.log")).open("ab")
    stderr = stdout if merged else (run_dir / "stderr.log").open("ab")
    running = []
    for proc in procs:
        child_env = {**env, **proc.env}
        cmd = [sys.executable, str(CHILD), str(root), proc.program]
        running.append(
            (proc, subprocess.Popen(cmd, cwd=run_dir, env=child_env, stdout=stdout, stderr=stderr))
        )
    results = []
    for proc, popen in running:
        code = popen.wait(timeout=300)
        results.append({"pid": popen.pid, "env": proc.env, "returncode": code})
    stdout.close()
    if stderr is not stdout:
        stderr.close()
    return results


def _rewrites(root: Path, run_dir: Path) -> list[tuple[str, str]]:
    """Longest first, so a path inside another is rewritten whole."""
    pairs = {
        str(root): SGLANG_ROOT,
        str(run_dir): RUN_ROOT,
        str(CHILD.parent): "/opt/fixtures",
        str(Path(sys.prefix)): "/opt/venv",
        str(Path(sys.base_prefix)): "/usr/local",
        str(Path.home()): "/home/user",
    }
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def collect(run_dir: Path, out: Path, rewrites: list[tuple[str, str]]) -> list[str]:
    """Copy a scenario's files into the fixture tree, paths rewritten, big tensor dumps dropped."""
    notes = []
    for src in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = src.relative_to(run_dir)
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".pt" and src.stat().st_size > KEEP_PT_BYTES:
            notes.append(f"dropped {rel} ({src.stat().st_size} bytes)")
            continue
        if src.suffix in {".pt", ".png"}:
            shutil.copyfile(src, dst)
            continue
        # newline="": tqdm's \r fragments must reach the fixture as \r, not as \n
        with src.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
            text = handle.read()
        for old, new in rewrites:
            text = text.replace(old, new)
        with dst.open("w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
    return notes


def generate(release: str, wheel: Path | None, out: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="sglfix-") as tmp_name:
        tmp = Path(tmp_name)
        wheel = wheel or fetch_wheel(release, tmp / "wheel")
        root = tmp / "site"
        unpack(wheel, root)
        staging = out.with_name(out.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        manifest: dict[str, object] = {
            "release": release,
            "wheel": wheel.name,
            "wheel_sha256": sha256(wheel),
            "generator": "scripts/make_upstream_fixtures.py",
            "path_rewrites": {
                "unpacked wheel": SGLANG_ROOT,
                "scenario working directory": RUN_ROOT,
                "python prefix": "/opt/venv",
            },
            "common_env": COMMON_ENV,
            "scenarios": {},
        }
        for name, (about, procs) in SCENARIOS.items():
            run_dir = tmp / "run" / name
            results = run_scenario(name, procs, root, run_dir)
            notes = collect(run_dir, staging / name, _rewrites(root, run_dir))
            manifest["scenarios"][name] = {"about": about, "processes": results, "notes": notes}  # type: ignore[index]
            codes = ", ".join(str(r["returncode"]) for r in results)
            print(f"{name}: exit {codes}")
        (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    return manifest


_VOLATILE = [
    (re.compile(r"\x1b\[[0-9;]*m"), ""),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?"), "<TIME>"),
    (re.compile(r"\d\d-\d\d \d\d:\d\d:\d\d"), "<TIME>"),
    (re.compile(r"\d{8}_\d{6}_\d{3}"), "<STAMP>"),
    (re.compile(r"pid\d+"), "pid<N>"),
    (re.compile(r"[\d.?]+(?:it/s|s/it)"), "<RATE>"),
    (re.compile(r"\b\d\d:\d\d(?::\d\d)?\b"), "<T>"),
    (re.compile(r"-?\d+\.\d+(?:e[+-]?\d+)?"), "<F>"),
    (re.compile(r"(?<!\d)\d{3,}(?!\d)"), "<N>"),
    (re.compile(r"%\|[^|]*\|"), "%|<BAR>|"),  # tqdm sizes the bar to what the rate text leaves
    (re.compile(r" {2,}"), " "),
]


def shape(line: str) -> str:
    for pattern, repl in _VOLATILE:
        line = pattern.sub(repl, line)
    return line


def compare(old: Path, new: Path) -> int:
    """Print what changed between two fixture trees, stamps/pids/durations ignored; return the count."""
    changes = 0
    old_files = {p.relative_to(old) for p in old.rglob("*") if p.is_file() and p.suffix not in {".pt", ".png"}}
    new_files = {p.relative_to(new) for p in new.rglob("*") if p.is_file() and p.suffix not in {".pt", ".png"}}
    norm = {shape(str(p)) for p in old_files}
    for rel in sorted(new_files - old_files):
        if shape(str(rel)) not in norm:
            print(f"+ new file {rel}")
            changes += 1
    new_norm = {shape(str(p)) for p in new_files}
    for rel in sorted(old_files - new_files):
        if shape(str(rel)) not in new_norm:
            print(f"- file gone {rel}")
            changes += 1
    for rel in sorted(old_files & new_files):
        if rel.name == "MANIFEST.json":
            continue
        a = sorted({shape(line) for line in (old / rel).read_text(errors="replace").splitlines()})
        b = sorted({shape(line) for line in (new / rel).read_text(errors="replace").splitlines()})
        diff = [d for d in difflib.unified_diff(a, b, lineterm="", n=0) if d[:1] in "+-" and d[:3] not in {"+++", "---"}]
        if diff:
            print(f"~ {rel}: {len(diff)} line shape(s) changed")
            for d in diff[:12]:
                print(f"    {d[:160]}")
            changes += len(diff)
    old_m = json.loads((old / "MANIFEST.json").read_text())
    new_m = json.loads((new / "MANIFEST.json").read_text())
    for name, entry in new_m["scenarios"].items():
        before = [p["returncode"] for p in old_m["scenarios"].get(name, {}).get("processes", [])]
        after = [p["returncode"] for p in entry["processes"]]
        if before != after:
            print(f"~ {name}: exit status {before} -> {after}")
            changes += 1
    print(f"{changes} change(s) between sglang {old_m['release']} and {new_m['release']}")
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=BASELINE, help="sglang release to run (default %(default)s)")
    parser.add_argument("--wheel", type=Path, help="reuse a downloaded wheel instead of pip download")
    parser.add_argument("--out", type=Path, help="fixture directory (default tests/data/upstream/sglang-<release>)")
    parser.add_argument(
        "--compare", action="store_true", help=f"after generating, print what changed against sglang-{BASELINE}"
    )
    args = parser.parse_args(argv)
    if args.wheel is not None and not args.wheel.is_file():
        parser.error(f"--wheel {args.wheel}: no such file")
    out = args.out or DATA / f"sglang-{args.release}"
    generate(args.release, args.wheel, out)
    print(f"wrote {out}")
    if args.compare:
        baseline = DATA / f"sglang-{BASELINE}"
        if not (baseline / "MANIFEST.json").is_file():
            parser.error(f"--compare: no baseline at {baseline}")
        compare(baseline, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
