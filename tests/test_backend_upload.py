"""The backend's upload hook end to end: a real S3-compatible server on loopback (tests/fixtures_s3.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.exit_codes import ExitCode
from backend.records import OutputSaved, Uploaded, parse_line
from tests.fixtures_backend import clean_env, run_backend
from tests.fixtures_s3 import TEST_KEY_ID, TEST_SECRET


@pytest.mark.slow
@pytest.mark.parametrize("bucket_exists", [True, False], ids=["uploaded", "upload-failed"])
def test_generate_uploads_or_keeps_local(tmp_path: Path, s3_bucket: Any, bucket_exists: bool) -> None:
    bucket = s3_bucket.name if bucket_exists else s3_bucket.name + "-missing"
    env = clean_env(tmp_path, SGLANG_CLOUD_STORAGE_TYPE="s3", SGLANG_S3_BUCKET_NAME=bucket,
                    SGLANG_S3_ENDPOINT_URL=s3_bucket.endpoint, SGLANG_S3_ACCESS_KEY_ID=TEST_KEY_ID,
                    SGLANG_S3_SECRET_ACCESS_KEY=TEST_SECRET)
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2", env=env)
    records = [parse_line(line) for line in proc.stdout.splitlines()]
    saved = [r.path for r in records if isinstance(r, OutputSaved)]
    assert len(saved) == 1 and Path(saved[0]).is_file()  # the local file is always kept
    uploaded = [r for r in records if isinstance(r, Uploaded)]
    if bucket_exists:
        assert proc.returncode == ExitCode.OK, proc.stdout + proc.stderr
        assert len(uploaded) == 1 and uploaded[0].url.endswith("/" + Path(saved[0]).name)
    else:
        assert proc.returncode == ExitCode.UPLOAD_FAILED, proc.stdout + proc.stderr
        assert not uploaded and sum("Upload failed" in line for line in proc.stdout.splitlines()) == 1
    assert TEST_SECRET not in proc.stdout + proc.stderr
