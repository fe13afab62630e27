"""collab: real-time collaborative editing (y-websocket over pycrdt) with durable storage.

The public API, for embedding collab in another Python application::

    from collab import Collab, Settings

    collab = Collab(Settings(db="data/app.db"), authorize=..., on_change=...)
    app.mount("/collab", collab.app)            # and enter collab.lifespan() in app's lifespan

See the README's "Embedding collab in your app".
"""

from __future__ import annotations

from collab.app import Collab, NotStarted
from collab.errors import AuthError, CloseCode, CollabError, Forbidden, Unauthorized
from collab.hub import WriteResult
from collab.settings import Settings, SettingsError
from collab.stores import DocumentStore, SQLiteStore, StoreError

__all__ = [
    "AuthError",
    "CloseCode",
    "Collab",
    "CollabError",
    "DocumentStore",
    "Forbidden",
    "NotStarted",
    "SQLiteStore",
    "Settings",
    "SettingsError",
    "StoreError",
    "Unauthorized",
    "WriteResult",
]
