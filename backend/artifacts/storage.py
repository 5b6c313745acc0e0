"""Upload of saved outputs to S3-compatible storage, driven by ``SGLANG_CLOUD_STORAGE_TYPE`` and ``SGLANG_S3_*``.

Like SGLang: a boto3 client built from the variables (unset keys fall back to boto3's normal
credential chain), object key = the output's file name, content type from the extension, the URL
built the same way (path style under a custom endpoint, else virtual-hosted AWS), and the log line
``Uploaded <local_path> to <url>``.

Unlike SGLang:

* the local file is never deleted or lost: an upload only ever adds a copy;
* transient failures (connection errors, timeouts, 5xx, throttling) are retried with exponential
  backoff, a bounded number of times, and every attempt is bounded in time: a connect timeout, a
  read timeout (``SGL_BACKEND_UPLOAD_TIMEOUT_S``, default 30 s) and no new attempt after a
  per-file deadline, so a stalled endpoint or one that drops the connection mid-upload costs
  seconds, not the run (botocore's own retries are off: its ``max_attempts`` counts *retries*);
* a missing bucket, rejected credentials, an unreachable endpoint, an endpoint that does not answer
  in time or one that drops the connection is reported as one line that names which, the run still succeeds locally, and the result says so (the backend maps it to
  :attr:`ExitCode.UPLOAD_FAILED`, a warning code);
* storage on without a bucket is an error at startup (:func:`validate_storage`), not a silent no-op;
* the secret key (and the access key id) never appear in a log line, an error message or a repr:
  botocore's messages are scrubbed before they are shown.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from backend import envs
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import get_logger

logger = get_logger("storage")

CONTENT_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".mp4": "video/mp4", ".glb": "model/gltf-binary", ".obj": "text/plain",
}
"""SGLang's table; anything else is ``application/octet-stream``."""
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MASK = envs.mask_secret("x")

TRANSIENT_CODES = frozenset({
    "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeoutException",
    "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException", "BadGateway",
    "GatewayTimeout",
})
"""S3 error codes worth another try."""
BATCH_FATAL = frozenset({"no_such_bucket", "credentials", "no_credentials", "access_denied", "unreachable",
                         "timeout", "dropped"})
"""Failures that would repeat for every file of a batch: the batch stops after the first."""
TIMEOUT_VARIABLE = "SGL_BACKEND_UPLOAD_TIMEOUT_S"
"""Our backend's own knob (not an SGLang variable, so not in the console's registry): seconds one
upload attempt may wait for the endpoint, for the connection and for each read."""
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 3600.0
CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId",
                              "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed"})


