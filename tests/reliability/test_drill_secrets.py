"""Drill: one marker secret in every secret variable and in the endpoint URL's password; a run
whose child prints its environment and crashes, and a real generate with upload, both through
``sgl-console run``; then every file under the config and cache roots and the output PNGs is
searched for the marker, and checked for world access.

The session file itself is where the operator keeps the secret (``source`` must give it back), so it
is only checked for its mode.  Required: 0 hits, 0 world-readable files or world-searchable folders.  (The dev endpoints and the
console's screens are not covered yet: see /work/coord/drills.md.)
"""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend import envs
from tests.fixtures_backend import backend_command, clean_env
from tests.fixtures_session import REPO_ROOT
from tui.session import Session

pytestmark = pytest.mark.slow
MARKER = "MarkerS3cretZq81"


@pytest.mark.xfail(strict=True, reason="needs engine: masking of child output and private run dirs; "
                                       "backend: URL password masked (issue 10 defect 5)")  # fmt: skip
def test_no_secret_on_disk(tmp_path: Path, s3_bucket: Any, figure: Callable[[str, str], None]) -> None:
    config, cache, out = tmp_path / "config", tmp_path / "cache", tmp_path / "out"
    env = clean_env(tmp_path, SGLANG_DIFFUSION_CONFIG_ROOT=str(config), PYTHONPATH=str(REPO_ROOT),
                    SGL_CONSOLE_PLATFORMS="cuda")  # fmt: skip
    session = Session.new("secret", env)
    host = s3_bucket.endpoint.split("://", 1)[1]
    values = {"SGLANG_CLOUD_STORAGE_TYPE": "s3", "SGLANG_S3_BUCKET_NAME": s3_bucket.name,
              "SGLANG_S3_ENDPOINT_URL": f"http://drill:{MARKER}pw@{host}"}  # fmt: skip
    for var in envs.REGISTRY.values():
        if var.secret:
            values[var.name] = MARKER + var.name[-4:]
    for name, raw in values.items():
        session.set(name, raw)
    session.save()

    def console(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui", "run", "--session", "secret", "--force", "--", *cmd],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)  # fmt: skip

    crashed = console("sh", "-c", "env; echo Traceback; exit 3")
    generated = console(*backend_command("generate", "--prompt", "a red circle", "--num-inference-steps", "2",
                                         "--output-path", str(out)))  # fmt: skip
    hits, open_to_all, searched = [], [], 0
    for root in (config, cache, out):
        for path in [root, *root.rglob("*")] if root.exists() else []:
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode) and mode & (stat.S_IROTH | stat.S_IXOTH) or stat.S_ISREG(mode) and mode & stat.S_IROTH:
                open_to_all.append(f"{oct(mode & 0o777)} {path}")
            if stat.S_ISREG(mode) and path.parent != config / "console" / "sessions":  # the session file holds
                searched += 1  # the secret by design (it is what `source` reads); its mode is checked above
                if MARKER.encode() in path.read_bytes():
                    hits.append(str(path))
    shown = [name for name, proc in (("crash run", crashed), ("generate run", generated))
             if MARKER in proc.stdout + proc.stderr]  # fmt: skip
    figure("secrets", f"{searched} files searched: {len(hits)} with the secret, {len(open_to_all)} open to all users, "
                      f"secret shown by: {', '.join(shown) or 'none'} (exits {crashed.returncode}, "
                      f"{generated.returncode})")  # fmt: skip
    assert not hits, hits
    assert not open_to_all, open_to_all
    assert not shown
