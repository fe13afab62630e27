"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/openapi.json``.

The README's API table is checked against this document by a test.
"""

from __future__ import annotations

from typing import Any

from collab.openapi_ops import OPS_PATHS
from collab.openapi_parts import BINARY as _BINARY
from collab.openapi_parts import ERROR as _ERROR
from collab.openapi_parts import NAME as _NAME
from collab.openapi_parts import json_response as _json
from collab.openapi_parts import query as _query
from collab.openapi_versions import VERSION_PATHS

__all__ = ["OPENAPI"]

_RECORD = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "size_bytes": {"type": "integer"},
        "updates": {"type": "integer", "description": "log rows since the last compaction"},
        "peers": {"type": "integer", "description": "WebSocket peers connected now"},
    },
}
_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "evt_<cursor>: the idempotency key"},
        "cursor": {"type": "integer"},
        "type": {
            "enum": [
                "document.created",
                "document.changed",
                "document.deleted",
                "version.created",
                "document.restored",
                "document.renamed",
            ]
        },
        "document": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "data": {"type": "object"},
    },
}
_EVENTS = {
    "type": "object",
    "properties": {
        "events": {"type": "array", "items": _EVENT},
        "next_cursor": {"type": "integer"},
    },
}
_AT = _query(
    "at",
    "the state at this moment (ISO 8601, or Unix seconds): from the log, or the newest version"
    " made by then (named in X-Collab-Version); 410 when neither reaches back that far",
    {"type": "string"},
)

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "collab", "version": "1", "description": "Collaborative documents."},
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Liveness and the number of open rooms; 503 with `error`"
                " `database_unreachable`, `storage_failing` (the last commit failed) or"
                " `bus_unavailable` (cluster mode) while collab cannot save or relay",
                "responses": {"200": _json({"type": "object"}), "503": _ERROR},
            }
        },
        "/api/documents": {
            "get": {
                "summary": "List documents, paginated",
                "parameters": [
                    _query("limit", "page size, 1-1000", {"type": "integer", "default": 100}),
                    _query("cursor", "next_cursor of the previous page", {"type": "string"}),
                    _query("sort", "order", {"enum": ["name", "updated_at"], "default": "name"}),
                    _query("prefix", "only names starting with this", {"type": "string"}),
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "documents": {"type": "array", "items": _RECORD},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    "400": _ERROR,
                },
            }
        },
        "/api/documents/{name}": {
            "parameters": [_NAME],
            "get": {
                "summary": "One document's record",
                "responses": {"200": _json(_RECORD), "404": _ERROR},
            },
            "delete": {
                "summary": "Delete a document; its peers are closed with 4410",
                "responses": {"200": _json({"type": "object"}), "404": _ERROR},
            },
        },
        "/api/documents/{name}/rename": {
            "parameters": [_NAME],
            "post": {
                "summary": "Rename a document; its peers are closed with 4409 and the new name",
                "description": (
                    "Admin role on both names. The log, snapshot, versions and unreported"
                    " change move in one transaction; the old name keeps the content as a"
                    " tombstone; a document.renamed event (from, to) is written."
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"to": {"type": "string"}},
                                "required": ["to"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_RECORD),
                    "400": _ERROR,
                    "403": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "415": _ERROR,
                },
            },
        },
        "/api/documents/{name}/update": {
            "parameters": [_NAME],
            "get": {
                "summary": "The state as a Yjs v1 update (or the diff from state_vector)",
                "parameters": [
                    _query("state_vector", "base64url Yjs state vector", {"type": "string"}),
                    _AT,
                ],
                "responses": {
                    "200": {"description": "Yjs update", "content": _BINARY},
                    "400": _ERROR,
                    "404": _ERROR,
                    "410": _ERROR,
                },
            },
            "post": {
                "summary": "Apply, commit and relay a Yjs v1 update (creates the document)",
                "description": (
                    "The body is sent as application/octet-stream (else 415). With"
                    " `If-None-Match: *` only when the document holds nothing yet (else 412)."
                    " An update that changes nothing (an empty one too) stores and relays"
                    " nothing: to a document that does not exist it answers 204 and creates"
                    " none, unless `If-None-Match: *` asks to create it."
                    " A cross-origin browser request is refused (403)."
                ),
                "parameters": [
                    {
                        "name": "If-None-Match",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "enum": ["*"]},
                    },
                    _query(
                        "replace",
                        "true: make the content equal to the update's (admin role), keeping"
                        " the content before as an automatic version",
                        {"type": "boolean", "default": False},
                    ),
                ],
                "requestBody": {"required": True, "content": _BINARY},
                "responses": {
                    "200": _json(_RECORD),
                    "204": {"description": "nothing changed, and no such document"},
                    "400": _ERROR,
                    "403": _ERROR,
                    "409": _ERROR,
                    "412": _ERROR,
                    "413": _ERROR,
                    "415": _ERROR,
                },
            },
        },
        "/api/documents/{name}/content": {
            "parameters": [_NAME],
            "get": {
                "summary": "Every shared type as JSON",
                "parameters": [_AT],
                "responses": {"200": _json({"type": "object"}), "404": _ERROR, "410": _ERROR},
            },
        },
        "/api/documents/{name}/export": {
            "parameters": [_NAME],
            "get": {
                "summary": "Download as yjs, json, markdown, html or text",
                "parameters": [
                    _query(
                        "format",
                        "export format",
                        {"enum": ["yjs", "json", "markdown", "html", "text"]},
                    ),
                    _query(
                        "field",
                        "the root to export [default, else the only root]",
                        {"type": "string"},
                    ),
                    _query(
                        "schema",
                        "the editor layout to read it with [detected]",
                        {
                            "enum": [
                                *("tiptap", "prosemirror", "blocknote"),
                                *("lexical", "quill", "text"),
                            ]
                        },
                    ),
                    _AT,
                ],
                "responses": {
                    "200": {"description": "The file"},
                    "400": _ERROR,
                    "404": _ERROR,
                    "422": _ERROR,
                    "410": _ERROR,
                },
            },
        },
        "/api/changes": {
            "get": {
                "summary": "Document events after a cursor (long-poll with wait, or SSE)",
                "parameters": [
                    _query("since", "the next_cursor of the previous page", {"type": "integer"}),
                    _query("limit", "events at most (1-1000)", {"type": "integer"}),
                    _query("wait", "seconds to wait for an event (0-60)", {"type": "number"}),
                ],
                "responses": {
                    "200": _json(_EVENTS, "Events, or text/event-stream when accepted"),
                    "400": _ERROR,
                    "401": _ERROR,
                },
            },
        },
        "/api/webhooks/deliveries": {
            "get": {
                "summary": "Webhook deliveries and their state (admin)",
                "parameters": [
                    _query("state", "filter", {"enum": ["pending", "delivered", "dead"]}),
                    _query("cursor", "the next_cursor of the previous page", {"type": "integer"}),
                    _query("limit", "rows at most (1-1000)", {"type": "integer"}),
                ],
                "responses": {"200": _json({"type": "object"}), "401": _ERROR, "403": _ERROR},
            },
        },
    },
}


# A version's export takes the same options as the document's (but no moment).
VERSION_PATHS["/api/documents/{name}/versions/{id}/export"]["get"]["parameters"] = [
    param
    for param in OPENAPI["paths"]["/api/documents/{name}/export"]["get"]["parameters"]
    if param["name"] != "at"
]
OPENAPI["paths"].update(VERSION_PATHS)
OPENAPI["paths"].update(OPS_PATHS)


def markdown_table() -> str:
    """The README's API table, generated from :data:`OPENAPI` (the README embeds it verbatim)."""
    lines = ["| method | path | what it does |", "|---|---|---|"]
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                lines.append(f"| {method.upper()} | `{path}` | {operation['summary']} |")
    return "\n".join(lines)
