"""collab: real-time collaborative editing (y-websocket over pycrdt) with durable storage.

The public API, for embedding collab in another Python application::

    from collab import Collab, Settings

    collab = Collab(Settings(db="data/app.db"), authorize=..., on_change=...)
    app.mount("/collab", collab.app)            # and enter collab.lifespan() in app's lifespan

See the README's "Embedding collab in your app".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULES = {
    "Collab": "collab.app",
    "NotStarted": "collab.app",
    "AuthError": "collab.errors",
    "CloseCode": "collab.errors",
    "CollabError": "collab.errors",
    "Forbidden": "collab.errors",
    "Unauthorized": "collab.errors",
    "WriteResult": "collab.hub",
    "Settings": "collab.settings",
    "SettingsError": "collab.settings",
    "DocumentStore": "collab.stores",
    "SQLiteStore": "collab.stores",
    "StoreError": "collab.stores",
}
"""Where each public name is defined: imported on first use (PEP 562), so that importing a
module of the package (``collab`` the command, which installs its signal handlers before it
imports the server) does not import the whole server first."""


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'collab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