def upload_timeout(environ: Mapping[str, str] | None = None) -> float:
    """The per-attempt timeout from :data:`TIMEOUT_VARIABLE`, else :data:`DEFAULT_TIMEOUT_S`.

    Raises:
        BackendError: ``BAD_ENV`` for a value that is not a number in (0, 3600].
    """
    raw = (os.environ if environ is None else environ).get(TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_TIMEOUT_S:  # also refuses nan and inf
        raise BackendError(ExitCode.BAD_ENV, f"{TIMEOUT_VARIABLE}={raw[:40]!r} is not valid; allowed: a number of "
                                             f"seconds greater than 0 and at most {MAX_TIMEOUT_S:g}")
    return value


def content_type_for(path: str) -> str:
    """Content type from the file extension (case-insensitive)."""
    return CONTENT_TYPES.get(os.path.splitext(path)[1].lower(), DEFAULT_CONTENT_TYPE)


@dataclass(frozen=True)
class StorageConfig:
    """Where uploads go.  Credentials are kept out of ``repr`` and every message."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    """For the URL; also the client's region when :attr:`region_explicit`."""
    region_explicit: bool = False
    """False: boto3 resolves the region itself (AWS_REGION, ~/.aws/config), as SGLang does."""
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        key = MASK if self.access_key_id else None
        secret = MASK if self.secret_access_key else None
        endpoint = envs.mask_url_userinfo(self.endpoint_url) if self.endpoint_url else None
        return (f"StorageConfig(bucket={self.bucket!r}, endpoint_url={endpoint!r}, "
                f"region={self.region!r}, access_key_id={key!r}, secret_access_key={secret!r})")

    @property
    def where(self) -> str:
        """The endpoint in words, for messages."""
        return envs.mask_url_userinfo(self.endpoint_url) if self.endpoint_url else f"AWS S3 ({self.region})"

    def object_url(self, key: str) -> str:
        """The object's URL as SGLang builds it (the key is percent-quoted; our names never need it).

        A password in the endpoint URL is masked: this URL is logged and answered to clients.
        """
        quoted = quote(key)
        if self.endpoint_url:
            return f"{envs.mask_url_userinfo(self.endpoint_url).rstrip('/')}/{self.bucket}/{quoted}"
        return f"https://{self.bucket}.s3.{self.region or 'us-east-1'}.amazonaws.com/{quoted}"

    def scrub(self, text: str) -> str:
        """``text`` with the secret key and the access key id replaced by a mask."""
        for value in (self.secret_access_key, self.access_key_id):
            if value:
                text = text.replace(value, MASK)
        return envs.mask_url_userinfo(text)


def validate_storage(settings: envs.Settings) -> StorageConfig | None:
    """The storage configuration, None when storage is off.

    Raises:
        BackendError: ``BAD_ENV`` when ``SGLANG_CLOUD_STORAGE_TYPE=s3`` has no bucket (SGLang would
            silently not upload; we refuse to start), or only one of the two keys is set.
    """
    if settings[envs.CLOUD_STORAGE_TYPE] != "s3":
        return None
    bucket = settings[envs.S3_BUCKET_NAME]
    if not bucket:
        raise BackendError(ExitCode.BAD_ENV,
                           f"{envs.CLOUD_STORAGE_TYPE.name}=s3 needs {envs.S3_BUCKET_NAME.name}: "
                           f"storage is on but no bucket is set")
    key_id, secret = settings[envs.S3_ACCESS_KEY_ID], settings[envs.S3_SECRET_ACCESS_KEY]
    if (key_id is None) != (secret is None):
        given, missing = (envs.S3_ACCESS_KEY_ID, envs.S3_SECRET_ACCESS_KEY) if key_id else (
            envs.S3_SECRET_ACCESS_KEY, envs.S3_ACCESS_KEY_ID)
        raise BackendError(ExitCode.BAD_ENV,
                           f"{given.name} is set without {missing.name}: give both keys, or neither to use "
                           f"boto3's credential chain")
    return StorageConfig(
        bucket=bucket,
        endpoint_url=settings[envs.S3_ENDPOINT_URL],
        region=settings[envs.S3_REGION_NAME] or "us-east-1",
        region_explicit=settings.is_set(envs.S3_REGION_NAME),
        access_key_id=key_id,
        secret_access_key=secret,
    )


@dataclass(frozen=True)
class UploadResult:
    """The outcome of one upload.  The local file exists either way."""

    local_path: str
    key: str
    url: str | None = None
    kind: str | None = None
    """On failure: ``no_such_bucket``, ``credentials``, ``no_credentials``, ``access_denied``,
    ``unreachable``, ``timeout``, ``dropped``, ``missing_file`` or ``error``."""
    code: str | None = None
    """The S3 error code or botocore exception name, e.g. ``NoSuchBucket``."""
    message: str | None = None
    """The one line that was logged (scrubbed)."""
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.url is not None


@dataclass(frozen=True)
class UploadReport:
    """All uploads of one request."""

    results: tuple[UploadResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def urls(self) -> dict[str, str]:
        """local path -> URL for the files that were uploaded."""
        return {r.local_path: r.url for r in self.results if r.url is not None}

    @property
    def failures(self) -> list[UploadResult]:
        return [r for r in self.results if not r.ok]

    @property
    def error(self) -> str | None:
        """The first failure's line (what ``GenerationResult.upload_error`` should carry), else None."""
        bad = self.failures
        return bad[0].message if bad else None

    @property
    def exit_code(self) -> ExitCode:
        """``OK``, or ``UPLOAD_FAILED`` (outputs saved locally, upload failed: a warning, not a crash)."""
        return ExitCode.OK if self.ok else ExitCode.UPLOAD_FAILED


class _Failure(Exception):
    def __init__(self, kind: str, code: str, detail: str, transient: bool) -> None:
        super().__init__(detail)
        self.kind, self.code, self.detail, self.transient = kind, code, detail, transient


class CloudStorage:
    """Uploads outputs to one bucket.  Thread-safe for sequential use per request; the client is lazy.

    Args:
        config: From :func:`validate_storage`.
        max_attempts: Tries per file for transient errors (first try included); bounded.
        backoff_s: First backoff; doubles per retry, capped at ``max_backoff_s``, with jitter.
        connect_timeout_s: botocore connect timeout (at most ``read_timeout_s``).
        read_timeout_s: botocore read timeout; None reads :data:`TIMEOUT_VARIABLE`.
        deadline_s: No new attempt for a file starts after this many seconds; None means
            ``max_attempts`` times the read timeout.
        client: A ready boto3 S3 client (tests); built from ``config`` when None.
        sleep: Injected for tests.
    """

    def __init__(
        self,
        config: StorageConfig,
        *,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float | None = None,
        deadline_s: float | None = None,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.read_timeout_s = upload_timeout() if read_timeout_s is None else read_timeout_s
        self.connect_timeout_s = min(connect_timeout_s, self.read_timeout_s)
        self.deadline_s = self.max_attempts * self.read_timeout_s if deadline_s is None else deadline_s
        self._client = client
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"CloudStorage({self.config!r}, max_attempts={self.max_attempts})"

    @classmethod
    def from_settings(cls, settings: envs.Settings, **kwargs: Any) -> CloudStorage | None:
        """None when storage is off; raises ``BackendError(BAD_ENV)`` when it is on without a bucket."""
        config = validate_storage(settings)
        return None if config is None else cls(config, **kwargs)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            c = self.config
            botocore_config = Config(
                retries={"total_max_attempts": 1, "mode": "standard"},  # our own bounded loop retries
                connect_timeout=self.connect_timeout_s,
                read_timeout=self.read_timeout_s,
                s3={"addressing_style": "path"} if c.endpoint_url else None,
            )
            self._client = boto3.client(
                "s3",
                endpoint_url=c.endpoint_url,
                region_name=c.region if c.region_explicit else None,
                aws_access_key_id=c.access_key_id,
                aws_secret_access_key=c.secret_access_key,
                config=botocore_config,
            )
        return self._client

    def upload(self, local_path: str | os.PathLike[str]) -> UploadResult:
        """Upload one saved output; never raises for storage trouble and never touches the local file.

        Logs ``Uploaded <path> to <url>``, or one WARNING line saying what went wrong.
        """
        result, failure = self._upload(os.fspath(local_path))
        if failure is not None:
            logger.warning("%s", result.message)
        return result

    def upload_all(self, paths: Iterable[str | os.PathLike[str]]) -> UploadReport:
        """Upload a request's outputs in order.

        A failure that would repeat for every file (missing bucket, rejected or missing credentials,
        access denied, unreachable endpoint) stops the batch: the remaining files are not tried
        (``attempts == 0``) and the whole batch gets ONE warning line naming the cause and how many
        outputs were kept locally.  Any other failure is reported per file and the next file is tried.
        """
        results: list[UploadResult] = []
        fatal: tuple[UploadResult, _Failure] | None = None
        for local_path in paths:
            path = os.fspath(local_path)
            if fatal is not None:
                first = fatal[0]
                results.append(UploadResult(path, os.path.basename(path), kind=first.kind, code=first.code))
                continue
            result, failure = self._upload(path)
            results.append(result)
            if failure is None:
                continue
            if failure.kind in BATCH_FATAL:
                fatal = (result, failure)
            else:
                logger.warning("%s", result.message)
        if fatal is not None:
            first, failure = fatal
            skipped = [r.local_path for r in results if r.kind == first.kind and r.attempts == 0]
            message = self._message(first.local_path, first.key, failure, first.attempts, skipped)
            results = [replace(r, message=message) if not r.ok else r for r in results]
            logger.warning("%s", message)
        return UploadReport(tuple(results))

    def _upload(self, path: str) -> tuple[UploadResult, _Failure | None]:
        key = os.path.basename(path)
        attempts = 0
        failure: _Failure | None = None
        deadline = time.monotonic() + self.deadline_s
        if not os.path.isfile(path):
            failure = _Failure("missing_file", "FileNotFoundError", "the output file does not exist", False)
        while failure is None or (
            failure.transient and attempts < self.max_attempts and time.monotonic() < deadline
        ):
            if attempts:
                self._sleep(self._backoff(attempts))
            attempts += 1
            try:
                self._put(path, key)
            except _Failure as exc:
                failure = exc
                logger.debug("upload attempt %d/%d for %s failed: %s", attempts, self.max_attempts, key,
                             self.config.scrub(exc.detail))
                continue
            url = self.config.object_url(key)
            logger.info("Uploaded %s to %s", path, url)
            return UploadResult(path, key, url=url, attempts=attempts), None
        message = self._message(path, key, failure, attempts)
        result = UploadResult(
            path, key, kind=failure.kind, code=failure.code, message=message, attempts=attempts
        )
        return result, failure

    # -- internals ----------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)

    def _put(self, path: str, key: str) -> None:
        from botocore import exceptions as bex

        try:
            with open(path, "rb") as body:
                self.client.put_object(Bucket=self.config.bucket, Key=key, Body=body,
                                       ContentType=content_type_for(path))
        except bex.ClientError as exc:
            err = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
            code = str(err.get("Code") or "ClientError")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            detail = str(err.get("Message") or exc)
            if code == "NoSuchBucket":
                raise _Failure("no_such_bucket", code, detail, False) from None
            if code in CREDENTIAL_CODES:
                raise _Failure("credentials", code, detail, False) from None
            if code in ("AccessDenied", "Forbidden", "403") or status == 403:
                raise _Failure("access_denied", code, detail, False) from None
            transient = code in TRANSIENT_CODES or status >= 500 or status == 429
            raise _Failure("error", code, detail, transient) from None
        except bex.NoCredentialsError as exc:
            raise _Failure("no_credentials", type(exc).__name__, str(exc), False) from None
        except (bex.EndpointConnectionError, bex.ConnectTimeoutError) as exc:
            raise _Failure("unreachable", type(exc).__name__, str(exc), True) from None
        except bex.ConnectionClosedError as exc:
            raise _Failure("dropped", type(exc).__name__, str(exc), True) from None
        except bex.ReadTimeoutError as exc:
            raise _Failure("timeout", type(exc).__name__, str(exc), True) from None
        except (bex.ConnectionError, bex.HTTPClientError) as exc:
            raise _Failure("error", type(exc).__name__, str(exc), True) from None
        except bex.BotoCoreError as exc:
            raise _Failure("error", type(exc).__name__, str(exc), False) from None
        except OSError as exc:  # reading the local file
            raise _Failure("missing_file", type(exc).__name__, exc.strerror or str(exc), False) from None

    def _message(
        self, path: str, key: str, failure: _Failure, attempts: int, skipped: Sequence[str] = ()
    ) -> str:
        c = self.config
        tries = f", {attempts} attempts" if attempts > 1 else ""
        why = {
            "no_such_bucket": f"bucket {c.bucket!r} does not exist at {c.where} ({failure.code})",
            "credentials": f"the S3 credentials were rejected by {c.where} ({failure.code}: "
                           + ("unknown access key id" if failure.code == "InvalidAccessKeyId"
                              else "the secret key does not match" if failure.code == "SignatureDoesNotMatch"
                              else c.scrub(failure.detail)) + ")",
            "no_credentials": f"no S3 credentials found ({failure.code}): set {envs.S3_ACCESS_KEY_ID.name} and "
                              f"{envs.S3_SECRET_ACCESS_KEY.name}, or configure boto3's credential chain",
            "access_denied": f"access to bucket {c.bucket!r} was denied by {c.where} ({failure.code})",
            "unreachable": f"unreachable endpoint {c.where} ({failure.code}{tries})",
            "timeout": f"no answer from {c.where} within {self.read_timeout_s:g} s ({failure.code}{tries}; "
                       f"{TIMEOUT_VARIABLE} sets the limit)",
            "dropped": f"{c.where} closed the connection during the upload ({failure.code}{tries})",
            "missing_file": f"the output file cannot be read ({failure.code}: {failure.detail})",
        }.get(failure.kind, f"{failure.code}: {c.scrub(failure.detail)}{tries}")
        kept = "no local file to keep" if failure.kind == "missing_file" else f"the output is kept at {path}"
        if skipped:
            folders = {os.path.dirname(p) or "." for p in (path, *skipped)}
            where = f"in {folders.pop()}" if len(folders) == 1 else "locally"
            kept = f"{len(skipped) + 1} outputs not uploaded, all kept {where}"
            key = f"{key} and {len(skipped)} more"
        return c.scrub(f"Upload failed for {key}: {why}; {kept}")


__all__ = [
    "CONTENT_TYPES", "CloudStorage", "StorageConfig", "UploadReport", "UploadResult", "content_type_for",
    "upload_timeout", "validate_storage",
]
