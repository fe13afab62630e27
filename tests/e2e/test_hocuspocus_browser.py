"""Chromium: a Tiptap page on HocuspocusProvider and collab's editor page edit one document.

The Tiptap page (``tests/e2e/browser/hocuspocus-tiptap.js``) is bundled here with esbuild from
web/'s Tiptap and Yjs and the e2e peers' ``@hocuspocus/provider``, and served at a path of the
collab server itself through Playwright's routing, so that its Origin is collab's own (the
same-origin rule of ``/hocuspocus``). Real headless Chromium (Debian's), real ``collab serve``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.nodepeer import NODE_DIR, ensure_node_modules
from tests.e2e.test_web import (  # noqa: F401  (fixtures)
    ROOT,
    Pages,
    app,
    assert_converged,
    browser,
    doc_path,
    editor,
    pages,
    type_at_end,
    wait_connected,
    wait_until,
    web_dist,
)

pytestmark = pytest.mark.e2e

PAGE_SOURCE = Path(__file__).resolve().parent / "browser" / "hocuspocus-tiptap.js"
WEB_MODULES = ROOT / "web" / "node_modules"


@pytest.fixture(scope="module")
def tiptap_bundle(web_dist: None, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: F811
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


def open_tiptap(pages: Pages, bundle: str, name: str) -> Page:  # noqa: F811
    """Open the Tiptap page on document ``name`` in a fresh browser context."""
    script = bundle.replace("</script", "<\\/script")
    html = (
        "<!doctype html><meta charset=utf-8><title>Tiptap on Hocuspocus</title>"
        f"<div id=status></div><div id=editor></div><script type=module>{script}</script>"
    )
    context = pages.browser.new_context()
    pages.contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda exc: pages.errors.append(f"tiptap page: {exc}"))

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=html)

    page.route(f"{pages.base_url}/__tiptap_hocuspocus__*", serve)
    page.goto(f"{pages.base_url}/__tiptap_hocuspocus__?doc={name}")
    return page


def hocus_fragment(page: Page) -> str:
    return str(page.evaluate("() => window.__hocus.fragment.toString()"))


def test_tiptap_on_hocuspocus_and_the_collab_editor_converge(
    pages: Pages,  # noqa: F811
    app: Any,  # noqa: F811
    tiptap_bundle: str,
) -> None:
    name = "browser/tiptap-hocuspocus"
    ours = pages.new(doc_path(name))
    wait_connected(ours)
    tiptap = open_tiptap(pages, tiptap_bundle, name)
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
        return hocus_fragment(tiptap) == str(
            ours.evaluate("() => window.__collab.fragment.toString()")
        )

    wait_until(same, "the two pages hold the same fragment")
    expect(status).to_have_attribute("data-unsynced", "0")  # every change saved by collab
    markdown = httpx.get(
        f"{app.http_url}/api/documents/{name}/export", params={"format": "markdown"}, timeout=10
    ).text
    for word in words:
        assert word in markdown, markdown
