"""Server settings: one frozen dataclass; CLI flag beats ``COLLAB_*`` variable beats default.

Every field carries its flag, environment variable and help text as metadata, so the CLI,
the README's configuration reference and its test all read the same table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings", "SettingsError", "describe"]

MiB = 1024 * 1024


class SettingsError(ValueError):
    """A setting with a value of the wrong type or out of range."""


def _setting(default: Any, help: str, *, flag: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "flag": flag})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``collab serve`` can be told. Sizes are bytes, durations seconds."""

    host: str = _setting("127.0.0.1", "Interface to listen on.")
    port: int = _setting(8000, "TCP port to listen on.")
    db: str = _setting("data/collab.db", "SQLite database file (created when missing).")
    synchronous: str = _setting(
        "NORMAL",
        "SQLite `synchronous` pragma: NORMAL survives process crashes, FULL also power loss.",
    )
    max_message_bytes: int = _setting(
        16 * MiB, "Largest WebSocket message accepted; larger ones close with 4413."
    )
    max_awareness_bytes: int = _setting(
        64 * 1024, "Largest awareness state of one client; larger ones close with 4413."
    )
    send_queue_bytes: int = _setting(
        32 * MiB,
        "Bytes queued for one slow peer before it is disconnected with 1013.",
    )
    room_grace_seconds: float = _setting(
        2.0, "How long an empty room stays loaded before it is unloaded."
    )
    compact_updates: int = _setting(
        10000,
        "Compact a document once its log holds this many updates (the updates of one read,"
        " stored merged in one row, count one each).",
    )
    compact_bytes: int = _setting(4 * MiB, "Compact a document once its log holds this many bytes.")
    auth_secret: str = _setting(
        "", "Secret that signs access tokens; empty (and no --auth-secret-file) turns auth off."
    )
    auth_secret_file: str = _setting("", "File holding the token secret (instead of the value).")
    auth_algorithm: str = _setting("HS256", "JWT signing algorithm (an HMAC one: HS256/384/512).")
    allowed_origins: tuple[str, ...] = _setting(
        (),
        "Browser Origins allowed to open WebSockets (repeat the flag; env: comma-separated);"
        " empty allows same-origin pages only, `*` allows all.",
    )
    allowed_hosts: tuple[str, ...] = _setting(
        (),
        "Host names the server answers to besides loopback names and --host (repeat the flag;"
        " env: comma-separated; `*` for any): other Host headers get 421 (DNS rebinding).",
    )
    commit_retry_seconds: float = _setting(
        60.0,
        "How long a commit that failed for a transient reason (the database locked by another"
        " process past its 5 s busy timeout) is tried again, with backoff, before its updates"
        " are reported lost (log, metric) and their rooms closed with 1011.",
    )
    max_pending_bytes: int = _setting(
        MiB,
        "Bytes of structs one document keeps waiting for missing predecessors; an update past"
        " it closes with 4413 and nothing of it is kept.",
    )
    max_pending_structs: int = _setting(
        10000, "Structs one document keeps waiting for missing predecessors (see above)."
    )
    full_syncs_per_minute: int = _setting(
        60,
        "Sync step 2 replies of 64 KiB or more one connection gets per minute"
        " (a burst of a sixth of them at once); over it: 4429.",
    )
    max_document_bytes: int = _setting(
        64 * MiB, "Largest stored size of one document; an update past it closes with 4413."
    )
    max_messages_per_second: float = _setting(
        500.0, "Sustained messages per second per connection (0: unlimited); over it: 4429."
    )
    message_burst: int = _setting(5000, "Messages a connection may send at once above the rate.")
    max_connections: int = _setting(
        10000, "Open WebSocket connections in total; more are closed with 4503."
    )
    max_connections_per_document: int = _setting(
        1000, "Open WebSocket connections per document; more are closed with 4503."
    )
    hook_timeout_seconds: float = _setting(
        30.0, "Longest one call of an async hook (on_change, ...) may run before it is cancelled."
    )
    ssl_certfile: str = _setting("", "TLS certificate (PEM) to serve https:// and wss://.")
    ssl_keyfile: str = _setting("", "TLS private key (PEM) of --ssl-certfile.")
    web_dist: str = _setting(
        "", "Folder of the built web editor; empty means web/dist beside the package."
    )
    log_level: str = _setting("info", "Log level: debug, info, warning or error.")
    log_format: str = _setting("text", "Log format: text (readable) or json (one object a line).")

    @classmethod
    def from_sources(
        cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from parsed CLI flags (``None`` = not given) and the environment.

        Raises:
            SettingsError: when a value cannot be converted or is out of range.
        """
        flags = flags or {}
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if flags.get(f.name) is not None:
                value = flags[f.name]
                values[f.name] = tuple(value) if isinstance(value, list) else value
            elif env_name(f.name) in environ:
                values[f.name] = _convert(f.name, type(f.default), environ[env_name(f.name)])
        return replace(cls(), **values).checked()

    def checked(self) -> Settings:
        """Return ``self`` after checking ranges.

        Raises:
            SettingsError: naming the first bad setting.
        """
        positive = (
            "max_document_bytes",
            "message_burst",
            "max_connections",
            "max_connections_per_document",
            "max_message_bytes",
            "max_awareness_bytes",
            "send_queue_bytes",
            "compact_updates",
            "compact_bytes",
            "max_pending_bytes",
            "max_pending_structs",
            "full_syncs_per_minute",
            "hook_timeout_seconds",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive")
        if not 0 <= self.port <= 65535:
            raise SettingsError("port must be between 0 and 65535")
        if self.commit_retry_seconds < 0:
            raise SettingsError("commit_retry_seconds must not be negative")
        if self.room_grace_seconds < 0:
            raise SettingsError("room_grace_seconds must not be negative")
        if self.synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise SettingsError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        if self.log_format not in {"text", "json"}:
            raise SettingsError("log_format must be text or json")
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise SettingsError("log_level must be debug, info, warning or error")
        if self.max_messages_per_second < 0:
            raise SettingsError("max_messages_per_second must not be negative")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise SettingsError("ssl_certfile and ssl_keyfile go together")
        if not self.auth_algorithm.upper().startswith("HS"):
            raise SettingsError("auth_algorithm must be an HMAC algorithm (HS256, HS384, HS512)")
        return self

    def token_secret(self) -> str:
        """The token secret from ``auth_secret`` or ``auth_secret_file``; empty: auth is off.

        Raises:
            SettingsError: when the secret file cannot be read or is empty.
        """
        if self.auth_secret:
            return self.auth_secret
        if not self.auth_secret_file:
            return ""
        try:
            secret = Path(self.auth_secret_file).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"cannot read auth_secret_file: {exc}") from exc
        if not secret:
            raise SettingsError("auth_secret_file is empty")
        return secret


def env_name(field_name: str) -> str:
    """The environment variable of a setting, e.g. ``COLLAB_MAX_MESSAGE_BYTES``."""
    return "COLLAB_" + field_name.upper()


def flag_name(field_name: str) -> str:
    """The CLI flag of a setting, e.g. ``--max-message-bytes`` (``--allowed-origin``)."""
    if field_name == "allowed_hosts":
        return "--allowed-host"
    if field_name == "allowed_origins":
        return "--allowed-origin"
    return "--" + field_name.replace("_", "-")


def describe() -> list[dict[str, Any]]:
    """One row per setting: name, flag, env, default, type and help (for the CLI and docs)."""
    rows = []
    for f in fields(Settings):
        assert f.default is not MISSING
        rows.append(
            {
                "name": f.name,
                "flag": flag_name(f.name),
                "env": env_name(f.name),
                "default": f.default,
                "type": type(f.default),
                "help": f.metadata["help"],
            }
        )
    return rows


def _convert(name: str, kind: type, raw: str) -> Any:
    try:
        if kind is tuple:
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{env_name(name)}={raw!r} is not a valid {kind.__name__}") from exc


def markdown_table() -> str:
    """The configuration reference as a Markdown table (the README embeds it verbatim)."""
    lines = [
        "| flag | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for row in describe():
        default = row["default"] if row["default"] not in ("", ()) else "(empty)"
        lines.append(f"| `{row['flag']}` | `{row['env']}` | `{default}` | {row['help']} |")
    return "\n".join(lines)
