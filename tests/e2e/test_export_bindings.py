"""The export of documents written by each editor's own libraries (tests/golden/bindings),
through a real ``collab serve``: the HTTP export route, and ``collab export`` against the server
and against its database file, in every format; root selection errors, warnings and the
refused ``--out`` extension, as a user meets them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from pycrdt import Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.backup.states import same_document
from tests import bindings
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "collab", *args],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )


def export_url(server: Server, name: str) -> str:
    return f"{server.http_url}/api/documents/{quote(name, safe='')}/export"


def post(server: Server, name: str, update: bytes) -> None:
    url = f"{server.http_url}/api/documents/{quote(name, safe='')}/update"
    response = httpx.post(
        url, content=update, timeout=30, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200, response.text


def test_every_bindings_document_exports_over_http_and_the_cli(
    server: Server, tmp_path: Path
) -> None:
    """Each format of each golden document: HTTP, and the CLI against the server and on the
    database file (``export --all``, one process per format and source), give the same bytes,
    equal to the library's output where it has one."""
    for name in bindings.BINDINGS:
        post(server, f"golden/{name}", bindings.golden(name, "bin"))
    by_format = {fmt: suffix for suffix, fmt in bindings.SUFFIX.items()}
    for fmt in ("markdown", "html", "text", "json", "yjs"):
        over_http: dict[str, bytes] = {}
        for name, (root, layout, suffixes) in bindings.BINDINGS.items():
            doc = f"golden/{name}"
            response = httpx.get(export_url(server, doc), params={"format": fmt}, timeout=30)
            assert response.status_code == 200, response.text
            assert response.content.strip(), (name, fmt)
            over_http[doc] = response.content
            warning = bindings.WARNINGS.get(name) if fmt in by_format else None
            assert response.headers.get("x-collab-warning") == warning
            if fmt in by_format:
                assert response.headers["x-collab-root"] == quote(root, safe="")
                assert response.headers["x-collab-layout"] == layout
            if by_format.get(fmt) in suffixes:
                suffix = by_format[fmt]
                want = bindings.expected(name, suffix)
                assert bindings.actual(response.content, suffix) == want, (name, fmt)
            if fmt == "yjs":
                assert same_document(response.content, bindings.golden(name, "bin"))
        said = sorted(
            f"collab: warning: 'golden/{name}': {warning}"
            for name, warning in bindings.WARNINGS.items()
            if fmt in by_format
        )
        for source in (["--server", server.http_url], ["--db", str(server.db_path)]):
            out = tmp_path / f"{fmt}-{source[0].strip('-')}"
            proc = cli("export", "--all", "--out", str(out), "--format", fmt, "-q", *source)
            assert proc.returncode == 0, proc.stderr.decode()
            assert sorted(proc.stderr.decode().splitlines()) == said
            manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
            files = {entry["name"]: entry["file"] for entry in manifest["documents"]}
            assert set(files) == set(over_http)
            for doc, body in over_http.items():
                written = (out / files[doc]).read_bytes()
                if fmt == "yjs":  # the same structs; yrs encodes map entries in no fixed order
                    assert same_document(written, body), (doc, source[0])
                else:
                    assert written == body, (doc, fmt, source[0])
    # one document to stdout, as a user types it
    proc = cli("export", "golden/quill", "--format", "markdown", "--db", str(server.db_path))
    assert proc.returncode == 0 and proc.stdout.startswith(b"# Field notes\n")


def test_out_names_the_format_and_an_unknown_extension_is_refused(
    server: Server, tmp_path: Path
) -> None:
    post(server, "lexical", bindings.golden("lexical", "bin"))
    page = tmp_path / "notes.html"
    assert cli("export", "lexical", "--out", str(page), "--server", server.http_url).returncode == 0
    assert bindings.actual(page.read_bytes(), "html") == bindings.expected("lexical", "html")
    for out in ("notes.docx", "notes"):
        proc = cli("export", "lexical", "--out", str(tmp_path / out), "--db", str(server.db_path))
        assert proc.returncode == 2, proc.stderr.decode()
        err = proc.stderr.decode()
        assert err.startswith(f"collab: cannot tell the format of '{tmp_path / out}'")
        assert "yjs (.yjs), json (.json), markdown (.md), html (.html), text (.txt)" in err
        assert not (tmp_path / out).exists()


def _several_roots() -> bytes:
    doc: Doc[object] = Doc()
    doc["codemirror"] = Text("const x = 1\n")
    doc["meta"] = Map({"title": "notes"})
    doc["outline"] = frag = XmlFragment()
    para = frag.children.append(XmlElement("paragraph"))
    para.children.append(XmlElement("callout")).children.append(XmlText("boxed"))
    return doc.get_update()


def test_root_selection_errors_list_the_roots(server: Server) -> None:
    post(server, "mixed", _several_roots())
    listing = (
        "the document's roots: 'codemirror' (Y.Text), 'meta' (Y.Map),"
        " 'outline' (Y.XmlFragment/Y.XmlText)"
    )
    cases = [
        ({"format": "text"}, "pick one with field (--field); " + listing),
        ({"format": "markdown", "field": "nope"}, "no root 'nope'; " + listing),
        ({"format": "html", "field": "meta"}, "'meta' is a Y.Map, which html cannot render"),
        ({"format": "markdown", "field": "codemirror", "schema": "lexical"}, "schema lexical"),
        ({"format": "yjs", "field": "meta"}, "yjs is the whole document"),
    ]
    for params, detail in cases:
        response = httpx.get(export_url(server, "mixed"), params=params, timeout=30)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "bad_field" and detail in body["detail"], body
        args = ["--format", params["format"]]
        args += [f"--{key}={params[key]}" for key in ("field", "schema") if key in params]
        for source in (["--server", server.http_url], ["--db", str(server.db_path)]):
            proc = cli("export", "mixed", *args, *source)
            assert proc.returncode == 1 and proc.stdout == b"", proc.stderr.decode()
            assert proc.stderr.decode().startswith("collab: cannot export 'mixed'")
            assert detail in proc.stderr.decode()
    bad = httpx.get(export_url(server, "mixed"), params={"schema": "word"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_schema"
    assert cli("export", "mixed", "--schema", "word", "--db", str(server.db_path)).returncode == 2
    # the right field exports what the root holds
    code = httpx.get(
        export_url(server, "mixed"), params={"format": "text", "field": "codemirror"}, timeout=30
    )
    assert code.status_code == 200 and code.content == b"const x = 1\n"


def test_unknown_node_types_are_rendered_and_named(server: Server) -> None:
    post(server, "mixed", _several_roots())
    warning = "unknown node types rendered as their text: callout"
    response = httpx.get(
        export_url(server, "mixed"), params={"format": "markdown", "field": "outline"}, timeout=30
    )
    assert response.status_code == 200 and response.content == b"boxed\n"
    assert response.headers["x-collab-warning"] == warning
    for source in (["--server", server.http_url], ["--db", str(server.db_path)]):
        proc = cli("export", "mixed", "--field", "outline", "--format", "text", *source)
        assert proc.returncode == 0 and proc.stdout == b"boxed\n"
        assert proc.stderr.decode() == f"collab: warning: 'mixed': {warning}\n"
