"""Chromium: a Tiptap page on HocuspocusProvider and collab's editor page edit one document.

The Tiptap page (``tests/e2e/browser/hocuspocus-tiptap.js``) is bundled here with esbuild from
web/'s Tiptap and Yjs and the e2e peers' ``@hocuspocus/provider``, and served from its own
origin (a static server on another loopback port), which collab allows with
``--allowed-origin``: a Tiptap application as its users deploy it. Real headless Chromium
(Debian's), real ``collab serve``.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NODE_DIR, ensure_node_modules
from tests.e2e.web.browser import (
    ROOT,
    Pages,
    assert_converged,
    doc_path,
    editor,
    fragment,
    type_at_end,
    wait_connected,
    wait_until,
)

pytestmark = pytest.mark.e2e

PAGE_SOURCE = Path(__file__).resolve().parents[1] / "browser" / "hocuspocus-tiptap.js"
WEB_MODULES = ROOT / "web" / "node_modules"


@pytest.fixture(scope="module")
def tiptap_bundle(web_dist: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Tiptap + HocuspocusProvider page's script, bundled once (one copy of Yjs: web's)."""
    ensure_node_modules()
    out = tmp_path_factory.mktemp("hocus-page") / "page.js"
    args = [
        str(WEB_MODULES / ".bin" / "esbuild"),
        str(PAGE_SOURCE),
        "--bundle",
        "--format=esm",
        "--log-level=warning",
        f"--outfile={out}",
        f"--alias:yjs={WEB_MODULES / 'yjs'}",
        f"--alias:@hocuspocus/provider={NODE_DIR / 'node_modules' / '@hocuspocus' / 'provider'}",
    ]
    env = {**os.environ, "NODE_PATH": str(WEB_MODULES)}
    subprocess.run(args, cwd=ROOT, env=env, check=True)
    return out.read_text()


@pytest.fixture
def tiptap_site(tiptap_bundle: str, tmp_path: Path) -> Iterator[str]:
    """The Tiptap page on its own origin: a static HTTP server on a free loopback port, as a
    Tiptap app is served apart from collab (which allows it with ``--allowed-origin``)."""
    (tmp_path / "page.js").write_text(tiptap_bundle)
    (tmp_path / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Tiptap on Hocuspocus</title>"
        "<div id=status></div><div id=editor></div>"
        '<script type=module src="/page.js"></script>'
    )
    handler = partial(QuietHandler, directory=str(tmp_path))
    site = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()
        thread.join()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def open_tiptap(pages: Pages, site: str, server: Server, name: str) -> Page:
    """Open the Tiptap page on document ``name`` of ``server`` in a fresh browser context."""
    context = pages.browser.new_context()
    pages.contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda exc: pages.errors.append(f"tiptap page: {exc}"))
    ws = f"ws://127.0.0.1:{server.port}/hocuspocus"
    page.goto(f"{site}/?" + urlencode({"doc": name, "url": ws}))
    return page


def hocus_fragment(page: Page) -> str:
    return str(page.evaluate("() => window.__hocus.fragment.toString()"))


def test_tiptap_on_hocuspocus_and_the_collab_editor_converge(
    browser: Browser,
    web_dist: None,
    tmp_path: Path,
    tiptap_site: str,
) -> None:
    server = Server(tmp_path / "collab.db")
    # the Tiptap app's origin, and collab's own for its editor page
    server.extra = ["--allowed-origin", tiptap_site, "--allowed-origin", server.http_url]
    server.start()
    pages = Pages(browser, server.http_url)
    try:
        converge(pages, server, tiptap_site)
    finally:
        pages.close()
        server.stop()
    assert not pages.errors, f"uncaught errors in the pages: {pages.errors}"


def converge(pages: Pages, server: Server, site: str) -> None:
    name = "browser/tiptap-hocuspocus"
    ours = pages.new(doc_path(name))
    wait_connected(ours)
    tiptap = open_tiptap(pages, site, server, name)
    status = tiptap.locator("#status")
    expect(status).to_have_attribute("data-scope", "read-write")
    expect(status).to_have_attribute("data-synced", "true")
    type_at_end(ours, "typed in collab's editor")
    editor(tiptap).click()
    tiptap.keyboard.press("Control+End")
    tiptap.keyboard.type(" typed in Tiptap on Hocuspocus")
    words = ["typed in collab's editor", "typed in Tiptap on Hocuspocus"]
    assert_converged([ours], words)
    expect(editor(tiptap)).to_contain_text(words[0])
    expect(editor(tiptap)).to_contain_text(words[1])

    def same() -> bool:
        return hocus_fragment(tiptap) == fragment(ours)

    wait_until(same, "the two pages hold the same fragment")
    expect(status).to_have_attribute("data-unsynced", "0")  # every change saved by collab
    markdown = httpx.get(
        f"{server.http_url}/api/documents/{name}/export", params={"format": "markdown"}, timeout=10
    ).text
    for word in words:
        assert word in markdown, markdown
