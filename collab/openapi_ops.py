"""The OpenAPI 3.1 paths of operations: a document's quarantine (:mod:`collab.quarantine_api`,
README "Operations") and the Prometheus metrics, merged into :data:`collab.openapi.OPENAPI`."""

from __future__ import annotations

from typing import Any

from collab.openapi_parts import ERROR as _ERROR
from collab.openapi_parts import NAME as _NAME
from collab.openapi_parts import json_response as _json
from collab.openapi_parts import query as _query

__all__ = ["OPS_PATHS"]

_ROW = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string", "description": "update (a log row) or snapshot"},
        "size_bytes": {"type": "integer"},
        "reason": {"type": "string", "description": "why it does not decode"},
        "quarantined_at": {"type": "string", "format": "date-time"},
    },
}

OPS_PATHS: dict[str, Any] = {
    "/api/documents/{name}/quarantine": {
        "parameters": [_NAME],
        "get": {
            "summary": "Stored rows of the document that no longer decode (admin)",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "quarantined": {"type": "array", "items": _ROW},
                        },
                    }
                ),
                "401": _ERROR,
                "403": _ERROR,
            },
        },
        "post": {
            "summary": "Write a quarantined row back (restore=ID) or delete it (drop=ID) (admin)",
            "parameters": [
                _query("restore", "a row id: write it back like any update", {"type": "integer"}),
                _query("drop", "a row id: delete it", {"type": "integer"}),
            ],
            "responses": {
                "200": _json({"type": "object"}),
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
            },
        },
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (text exposition format)",
            "responses": {
                "200": {
                    "description": "Metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
}
