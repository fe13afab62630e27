"""Pieces shared by the OpenAPI documents of :mod:`collab.openapi` and
:mod:`collab.openapi_versions`: the name parameter, the JSON error, and small builders."""

from __future__ import annotations

from typing import Any

__all__ = ["BINARY", "ERROR", "NAME", "json_response", "query"]

NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "Document name, percent-encoded; may contain '/'.",
    "schema": {"type": "string"},
}
ERROR = {
    "description": "Error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                "required": ["error", "detail"],
            }
        }
    },
}
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def json_response(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}
