"""Notification channels: apprise URLs, their masked labels, and masking of their secrets."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MASK = "****"
_TOKEN_SPLIT = re.compile(r"[/:@?&=#,;+\s]+")
# A token of a URL this long that the privacy-masked form does not show is treated as secret.
_MIN_SECRET = 6


class NotifyError(Exception):
    """A notification setting a user can fix (an URL apprise does not understand)."""


@dataclass(frozen=True)
class Channel:
    """One notification URL: the secret URL, a masked label, and the key deliveries use."""

    url: str = field(repr=False)
    label: str
    key: str
    valid: bool = True
    problem: str = ""  # for an invalid URL: what is wrong with it and what to do


def _known_schemes() -> set[str]:
    import apprise

    schemes: set[str] = set()
    for service in apprise.Apprise().details().get("schemas", []):
        for key in ("protocols", "secure_protocols"):
            value = service.get(key) or []
            schemes |= {value} if isinstance(value, str) else set(value)
    return schemes


def url_problem(url: str) -> str:
    """Why apprise refuses a URL, in words a user can act on (never quoting its secrets)."""
    scheme, sep, _ = url.partition("://")
    fix = "fix it in notify.urls or TRIALWATCH_NOTIFY_URLS"
    if not sep or not scheme:
        return (
            f"not a URL (no scheme://); {fix}: an apprise URL looks like "
            "mailtos://user:password@example.org?to=team@example.org or json://host/path"
        )
    if scheme.lower() not in _known_schemes():
        return (
            f"apprise knows no service {scheme}://; {fix} "
            "(e.g. mailto://, mailtos://, json://, slack://; see the apprise wiki for all)"
        )
    return (
        f"apprise cannot read this {scheme}:// URL (a missing host, a bad port, or a special "
        f"character in a password not %-escaped); {fix}"
    )


def _privacy_url(url: str) -> str | None:
    import apprise

    logger = logging.getLogger("apprise")
    # apprise logs why an URL does not parse; the channel's label says so instead.
    was, logger.disabled = logger.disabled, True
    try:
        ap = apprise.Apprise()
        if not ap.add(url):
            return None
        urls = ap.urls(privacy=True)
    finally:
        logger.disabled = was
    return urls[0] if urls else None


def _secrets(url: str, privacy: str | None) -> set[str]:
    out: set[str] = set()
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        out |= {password, unquote(password)}
    scheme = url.split("://", 1)[0]
    if privacy:
        public = set(_TOKEN_SPLIT.split(unquote(privacy)))
    else:
        # Not an URL apprise knows: everything but where it points to may be secret.
        try:
            parts = urlsplit(url)
            public = {parts.hostname or "", str(parts.port or "")}
        except ValueError:
            public = set()
    for token in _TOKEN_SPLIT.split(url) + _TOKEN_SPLIT.split(unquote(url)):
        if len(token) >= _MIN_SECRET and token not in public and token != scheme:
            out.add(token)
    # Short passwords still get masked, but never one or two characters that would mangle text.
    return {s for s in out if len(s) >= 3}


class Masker:
    """Replaces every secret part of the configured URLs in a text (logs, errors, status)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for s in secrets:
            variants |= {s, quote(s, safe=""), quote(s)}
        self._secrets = sorted(variants, key=len, reverse=True)

    def __call__(self, text: Any) -> str:
        out = str(text)
        for secret in self._secrets:
            out = out.replace(secret, MASK)
        return out


class _MaskFilter(logging.Filter):
    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.masker(record.getMessage())
        record.args = ()
        return True


def parse_channels(urls: list[str]) -> tuple[list[Channel], Masker]:
    """The configured URLs as channels (invalid ones flagged) and a masker for their secrets."""
    out: list[Channel] = []
    secrets: set[str] = set()
    for i, url in enumerate(urls, 1):
        privacy = _privacy_url(url)
        secrets |= _secrets(url, privacy)
        label = privacy.split("?", 1)[0] if privacy else f"notification URL #{i}"
        digest = hashlib.sha256(url.encode()).hexdigest()[:8]
        key = f"{label[:180]} #{digest}"
        problem = "" if privacy else url_problem(url)
        out.append(Channel(url=url, label=label, key=key, valid=bool(privacy), problem=problem))
    masker = Masker(secrets)
    return [
        Channel(c.url, masker(c.label), masker(c.key), c.valid, masker(c.problem)) for c in out
    ], masker


def mask_apprise_logs(masker: Masker, *, show: bool = False) -> None:
    """Mask secrets in apprise's own log records; show them on stderr only when asked (-v)."""
    logger = logging.getLogger("apprise")
    for f in list(logger.filters):
        if isinstance(f, _MaskFilter):
            logger.removeFilter(f)
    logger.addFilter(_MaskFilter(masker))
    logger.propagate = show
