"""The README's path to an empty export, through a real ``collab serve`` and ``collab`` processes:
import an editor's document, ``import --replace`` it with a plain-text one, export. The emptied
``default`` root gives way to the root with text, over HTTP and through the CLI, and a document
with no text is an error naming its roots, never a 0-byte file with status 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from tests.e2e.conftest import Server
from tests.e2e.test_export_cli import cli, doc_url, fails, ok

pytestmark = pytest.mark.e2e


def _editor_file(path: Path) -> Path:
    doc: Doc[Any] = Doc()
    doc["default"] = frag = XmlFragment()
    paragraph = frag.children.append(XmlElement("paragraph"))
    paragraph.children.append(XmlText("editor words"))
    path.write_bytes(doc.get_update())
    return path


def _plain_file(path: Path) -> Path:
    doc: Doc[Any] = Doc()
    doc["text"] = Text("plain words")
    path.write_bytes(doc.get_update())
    return path


def test_after_import_replace_the_export_is_the_remaining_text(
    server: Server, tmp_path: Path
) -> None:
    url = server.http_url
    ok(cli("import", "repro/x", str(_editor_file(tmp_path / "ed.yjs")), "--server", url))
    assert ok(cli("export", "repro/x", "--format", "text", "--server", url)).stdout == (
        b"editor words\n"
    )
    plain = str(_plain_file(tmp_path / "plain.yjs"))
    ok(cli("import", "repro/x", plain, "--server", url, "--replace"))
    out = tmp_path / "x.md"
    ok(cli("export", "repro/x", "--format", "markdown", "--out", str(out), "--server", url))
    assert out.read_bytes() == b"plain words"
    ok(cli("export", "repro/x", "--out", str(out), "--db", str(server.db_path)))
    assert out.read_bytes() == b"plain words"
    response = httpx.get(doc_url(server, "repro/x") + "/export?format=text", timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == b"plain words"
    assert response.headers["x-collab-root"] == "text"


def test_a_document_with_no_text_is_an_error_naming_its_roots(
    server: Server, tmp_path: Path
) -> None:
    url = server.http_url
    ok(cli("import", "gone", str(_editor_file(tmp_path / "ed.yjs")), "--server", url))
    replaced = tmp_path / "blank.yjs"
    replaced.write_bytes(Doc().get_update())
    ok(cli("import", "gone", str(replaced), "--server", url, "--replace"))
    out = tmp_path / "gone.md"
    proc = cli("export", "gone", "--out", str(out), "--server", url)
    fails(proc, 1, "nothing to export as markdown: the document holds no text")
    assert "'default' (empty)" in proc.stderr.decode()
    assert not out.exists()
    response = httpx.get(doc_url(server, "gone") + "/export?format=text", timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_field"
    assert "the document's roots: 'default' (empty)" in response.json()["detail"]
