"""The editor tells a newcomer what it does not show (trial 2 of the README, findings 8 and
27): a document whose text a client wrote outside the editor's fragment says so instead of
looking empty, and a page the server refused shows nobody present."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.web.browser import Pages, doc_path, editor, type_at_end, wait_connected
from tests.test_http_api import path, text_update

pytestmark = pytest.mark.e2e


def test_text_outside_the_editors_fragment_is_named(pages: Pages, app: Any) -> None:
    name = "team/plain"
    response = httpx.post(
        app.http_url + path(name, "update"),
        content=text_update("hello from a script"),
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    page = pages.new(doc_path(name))
    wait_connected(page)
    note = page.locator("#other-roots")
    expect(note).to_be_visible()
    expect(note).to_contain_text("“text”")
    expect(note).to_contain_text("this editor shows only its rich text")
    type_at_end(page, "Rich words.")
    expect(editor(page)).to_contain_text("Rich words.")
    expect(note).to_be_visible()  # the other root still holds its text

    plain = pages.new(doc_path("team/rich-only"))
    wait_connected(plain)
    type_at_end(plain, "Only rich text.")
    expect(editor(plain)).to_contain_text("Only rich text.")
    expect(plain.locator("#other-roots")).to_be_hidden()


def test_a_refused_page_shows_nobody_present(auth_pages: Pages) -> None:
    page = auth_pages.new(doc_path("secure/nobody"))  # no token: refused with 4401
    expect(page.locator("#connection-alert")).to_be_visible()
    expect(page.locator("#presence-list .person")).to_have_count(0)
    expect(page.locator(".people-count")).to_have_text("Not connected")
    expect(page.locator("#presence-heading")).to_have_text("Here now")
