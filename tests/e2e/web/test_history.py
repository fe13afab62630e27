"""The editor's History panel (issue 23) in real headless Chromium against a real server: save a
version, edit, preview the version with the difference highlighted, restore it, and both open
pages show the restored text and keep editing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.web.browser import (
    Pages,
    doc_path,
    editor,
    fake_token,
    server_markdown,
    shot,
    type_at_end,
    wait_connected,
    wait_until,
)

pytestmark = pytest.mark.e2e


def test_save_preview_and_restore_a_version_while_two_pages_edit(pages: Pages, app: Any) -> None:
    name = "history/plan"
    alice = pages.new(doc_path(name), user="Alice")
    bob = pages.new(doc_path(name), user="Bob")
    wait_connected(alice)
    wait_connected(bob)
    type_at_end(alice, "First draft.")
    expect(editor(bob)).to_contain_text("First draft.")
    wait_until(lambda: "First draft." in server_markdown(app.http_url, name), "the server has it")

    alice.click("#history-toggle")
    expect(alice.locator("#history-panel")).to_be_visible()
    alice.fill("#version-label", "draft one")
    alice.click("#save-version")
    expect(alice.locator("#history-status")).to_contain_text("Saved version")
    saved = alice.locator(".version-item", has_text="draft one")
    expect(saved).to_contain_text("saved")

    type_at_end(bob, " Rewritten by Bob.")
    bob.keyboard.press("Enter")
    bob.keyboard.type("A second paragraph.")
    expect(editor(alice)).to_contain_text("A second paragraph.")
    wait_until(
        lambda: "A second paragraph." in server_markdown(app.http_url, name), "the server has it"
    )

    saved.click()
    preview = alice.locator("#version-preview")
    expect(preview).to_be_visible()
    expect(preview.locator('.preview-block[data-change="gone"]')).to_have_text("First draft.")
    added = preview.locator('.preview-block[data-change="new"]')
    expect(added.first).to_contain_text("Rewritten by Bob.")
    expect(added.last).to_have_text("A second paragraph.")
    shot(alice, "history-preview")

    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    alice.once("dialog", accept)
    alice.click("#restore-version")
    expect(alice.locator("#history-status")).to_contain_text("Restored version")
    assert dialogs and "Restore version" in dialogs[0]
    wait_until(
        lambda: server_text(app.http_url, name) == "First draft.", "the server has the version"
    )
    for page in (alice, bob):
        expect(editor(page).locator("p")).to_have_count(1)
        expect(editor(page)).to_contain_text("First draft.")
        expect(editor(page)).not_to_contain_text("Rewritten")
    # the editors keep working on the restored document, without a reload
    type_at_end(bob, " Still editing.")
    expect(editor(alice)).to_contain_text("First draft. Still editing.")
    wait_until(
        lambda: server_text(app.http_url, name) == "First draft. Still editing.",
        "the server has the edit after the restore",
    )
    # the list now holds the automatic version of the document before the restore
    before = alice.locator(".version-item", has_text="before restoring")
    expect(before).to_contain_text("automatic")
    version_id = before.get_attribute("data-version-id")
    response = httpx.get(
        f"{app.http_url}/api/documents/history/plan/versions/{version_id}/export",
        params={"format": "text"},
        timeout=10,
    )
    assert "A second paragraph." in response.text


def server_text(base_url: str, name: str) -> str:
    url = f"{base_url}/api/documents/{name}/export"
    response = httpx.get(url, params={"format": "text"}, timeout=5)
    return response.text.strip() if response.status_code == 200 else ""


def test_a_read_only_page_lists_and_previews_but_cannot_save_or_restore(
    pages: Pages, app: Any
) -> None:
    name = "history-read"
    writer = pages.new(doc_path(name), user="Writer")
    wait_connected(writer)
    type_at_end(writer, "Kept text.")
    wait_until(lambda: "Kept text." in server_markdown(app.http_url, name), "the server has it")
    created = httpx.post(
        f"{app.http_url}/api/documents/{name}/versions", json={"label": "kept"}, timeout=10
    )
    assert created.status_code == 201
    reader = pages.new(f"{doc_path(name)}?token={fake_token('read')}", user="Reader")
    wait_connected(reader)
    reader.click("#history-toggle")
    expect(reader.locator("#save-version")).to_be_hidden()
    reader.locator(".version-item", has_text="kept").click()
    expect(reader.locator('.preview-block[data-change="same"]')).to_have_text("Kept text.")
    expect(reader.locator("#restore-version")).to_be_hidden()
