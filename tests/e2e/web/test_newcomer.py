"""The editor as a newcomer meets it: edits kept in the browser across a closed tab, a warning
before closing with edits not on the server, read-only links that never send a write, names
checked before leaving the list, deleting from the list, and the small things (placeholder,
distinct colours, a toolbar that fits a phone, no test hook in the production build)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Dialog, Page, WebSocket, expect

from tests.e2e.web.browser import (
    PHONE,
    Pages,
    doc_path,
    editor,
    server_markdown,
    signed_token,
    type_at_end,
    wait_connected,
    wait_until,
)

pytestmark = pytest.mark.e2e


def record_beforeunload(page: Page) -> list[str]:
    """Accepts (leaves) every beforeunload prompt of ``page`` and records it."""
    seen: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        seen.append(dialog.type)
        dialog.accept()

    page.on("dialog", on_dialog)
    return seen


def test_offline_edits_survive_a_closed_tab_and_merge_when_it_opens_again(
    pages: Pages, app: Any
) -> None:
    name = "offline/kept"
    first = pages.new(doc_path(name), user="Traveller")
    wait_connected(first)
    type_at_end(first, "Written online.")
    wait_until(lambda: "Written online." in server_markdown(app.http_url, name), "server has it")
    saved = first.locator("#saved-state")
    expect(saved).to_be_hidden()

    app.stop()
    expect(first.locator("#connection-status")).to_have_attribute("data-state", "reconnecting")
    type_at_end(first, " Written offline.")
    expect(saved).to_have_attribute("data-saved", "local")
    expect(saved).to_have_text("Saved locally, not yet on the server")

    prompts = record_beforeunload(first)
    first.close(run_before_unload=True)
    first.wait_for_event("close")  # the prompt is answered while this waits
    assert prompts == ["beforeunload"]

    app.start()
    again = pages.again(first, doc_path(name))  # same browser profile, new tab
    wait_connected(again)
    expect(editor(again)).to_contain_text("Written online. Written offline.")
    wait_until(
        lambda: "Written offline." in server_markdown(app.http_url, name),
        "the edit made offline reached the server",
    )
    other = pages.new(doc_path(name), user="Elsewhere")  # another browser: via the server
    expect(editor(other)).to_contain_text("Written online. Written offline.")

    # Everything is on the server now: closing asks nothing.
    expect(again.locator("#saved-state")).to_be_hidden()
    prompts = record_beforeunload(again)
    again.close(run_before_unload=True)
    again.wait_for_event("close")
    assert prompts == []


def test_a_local_copy_of_a_deleted_document_is_dropped_not_resurrected(
    pages: Pages, app: Any
) -> None:
    name = "gone/while away"
    first = pages.new(doc_path(name), user="Away")
    wait_connected(first)
    type_at_end(first, "Old words.")
    wait_until(lambda: "Old words." in server_markdown(app.http_url, name), "server has it")
    first.close()  # the browser keeps its copy
    url = f"{app.http_url}/api/documents/{quote(name, safe='/')}"
    assert httpx.delete(url, timeout=5).status_code == 200

    again = pages.again(first, doc_path(name))
    # The kept copy carries the deleted content: the server refuses it (4410, or 1007 from
    # servers before it named deleted documents), the page says why and drops the copy, and
    # the document is not brought back.
    alert = again.locator("#connection-alert")
    expect(alert).to_contain_text("deleted")
    expect(alert).to_contain_text("content of a deleted document")
    assert httpx.get(url, timeout=5).status_code == 404
    again.reload()
    wait_connected(again)
    expect(editor(again)).not_to_contain_text("Old words.")
    type_at_end(again, "A fresh start.")
    wait_until(
        lambda: "A fresh start." in server_markdown(app.http_url, name), "the new text is stored"
    )
    assert "Old words." not in server_markdown(app.http_url, name)


def sync_frames(page: Page) -> list[bytes]:
    """Every y-protocols sync message (type 0) the page sends, from now on."""
    sent: list[bytes] = []

    def on_socket(ws: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            if isinstance(payload, bytes) and payload[:1] == b"\x00":
                sent.append(payload)

        ws.on("framesent", on_frame)

    page.on("websocket", on_socket)
    return sent


@pytest.mark.parametrize("content", ["", "Written by the writer."])
def test_read_only_link_never_sends_a_write_and_stays_connected(
    auth_pages: Pages, auth_app: Any, content: str
) -> None:
    name = f"secure/read {len(content)}"
    if content:
        writer = auth_pages.new(f"{doc_path(name)}?token={signed_token(name, 'write')}")
        wait_connected(writer)
        type_at_end(writer, content)
        wait_until(
            lambda: content in server_markdown_auth(auth_app.http_url, name),
            "the server has the text",
        )
    context = auth_pages.browser.new_context()
    auth_pages.contexts.append(context)
    reader = context.new_page()
    frames = sync_frames(reader)
    reader.goto(f"{auth_app.http_url}{doc_path(name)}?token={signed_token(name, 'read')}")
    wait_connected(reader)
    expect(editor(reader)).to_have_attribute("contenteditable", "false")
    placeholder = "This document is empty." if not content else None
    if placeholder:
        expect(reader.locator(".prose p").first).to_have_attribute("data-placeholder", placeholder)
    editor(reader).click()
    reader.keyboard.type("reader typing")
    reader.keyboard.press("Enter")
    reader.keyboard.press("Control+b")
    # Nothing the reader did changed the document or went out: the only sync messages are
    # its sync step 1 (0, 0) and a sync step 2 (0, 1) that carries no struct (an empty update
    # is 0x00 0x00 after the message's varUint length).
    wait_until(lambda: len(frames) >= 2, "the handshake was sent")
    for frame in frames:
        assert frame[1] in (0, 1), f"a sync update was sent: {frame!r}"
        if frame[1] == 1:
            assert frame[2:] == b"\x02\x00\x00", f"a sync step 2 with content: {frame!r}"
    expect(reader.locator("#connection-status")).to_have_attribute("data-state", "connected")
    expect(reader.locator("#connection-alert")).to_be_hidden()
    assert "reader typing" not in server_markdown_auth(auth_app.http_url, name)


def server_markdown_auth(base_url: str, name: str) -> str:
    url = f"{base_url}/api/documents/{quote(name, safe='/')}/export"
    headers = {"Authorization": f"Bearer {signed_token(name, 'read')}"}
    response = httpx.get(url, params={"format": "markdown"}, headers=headers, timeout=5)
    return response.text if response.status_code == 200 else ""


def test_the_create_box_explains_names_the_server_would_refuse(pages: Pages, app: Any) -> None:
    listing = pages.new("/")
    box = listing.get_by_label("Document name")
    error = listing.locator("#doc-name-error")
    for bad, words in [
        ("../etc", "“.” or “..”"),
        ("a//b", "“//”"),
        ("notes/", "start or end"),
        ("x" * 256, "at most 255 bytes"),
    ]:
        box.fill(bad)
        listing.get_by_role("button", name="Open").click()
        expect(error).to_be_visible()
        expect(error).to_contain_text(words)
        expect(box).to_have_attribute("aria-invalid", "true")
        assert listing.url == app.http_url + "/"
    box.fill("fine/name")
    expect(error).to_be_hidden()  # re-checked while typing
    listing.get_by_role("button", name="Open").click()
    expect(listing).to_have_url(app.http_url + "/d/fine/name")


def test_delete_from_the_list_asks_first_and_closes_the_editors(pages: Pages, app: Any) -> None:
    name = "trash/old notes"
    writer = pages.new(doc_path(name), user="Writer")
    wait_connected(writer)
    type_at_end(writer, "Soon gone.")
    wait_until(lambda: "Soon gone." in server_markdown(app.http_url, name), "the server has it")
    record_url = f"{app.http_url}/api/documents/{quote(name, safe='/')}"

    listing = pages.new("/")
    delete = listing.get_by_role("button", name=f"Delete {name}")
    delete.click()
    dialog = listing.locator("#confirm-delete")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Delete “{name}”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert httpx.get(record_url, timeout=5).status_code == 200

    delete.click()
    dialog.get_by_role("button", name="Delete").click()
    expect(listing.get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(listing.locator(".list-status")).to_contain_text(f"Deleted “{name}”.")
    assert httpx.get(record_url, timeout=5).status_code == 404
    expect(writer.locator("#connection-alert")).to_contain_text("This document was deleted.")
    expect(writer.get_by_role("button", name="Download as Markdown")).to_be_disabled()


def test_delete_is_offered_to_admin_tokens_only(auth_pages: Pages) -> None:
    name = "secure/listed"
    writer = auth_pages.new(f"{doc_path(name)}?token={signed_token('*', 'write')}")
    wait_connected(writer)
    type_at_end(writer, "Listed.")
    for role, offered in (("read", 0), ("write", 0), ("admin", 1)):
        listing = auth_pages.new(f"/?token={signed_token('*', role)}")
        expect(listing.get_by_role("link", name=name, exact=True)).to_be_visible()
        expect(listing.get_by_role("button", name=f"Delete {name}")).to_have_count(offered)


def test_people_present_get_distinct_colours(pages: Pages) -> None:
    name = "colours"
    same = "#b91c1c"
    people = [pages.new(doc_path(name), user=f"Guest {i}", color=same) for i in range(3)]
    for page in people:
        wait_connected(page)
    swatches = people[0].locator("#presence-list .person")
    expect(swatches).to_have_count(3)

    def distinct() -> bool:
        colours = [swatches.nth(i).get_attribute("data-color") for i in range(3)]
        return len(set(colours)) == 3 and all(colours)

    wait_until(distinct, "three people show three colours")
    assert same in [swatches.nth(i).get_attribute("data-color") for i in range(3)]


def test_empty_document_placeholder_phone_toolbar_and_no_test_hook(pages: Pages) -> None:
    page = pages.new(doc_path("fresh"), viewport=PHONE)
    wait_connected(page)
    expect(page.locator(".prose p.is-editor-empty")).to_have_attribute(
        "data-placeholder", "Start writing…"
    )
    width = PHONE["width"]
    buttons = page.locator(".toolbar button")
    assert buttons.count() == 13
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (
            f"toolbar button {i} is outside the {width}px screen: {box}"
        )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    assert page.evaluate("() => typeof window.__collab") == "undefined"
    type_at_end(page, "Now it has text.")
    expect(page.locator(".prose .is-editor-empty")).to_have_count(0)


def test_unknown_pages_get_the_styled_404_and_every_page_a_favicon(pages: Pages, app: Any) -> None:
    page = pages.new("/")
    response = page.goto(app.http_url + "/etc")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page).to_have_title("Not found · collab")
    page.get_by_role("link", name="Go to the document list").click()
    expect(page.get_by_role("heading", name="Documents")).to_be_visible()

    # Not a browser: the JSON error every other refusal is.
    plain = httpx.get(app.http_url + "/etc", timeout=5)
    assert plain.status_code == 404 and plain.json()["error"] == "not_found"
    api = httpx.get(app.http_url + "/api/nothing", headers={"accept": "text/html"}, timeout=5)
    assert api.status_code == 404 and api.json()["error"] == "not_found"

    for path, kind in (("/favicon.svg", "image/svg+xml"), ("/favicon.ico", "image/")):
        icon = httpx.get(app.http_url + path, timeout=5)
        assert icon.status_code == 200 and icon.headers["content-type"].startswith(kind), path
    ico = httpx.get(app.http_url + "/favicon.ico", timeout=5).content
    assert ico[:4] == b"\x00\x00\x01\x00" and b"PNG" in ico[:40]
    links = page.locator("link[rel=icon]")
    assert {links.nth(i).get_attribute("href") for i in range(links.count())} == {
        "/favicon.svg",
        "/favicon.ico",
    }
