"""The range and consistency checks of :class:`collab.settings.Settings`, and its secrets
(read from the value or a file, a token secret checked for length). Every message names the
setting as the user gives it (:func:`collab.setting_names.named`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from collab.setting_names import SettingsError, named

__all__ = ["MIN_SECRET_BYTES", "check", "read_secret", "strong_secret"]

_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#\s]+", re.IGNORECASE)
"""What a browser sends as ``Origin`` (RFC 6454): scheme, host and port, no path."""

MIN_SECRET_BYTES = 32
"""Shortest token secret accepted, in UTF-8 bytes: HS256's key should be at least as long as
its 32-byte hash (RFC 7518 section 3.2)."""


def check(settings: Any) -> None:
    """Check the ranges and combinations of ``settings`` (a :class:`~collab.settings.Settings`).

    Raises:
        SettingsError: naming the first bad setting by its flag and environment variable.
    """
    positive = (
        "max_document_bytes",
        "message_burst",
        "max_connections",
        "max_connections_per_document",
        "max_documents_per_socket",
        "max_message_bytes",
        "max_awareness_bytes",
        "send_queue_bytes",
        "compact_updates",
        "compact_bytes",
        "compact_seconds",
        "max_pending_bytes",
        "max_pending_structs",
        "full_syncs_per_minute",
        "hook_timeout_seconds",
        "webhook_debounce_seconds",
        "webhook_retry_seconds",
        "webhook_timeout_seconds",
        "event_retention_seconds",
        "workers",
    )
    for name in positive:
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{named(name)} must be positive, not {getattr(settings, name)}")
    not_negative = (
        "commit_retry_seconds",
        "room_grace_seconds",
        "hibernate_seconds",
        "hibernate_bytes",
        "version_quiet_seconds",
        "versions_keep_all_hours",
        "versions_keep_hourly_days",
        "versions_keep_daily_days",
        "max_messages_per_second",
        "rate_limit_close_seconds",
    )
    for name in not_negative:
        if not getattr(settings, name) >= 0:
            raise SettingsError(
                f"{named(name)} must not be negative, not {getattr(settings, name)}"
            )
    if settings.workers > 1 and not settings.redis:
        raise SettingsError(
            f"{named('workers')} above 1 needs {named('redis')} (the processes meet through it)"
        )
    if settings.redis and not settings.redis.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{named('redis')} must be a redis://, rediss:// or unix:// URL")
    if not 0 <= settings.port <= 65535:
        raise SettingsError(f"{named('port')} must be between 0 and 65535, not {settings.port}")
    choices = (  # the field, how its value is compared, the values allowed
        ("synchronous", str.upper, ("OFF", "NORMAL", "FULL", "EXTRA")),
        ("log_format", str, ("text", "json")),
        ("allocator", str, ("jemalloc", "system")),
        ("log_level", str.lower, ("debug", "info", "warning", "error")),
    )
    for name, normal, allowed in choices:
        value = getattr(settings, name)
        if normal(value) not in allowed:
            raise SettingsError(f"{named(name)} must be {_one_of(allowed)}, not {value!r}")
    if bool(settings.ssl_certfile) != bool(settings.ssl_keyfile):
        raise SettingsError(f"{named('ssl_certfile')} and {named('ssl_keyfile')} go together")
    for origin in settings.allowed_origins:
        if origin not in ("*", "null") and not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"{named('allowed_origins')} must be * or an origin as browsers send it,"
                f" scheme://host[:port] without a path (https://app.example), not {origin!r}"
            )
    for url in settings.webhook_urls:
        if not url.startswith(("http://", "https://")):
            raise SettingsError(
                f"{named('webhook_urls')} must start with http:// or https://: {url!r}"
            )
    if not settings.auth_algorithm.upper().startswith("HS"):
        raise SettingsError(
            f"{named('auth_algorithm')} must be an HMAC algorithm (HS256, HS384, HS512)"
        )


def _one_of(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1]


def read_secret(value: str, path: str, field: str) -> str:
    """A secret given as ``value``, else read from the file at ``path`` (stripped); empty
    when neither is set. ``field`` names the file's setting (``auth_secret_file``) in messages.

    Raises:
        SettingsError: when the file cannot be read or holds nothing.
    """
    if value or not path:
        return value
    try:
        secret = Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"cannot read {named(field)}: {exc}") from exc
    if not secret:
        raise SettingsError(f"{named(field)} {path} is empty")
    return secret


def strong_secret(secret: str, what: str) -> str:
    """``secret``, when it has at least :data:`MIN_SECRET_BYTES` UTF-8 bytes.

    Raises:
        SettingsError: saying how long it is and how to make a good one.
    """
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        raise SettingsError(
            f"{what} is {size} bytes; use at least {MIN_SECRET_BYTES} random bytes, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return secret
