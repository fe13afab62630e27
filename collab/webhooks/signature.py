"""Webhook signatures: HMAC-SHA256 of the timestamp and the body, checked by receivers.

The scheme is the one payment providers made common (a timestamp in the signed text makes a
captured request useless after the tolerance): collab sends

    X-Collab-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

A receiver recomputes the HMAC over the raw body it received, compares in constant time, and
refuses timestamps older (or newer) than its tolerance. Several ``v1=`` values may appear
while a secret is being rotated; any one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "InvalidSignature", "sign", "verify"]

SIGNATURE_HEADER = "X-Collab-Signature"
"""The request header that carries the signature."""

DEFAULT_TOLERANCE = 300.0
"""Seconds a signature stays valid after (and before) its timestamp."""


class InvalidSignature(ValueError):
    """The signature header is missing, malformed, too old, or does not match the body."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Collab-Signature`` value for ``body``.

    Args:
        secret: the shared webhook secret (text, used as UTF-8 bytes).
        body: the exact request body.
        timestamp: Unix seconds; now when omitted.
    """
    when = int(time.time()) if timestamp is None else timestamp
    return f"t={when},v1={_digest(secret, when, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a signature header against the raw ``body``; returns its timestamp.

    Args:
        secret: the shared webhook secret.
        header: the ``X-Collab-Signature`` value as received (``None`` when absent).
        body: the raw request body, byte for byte (not re-serialised JSON).
        tolerance: seconds the timestamp may differ from ``now``.
        now: Unix seconds; the clock when omitted.

    Raises:
        InvalidSignature: naming what is wrong.
    """
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("malformed signature header (expected t=...,v1=...)")
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance:
        raise InvalidSignature(f"signature timestamp outside the {tolerance:g} s tolerance")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise InvalidSignature("signature does not match the body")
    return timestamp
