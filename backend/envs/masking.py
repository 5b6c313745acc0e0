"""Masking of secret values for display: a secret shows none of its characters, a URL's password
is hidden.

Why its own module: errors raised by the kinds, the registry's ``display`` and the backend's log
lines all mask through these; the kinds and the registry both need them, below either of them.
"""

from __future__ import annotations

import re

MASK = "********"
SECRET_NAMES: set[str] = set()
"""Names of the secret variables, added as each is declared (``EnvVar``), so that an :class:`EnvError`
raised down here for one of them masks its value without asking the registry above (no import cycle)."""


def mask_secret(raw: str) -> str:
    """Mask a secret: never any of its characters (not even its length)."""
    return MASK if raw else ""


_URL_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s/?#@:]*)(?::[^\s/?#@]*)?@")


def mask_url_userinfo(text: str) -> str:
    """Mask the password of every URL in ``text``: ``http://user:pw@host`` -> ``http://user:********@host``.

    Why here: an endpoint URL is no secret variable, yet its userinfo is; every display path
    (errors, the registry's ``display``, the backend's log lines) goes through this one function.
    A userinfo without a colon (``http://token@host``) is all secret and masked whole.
    """
    if "@" not in text or "://" not in text:
        return text

    def masked(m: re.Match[str]) -> str:
        if ":" in m.group(0)[len(m.group("scheme")):]:
            return f"{m.group('scheme')}{m.group('user')}:{MASK}@"
        return f"{m.group('scheme')}{MASK}@"

    return _URL_USERINFO_RE.sub(masked, text)
