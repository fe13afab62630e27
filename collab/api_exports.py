"""Downloads of a document's state in an export format, for ``GET .../export`` of a document
(:mod:`collab.api_documents`) and of a version (:mod:`collab.api_versions`): the request's
export options, and the response with its file name and ``X-Collab-*`` headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from collab import export
from collab.api_common import ApiError

__all__ = ["ExportOptions", "export_options", "export_response"]


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """An export request's ``format``, ``field`` (a root) and ``schema`` (a layout)."""

    fmt: str
    field: str | None
    schema: str | None


def export_options(request: Request) -> ExportOptions:
    """The export options of ``request``'s query (``format`` defaults to markdown).

    Raises:
        ApiError: 400 ``bad_format`` or ``bad_schema``.
    """
    params = request.query_params
    fmt = params.get("format", "markdown")
    schema = params.get("schema")
    if fmt not in export.FORMATS:
        raise ApiError(400, "bad_format", f"format must be one of {', '.join(export.FORMATS)}")
    if schema is not None and schema not in export.LAYOUTS:
        raise ApiError(400, "bad_schema", f"schema must be one of {', '.join(export.LAYOUTS)}")
    return ExportOptions(fmt, params.get("field"), schema)


def export_response(
    state: bytes, name: str, options: ExportOptions, *, suffix: str = ""
) -> Response:
    """A download of ``state`` as ``options`` say, named after document ``name`` (plus
    ``suffix``, e.g. ``@12`` for version 12). The root and layout used are in
    ``X-Collab-Root`` (percent-encoded) and ``X-Collab-Layout``, node types the layout does not
    know in ``X-Collab-Warning``.

    Raises:
        collab.export.RootError: (400) a root that is missing, ambiguous or of the wrong type.
        collab.export.ExportError: (422) the state cannot be converted.
    """
    rendered = export.render(state, options.fmt, options.field, schema=options.schema, title=name)
    media_type, extension = export.FORMATS[options.fmt]
    filename = name.replace("/", "_") + suffix + "." + extension
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}"}
    if rendered.root is not None:
        headers["X-Collab-Root"] = quote(rendered.root, safe="")
    if rendered.layout is not None:
        headers["X-Collab-Layout"] = rendered.layout
    if rendered.warning is not None:
        # one printable line (see Unknown.warning); non-ASCII escaped for the header
        headers["X-Collab-Warning"] = rendered.warning.encode("ascii", "backslashreplace").decode()
    return Response(rendered.body, media_type=media_type, headers=headers)
