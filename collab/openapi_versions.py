"""The OpenAPI 3.1 paths of versions (:mod:`collab.api_versions`), merged into
:data:`collab.openapi.OPENAPI`."""

from __future__ import annotations

from typing import Any

from collab.openapi_parts import ERROR as _ERROR
from collab.openapi_parts import NAME as _NAME
from collab.openapi_parts import json_response as _json
from collab.openapi_parts import query as _query

__all__ = ["VERSION_PATHS"]

_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Version id (from the listing).",
    "schema": {"type": "integer"},
}
_VERSION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "document": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "label": {"type": ["string", "null"]},
        "author": {"type": ["string", "null"], "description": "the token's subject (sub)"},
        "automatic": {"type": "boolean", "description": "made after editing or a restore"},
        "size_bytes": {"type": "integer"},
    },
}
_BLOCK = {
    "type": "object",
    "properties": {"op": {"enum": ["equal", "removed", "added"]}, "text": {"type": "string"}},
}


VERSION_PATHS: dict[str, Any] = {
    "/api/documents/{name}/versions": {
        "parameters": [_NAME],
        "get": {
            "summary": "The document's versions, newest first, paginated",
            "parameters": [
                _query("limit", "page size, 1-1000", {"type": "integer", "default": 100}),
                _query("cursor", "next_cursor of the previous page", {"type": "string"}),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "versions": {"type": "array", "items": _VERSION},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                ),
                "400": _ERROR,
                "404": _ERROR,
            },
        },
        "post": {
            "summary": "Save the state now as a named version (write role)",
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"label": {"type": "string", "maxLength": 200}},
                        }
                    }
                },
            },
            "responses": {
                "201": _json(_VERSION, "Created"),
                "400": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
                "415": _ERROR,
            },
        },
    },
    "/api/documents/{name}/versions/{id}": {
        "parameters": [_NAME, _ID],
        "get": {
            "summary": "One version's record",
            "responses": {"200": _json(_VERSION), "404": _ERROR},
        },
    },
    "/api/documents/{name}/versions/{id}/update": {
        "parameters": [_NAME, _ID],
        "get": {
            "summary": "The version's state as a Yjs v1 update",
            "responses": {
                "200": {
                    "description": "Yjs update",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "404": _ERROR,
            },
        },
    },
    "/api/documents/{name}/versions/{id}/export": {
        "parameters": [_NAME, _ID],
        "get": {
            "summary": "Download the version as yjs, json, markdown, html or text",
            "parameters": [
                _query(
                    "format", "export format", {"enum": ["yjs", "json", "markdown", "html", "text"]}
                )
            ],
            "responses": {"200": {"description": "The file"}, "400": _ERROR, "404": _ERROR},
        },
    },
    "/api/documents/{name}/versions/{id}/diff": {
        "parameters": [_NAME, _ID],
        "get": {
            "summary": "Text blocks removed and added from this version to another or now",
            "parameters": [
                _query("to", "a version id, or current (the default)", {"type": "string"})
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "from": {"type": "integer"},
                            "to": {"type": ["integer", "string"]},
                            "added": {"type": "integer"},
                            "removed": {"type": "integer"},
                            "blocks": {"type": "array", "items": _BLOCK},
                        },
                    }
                ),
                "400": _ERROR,
                "404": _ERROR,
                "422": _ERROR,
            },
        },
    },
    "/api/documents/{name}/versions/{id}/restore": {
        "parameters": [_NAME, _ID],
        "post": {
            "summary": "Make the content the version's, saving the state before (write role)",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "restored": _VERSION,
                            "saved": _VERSION,
                            "update_bytes": {"type": "integer"},
                        },
                    }
                ),
                "403": _ERROR,
                "404": _ERROR,
                "413": _ERROR,
                "422": _ERROR,
            },
        },
    },
}
