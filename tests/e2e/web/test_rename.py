"""Renaming from the document list in real Chromium: the Rename dialog checks the new name
with the server's rules and shows the server's refusals, the list shows the new name, and an
editor open on the document follows it to the new name (close 4409) with its text and with
what it kept locally; the action is offered where Delete is (auth off, admin tokens)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.web.browser import (
    Pages,
    doc_path,
    editor,
    server_markdown,
    signed_token,
    type_at_end,
    wait_connected,
    wait_until,
)
from tests.test_http_api import text_update

pytestmark = pytest.mark.e2e


def test_rename_from_the_list_checks_the_name_and_the_editor_follows(
    pages: Pages, app: Any
) -> None:
    name, new = "drafts/plan", "final/plan 2026"
    writer = pages.new(doc_path(name), user="Writer")
    wait_connected(writer)
    type_at_end(writer, "Moving soon.")
    wait_until(lambda: "Moving soon." in server_markdown(app.http_url, name), "the server has it")
    taken = "final/taken"
    httpx.post(
        f"{app.http_url}/api/documents/{quote(taken, safe='/')}/update",
        content=text_update("taken"),
        headers={"Content-Type": "application/octet-stream"},
        timeout=5,
    ).raise_for_status()

    listing = pages.new("/")
    listing.get_by_role("button", name=f"Rename {name}").click()
    dialog = listing.locator("#rename-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Rename “{name}”")
    box = dialog.get_by_label("New name")
    expect(box).to_have_value(name)
    error = dialog.locator("#rename-error")

    box.fill("../etc")  # the server's rules, checked in the page: nothing is sent
    dialog.get_by_role("button", name="Rename").click()
    expect(error).to_contain_text("“.” or “..”")
    expect(box).to_have_attribute("aria-invalid", "true")
    box.fill(taken)  # valid, but the server refuses it (409): said in the dialog
    dialog.get_by_role("button", name="Rename").click()
    expect(error).to_contain_text(f"A document named “{taken}” exists already")
    expect(dialog).to_be_visible()
    assert "Moving soon." in server_markdown(app.http_url, name)

    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    listing.get_by_role("button", name=f"Rename {name}").click()
    box.fill(new)
    dialog.get_by_role("button", name="Rename").click()
    expect(dialog).to_be_hidden()
    expect(listing.get_by_role("link", name=new, exact=True)).to_be_visible()
    expect(listing.get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(listing.locator(".list-status")).to_contain_text(f"Renamed “{name}” to “{new}”.")

    # The open editor was closed with 4409 and opened the new name, text and all.
    expect(writer).to_have_url(f"{app.http_url}{doc_path(new)}")
    wait_connected(writer)
    expect(editor(writer)).to_contain_text("Moving soon.")
    type_at_end(writer, " Moved.")
    wait_until(lambda: "Moving soon. Moved." in server_markdown(app.http_url, new), "edit saved")
    old = httpx.get(f"{app.http_url}/api/documents/{quote(name, safe='/')}", timeout=5)
    assert old.status_code == 404


def test_rename_is_offered_where_delete_is(auth_pages: Pages) -> None:
    name = "secure/renamable"
    writer = auth_pages.new(f"{doc_path(name)}?token={signed_token('*', 'write')}")
    wait_connected(writer)
    type_at_end(writer, "Listed.")
    for role, offered in (("read", 0), ("write", 0), ("admin", 1)):
        listing = auth_pages.new(f"/?token={signed_token('*', role)}")
        expect(listing.get_by_role("link", name=name, exact=True)).to_be_visible()
        expect(listing.get_by_role("button", name=f"Rename {name}")).to_have_count(offered)
