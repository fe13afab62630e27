"""Server settings: one frozen dataclass; CLI flag beats ``COLLAB_*`` variable beats default.

Every field carries its help text as metadata, and its flag and environment variable follow
from its name (:mod:`collab.setting_names`), so the CLI, the README's configuration reference
and its test all read the same table (:mod:`collab.settings_table`). The checks and secrets:
:mod:`collab.settings_checks`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from collab.setting_names import SettingsError, env_name, flag_name, named
from collab.settings_checks import MIN_SECRET_BYTES, check, read_secret, strong_secret

__all__ = [
    "MIN_SECRET_BYTES",
    "Settings",
    "SettingsError",
    "env_name",
    "flag_name",
    "named",
]

MiB = 1024 * 1024


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``collab serve`` can be told. Sizes are bytes, durations seconds."""

    host: str = _setting("127.0.0.1", "Interface to listen on.")
    port: int = _setting(8000, "TCP port to listen on.")
    db: str = _setting(
        "data/collab.db",
        "SQLite database file (created when missing), or a PostgreSQL database:"
        " `postgresql://user:password@host:port/dbname`.",
    )
    synchronous: str = _setting(
        "NORMAL",
        "SQLite `synchronous` pragma: NORMAL survives process crashes, FULL also power loss"
        " (PostgreSQL: the server's `synchronous_commit` decides).",
    )
    redis: str = _setting(
        "",
        "Redis URL (redis://host:port/db) of a cluster: every node with the same URL and --db"
        " serves the same documents (empty: one process).",
    )
    workers: int = _setting(
        1, "Processes serving one port on this machine (more than 1 requires --redis)."
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
    hibernate_seconds: float = _setting(
        30.0,
        "Hibernate an open document once nothing was written to it for this long: its"
        " in-memory CRDT (about 10 times its encoded size) is dropped and one encoded copy"
        " kept, from which joiners are served; awareness goes on; the next write rebuilds it"
        " first (0: never; not in cluster mode).",
    )
    hibernate_bytes: int = _setting(
        1 * MiB, "Only documents of at least this many stored bytes hibernate."
    )
    compact_updates: int = _setting(
        10000,
        "Compact a document once its log holds this many updates (the updates of one read,"
        " stored merged in one row, count one each).",
    )
    compact_bytes: int = _setting(4 * MiB, "Compact a document once its log holds this many bytes.")
    compact_seconds: float = _setting(
        30.0,
        "Time budget of one compaction's replay of the log (on its own thread): past it the"
        " compaction is abandoned (logged, counted) and tried again once the log grew by"
        " another threshold.",
    )
    version_quiet_seconds: float = _setting(
        300.0,
        "Save an automatic version of a document once nothing was written to it for this long"
        " (0: never after editing; restores still save one first).",
    )
    versions_keep_all_hours: float = _setting(
        24.0, "Retention: keep every automatic version for this many hours."
    )
    versions_keep_hourly_days: float = _setting(
        7.0, "Retention: then the newest automatic version of each hour, up to this many days."
    )
    versions_keep_daily_days: float = _setting(
        0.0,
        "Retention: then the newest automatic version of each day, up to this many days"
        " (0: forever). Named versions are always kept.",
    )
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
        " (a burst of a sixth of them at once); over it: 4429. A reply to a client that holds"
        " every struct of the document is not counted: it is the document's delete set, which"
        " every Yjs diff repeats (a writer asking after each update).",
    )
    max_document_bytes: int = _setting(
        64 * MiB, "Largest stored size of one document; an update past it closes with 4413."
    )
    max_messages_per_second: float = _setting(
        0.0,
        "Sustained messages per second per connection (0: unlimited); over it the connection"
        " is not read until its bucket refills (TCP backpressure: the client slows down).",
    )
    message_burst: int = _setting(5000, "Messages a connection may send at once above the rate.")
    rate_limit_close_seconds: float = _setting(
        60.0,
        "Close (1013, the client retries) a connection held back by --max-messages-per-second"
        " 90% of this long (sending 10x the rate or more); 0: never.",
    )
    max_connections: int = _setting(
        10000, "Open WebSocket connections in total; more are closed with 4503."
    )
    max_connections_per_document: int = _setting(
        5000, "Open WebSocket connections per document; more are closed with 4503."
    )
    max_documents_per_socket: int = _setting(
        100,
        "Documents one /hocuspocus socket may have open or waiting for their Auth; the one past"
        " it closes the socket with 1008.",
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
    allocator: str = _setting(
        "jemalloc",
        "C allocator of collab serve: jemalloc (preloaded from the system's libjemalloc2 when"
        " it has it; a document then takes about 8% less memory) or system (glibc's malloc).",
    )
    webhook_urls: tuple[str, ...] = _setting(
        (),
        "URL that receives every document event as a signed POST (repeat the flag; env:"
        " comma-separated); none: events go only to the change feed.",
    )
    webhook_secret: str = _setting(
        "", "Secret that signs webhook requests (X-Collab-Signature); empty: unsigned."
    )
    webhook_secret_file: str = _setting("", "File holding the webhook secret (instead of it).")
    webhook_debounce_seconds: float = _setting(
        2.0,
        "At most one document.changed event per document in this many seconds while edits"
        " continue, and one this long after the last edit.",
    )
    webhook_retry_seconds: float = _setting(
        86400.0,
        "How long a failing webhook delivery is retried (exponential backoff, jitter) before it"
        " is dead.",
    )
    webhook_timeout_seconds: float = _setting(
        10.0, "Seconds one webhook request may take before it counts as failed."
    )
    webhook_include_text: bool = _setting(
        False, "Put the document's text export in document.changed events."
    )
    event_retention_seconds: float = _setting(
        7 * 86400.0,
        "How long events stay in the change feed (those still being delivered stay longer).",
    )

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
            elif environ.get(env_name(f.name), "") != "":  # empty: unset, the default
                values[f.name] = _convert(f.name, type(f.default), environ[env_name(f.name)])
        return replace(cls(), **values).checked()

    def checked(self) -> Settings:
        """Return ``self`` after checking ranges (:func:`collab.settings_checks.check`).

        Raises:
            SettingsError: naming the first bad setting.
        """
        check(self)
        return self

    def token_secret(self) -> str:
        """The token secret from ``auth_secret`` or ``auth_secret_file``; empty: auth is off.

        Raises:
            SettingsError: when the secret file cannot be read or is empty, or the secret is
                shorter than :data:`~collab.settings_checks.MIN_SECRET_BYTES`.
        """
        secret = read_secret(self.auth_secret, self.auth_secret_file, "auth_secret_file")
        if not secret:
            return ""
        what = "the auth secret" if self.auth_secret else f"the secret in {self.auth_secret_file}"
        return strong_secret(secret, what)

    def signing_secret(self) -> str:
        """The webhook secret from ``webhook_secret`` or ``webhook_secret_file`` (may be empty).

        Raises:
            SettingsError: when the secret file cannot be read or is empty.
        """
        return read_secret(self.webhook_secret, self.webhook_secret_file, "webhook_secret_file")


def _convert(name: str, kind: type, raw: str) -> Any:
    try:
        if kind is tuple:
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        if kind is bool:
            word = raw.strip().lower()
            if word not in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
                raise ValueError(word)
            return word in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{env_name(name)}={raw!r} is not a valid {kind.__name__}") from exc
