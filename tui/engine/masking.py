"""Secrets out of everything the console writes or shows, masked once, at the bytes.

Why at the reader: the run log on disk, the Output view, ``sgl-console run``'s echo and the
crash report are all fed from the same masked bytes, so no consumer can forget.  A secret
split across two reads is caught by holding back a read's tail while it could still be the
start of a secret (released with the next read, or at end of stream).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

MIN_SECRET_CHARS = 4
"""Shorter values are not masked in output: masking every ``a`` or ``42`` would wreck the log
(and such a value protects nothing anyway)."""


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Every secret value of ``env``: the registry's secret variables, and the password in URL
    variables (``http://user:pw@host``: ``pw``; ``http://token@host``: ``token``)."""
    from backend import envs

    found: set[str] = set()
    for var in envs.REGISTRY.values():
        value = env.get(var.name)
        if not value:
            continue
        if var.secret:
            found.add(value)
        elif "@" in value and "://" in value:
            try:
                parts = urlsplit(value)
            except ValueError:
                continue
            if parts.password:  # http://user:pw@host: the password (the user name stays, as the registry shows it)
                found.add(parts.password)
            elif parts.username:  # http://token@host: a userinfo without a colon is all secret
                found.add(parts.username)
    return sorted((s for s in found if len(s) >= MIN_SECRET_CHARS), key=len, reverse=True)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret replaced by the registry's mask."""
    from backend import envs

    for value in secrets:
        if value in text:
            text = text.replace(value, envs.mask_secret(value))
    return text


def shown_command(plan: object) -> str:
    """A launch plan's command line as it may be shown or written: every secret of its env masked
    (the plan's own display masks the registry's secrets; URL passwords are masked here too)."""
    display = str(getattr(plan, "display", ""))
    return mask_text(display, secret_values(getattr(plan, "env", {})))


class StreamMasker:
    """Masks secrets in one byte stream, chunk by chunk (one per reader: it holds state)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        from backend import envs

        values = sorted({s.encode() for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
        self._secrets = values
        self._mask = envs.mask_secret("x").encode()
        self._held = b""

    @property
    def active(self) -> bool:
        return bool(self._secrets)

    def feed(self, data: bytes) -> bytes:
        """Masked bytes ready to pass on (maybe fewer than given: a possible secret start is held)."""
        if not self._secrets:
            return data
        if self._held:
            data, self._held = self._held + data, b""
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, self._mask)
        hold = 0
        for secret in self._secrets:
            first = secret[0]
            for k in range(min(len(secret) - 1, len(data)), hold, -1):
                if data[-k] == first and data.endswith(secret[:k]):
                    hold = k
                    break
        if hold:
            self._held, data = data[-hold:], data[:-hold]
        return data

    def flush(self) -> bytes:
        """End of stream: what was held back (it was not a secret after all)."""
        held, self._held = self._held, b""
        return held
