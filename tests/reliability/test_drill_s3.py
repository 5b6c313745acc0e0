"""Drill: uploads against a down endpoint, a wrong key, a missing bucket, a server that never
answers and one that drops the connection mid-upload, each through a real ``sgl-backend generate``.

Required every time: exit 11 (saved locally, upload failed), the local image kept whole (a valid
PNG), one warning line that names the cause, and no secret in the output.  The moto server comes
from ``tests/fixtures_s3.py``, the two hostile servers from ``tests/fixtures_hostile.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.exit_codes import ExitCode
from backend.records import OutputSaved, parse_line
from tests.fixtures_backend import clean_env, run_backend
from tests.fixtures_drills import long_drills
from tests.fixtures_s3 import TEST_KEY_ID, TEST_SECRET, unused_loopback_port

pytestmark = pytest.mark.slow

CAUSES = {
    "down": "unreachable endpoint",
    "wrong-key": "credentials were rejected",
    "missing-bucket": "does not exist",
    "slow": "no answer from",
    "drop": "closed the connection during the upload",
}
SHORT = ("missing-bucket", "drop")
"""The short variant's end-to-end cases (a backend run each); ``tests/test_storage.py`` covers all five
in process on every run."""


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Callable[[str], tuple[str, str, str, str]]:
    """``target(case)`` → (endpoint, bucket, key id, secret) for that fault."""

    def make(case: str) -> tuple[str, str, str, str]:
        if case == "down":
            return f"http://127.0.0.1:{unused_loopback_port()}", "outputs", TEST_KEY_ID, TEST_SECRET
        if case in ("slow", "drop"):
            hostile = request.getfixturevalue("hostile_s3")
            return hostile[case].endpoint, "outputs", TEST_KEY_ID, TEST_SECRET
        bucket: Any = request.getfixturevalue("s3_bucket")
        if case == "missing-bucket":
            return bucket.endpoint, bucket.name + "-missing", TEST_KEY_ID, TEST_SECRET
        creds = request.getfixturevalue("s3_auth")  # real credential checks from here on
        return bucket.endpoint, bucket.name, creds.access_key_id, creds.secret_access_key + "-wrong"

    return make


@pytest.mark.parametrize("case", list(CAUSES))
def test_s3_fault(case: str, target: Callable[[str], tuple[str, str, str, str]], tmp_path: Path,
                  figure: Callable[[str, str], None]) -> None:
    if case not in SHORT and not long_drills():
        pytest.skip("long variant (./run.sh drills --long); tests/test_storage.py covers it in process")
    endpoint, bucket, key_id, secret = target(case)
    env = clean_env(tmp_path, SGLANG_CLOUD_STORAGE_TYPE="s3", SGLANG_S3_BUCKET_NAME=bucket,
                    SGLANG_S3_ENDPOINT_URL=endpoint, SGLANG_S3_ACCESS_KEY_ID=key_id,
                    SGLANG_S3_SECRET_ACCESS_KEY=secret, SGL_BACKEND_UPLOAD_TIMEOUT_S="1")
    started = time.monotonic()
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2",
                       "--output-path", str(tmp_path / "out"), env=env)
    wall = time.monotonic() - started
    text = proc.stdout + proc.stderr
    saved = [r.path for r in map(parse_line, proc.stdout.splitlines()) if isinstance(r, OutputSaved)]
    kept = 0
    for path in saved:
        with Image.open(path) as image:
            image.verify()  # whole and readable, not a torn file
        kept += 1
    failures = [line for line in text.splitlines() if "Upload failed" in line]
    named = len(failures) == 1 and CAUSES[case] in failures[0]
    leaked = secret in text
    figure(f"s3 {case}", f"exit {proc.returncode}, local files kept {kept}/{len(saved)}, cause named: "
                         f"{'yes' if named else 'no'}, secret shown: {'yes' if leaked else 'no'}, {wall:.0f} s")
    assert proc.returncode == ExitCode.UPLOAD_FAILED, text[-3000:]
    assert saved and kept == len(saved)
    assert named, failures or text[-3000:]
    assert not leaked
