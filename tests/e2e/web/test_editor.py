"""The browser editor (web/) end to end: real headless Chromium against a real `collab serve`.

Every page gets its own browser context, so pages share nothing (no storage, no
BroadcastChannel) and every change travels through the server. Waits are on conditions, never
on fixed sleeps. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.web.browser import (
    DESKTOP,
    PHONE,
    PROVIDER_JS,
    TIMEOUT_MS,
    Pages,
    assert_converged,
    doc_path,
    editor,
    fake_token,
    fragment,
    provider_value,
    server_markdown,
    shot,
    signed_token,
    type_at_end,
    wait_connected,
    wait_until,
)

pytestmark = pytest.mark.e2e


# ---- tests ------------------------------------------------------------------------------------


def test_two_pages_converge_late_joiner_sees_all_and_carets_show(pages: Pages) -> None:
    name = "team/converge test"
    alice = pages.new(doc_path(name), user="Alice")
    bob = pages.new(doc_path(name), user="Bob")
    wait_connected(alice)
    wait_connected(bob)
    expect(alice.locator("#doc-title")).to_have_text(name)

    type_at_end(alice, "Alpha from Alice.")
    expect(editor(bob)).to_contain_text("Alpha from Alice.")
    type_at_end(bob, " Bravo from Bob.")

    # Interleaved typing: updates cross each other in flight.
    for i in range(3):
        alice.keyboard.type(f" a{i}")
        bob.keyboard.type(f" b{i}")
    words = [
        "Alpha from Alice.",
        "Bravo from Bob.",
        *(f"a{i}" for i in range(3)),
        *(f"b{i}" for i in range(3)),
    ]
    assert_converged([alice, bob], words)

    # Each sees the other's caret, labelled with the other's name, and the other in the list.
    expect(
        alice.locator(".collaboration-carets__caret .collaboration-carets__label", has_text="Bob")
    ).to_be_visible()
    expect(
        bob.locator(".collaboration-carets__caret .collaboration-carets__label", has_text="Alice")
    ).to_be_visible()
    expect(alice.locator("#presence-list")).to_contain_text("Bob")
    expect(bob.locator("#presence-list")).to_contain_text("Alice")

    # A third page opened later gets everything, and everybody sees it arrive.
    carol = pages.new(doc_path(name), user="Carol")
    wait_connected(carol)
    assert_converged([alice, bob, carol], words)
    expect(alice.locator("#presence-list .person")).to_have_count(3)
    carol.close()
    expect(alice.locator("#presence-list .person")).to_have_count(2)


def test_name_is_editable_remembered_and_shown_to_others(pages: Pages) -> None:
    name = "names"
    me = pages.new(doc_path(name))
    other = pages.new(doc_path(name), user="Observer")
    wait_connected(me)
    wait_connected(other)
    me.locator("#user-name").fill("Dana")
    type_at_end(me, "Dana was here")
    expect(other.locator("#presence-list")).to_contain_text("Dana")
    expect(other.locator(".collaboration-carets__label", has_text="Dana")).to_be_visible()

    color = me.evaluate("() => localStorage.getItem('collab.user.color')")
    assert isinstance(color, str) and len(color) == 7 and color.startswith("#")
    wait_until(
        lambda: me.evaluate("() => localStorage.getItem('collab.user.name')") == "Dana",
        "the name is saved",
    )
    me.reload()
    wait_connected(me)
    expect(me.locator("#user-name")).to_have_value("Dana")
    assert me.evaluate("() => localStorage.getItem('collab.user.color')") == color


def test_pages_reconnect_after_server_restart_without_loss(pages: Pages, app: Any) -> None:
    name = "restart me"
    alice = pages.new(doc_path(name), user="Alice")
    bob = pages.new(doc_path(name), user="Bob")
    wait_connected(alice)
    wait_connected(bob)
    type_at_end(alice, "before restart A.")
    expect(editor(bob)).to_contain_text("before restart A.")  # so Bob types after all of it
    type_at_end(bob, " before restart B.")
    assert_converged([alice, bob], ["before restart A.", "before restart B."])

    for page in (alice, bob):
        page.evaluate(f"() => {{ window.__wsBefore = {PROVIDER_JS}.ws }}")
    app.restart()
    for page in (alice, bob):
        page.wait_for_function(
            f"() => {{ const p = {PROVIDER_JS};"
            " return p.ws !== null && p.ws !== window.__wsBefore && p.wsconnected && p.synced }",
            timeout=TIMEOUT_MS,
        )
        wait_connected(page)

    type_at_end(alice, " after restart A.")
    expect(editor(bob)).to_contain_text("after restart A.")
    type_at_end(bob, " after restart B.")
    words = ["before restart A.", "before restart B.", "after restart A.", "after restart B."]
    assert_converged([alice, bob], words)
    expect(alice.locator("#presence-list .person")).to_have_count(2)

    late = pages.new(doc_path(name), user="Late")
    wait_connected(late)
    assert_converged([alice, bob, late], words)


def test_edits_made_while_the_server_is_down_merge_on_reconnect(pages: Pages, app: Any) -> None:
    name = "offline edits"
    alice = pages.new(doc_path(name), user="Alice")
    bob = pages.new(doc_path(name), user="Bob")
    wait_connected(alice)
    wait_connected(bob)
    type_at_end(alice, "Shared start.")
    assert_converged([alice, bob], ["Shared start."])

    app.stop()
    expect(alice.locator("#connection-status")).to_have_attribute("data-state", "reconnecting")
    type_at_end(alice, " Written while the server was down.")
    app.start()
    wait_connected(alice)
    wait_connected(bob)
    assert_converged([alice, bob], ["Shared start.", "Written while the server was down."])


def test_list_page_shows_documents_and_opens_by_name(pages: Pages, app: Any) -> None:
    name = "reports/q3 review"
    writer = pages.new(doc_path(name), user="Writer")
    wait_connected(writer)
    type_at_end(writer, "Quarterly numbers")
    wait_until(
        lambda: "Quarterly numbers" in server_markdown(app.http_url, name),
        "the server has the text",
    )

    listing = pages.new("/")
    link = listing.get_by_role("link", name=name, exact=True)
    expect(link).to_be_visible()
    assert link.get_attribute("href") == doc_path(name)
    row = listing.locator("tr", has=link)
    expect(row.locator("time")).to_have_text("just now")
    expect(row.locator("td").nth(2)).to_have_text("1")  # the writer's page is connected

    listing.get_by_label("Document name").fill("fresh/new doc")
    listing.get_by_role("button", name="Open").click()
    expect(listing).to_have_url(app.http_url + "/d/fresh/new%20doc")
    expect(listing.locator("#doc-title")).to_have_text("fresh/new doc")
    wait_connected(listing)

    listing.get_by_role("link", name="All documents").click()
    expect(listing.get_by_role("link", name=name, exact=True)).to_be_visible()


def test_document_edited_in_the_browser_downloads_as_markdown_and_html(
    pages: Pages, app: Any
) -> None:
    name = "export/minutes"
    page = pages.new(doc_path(name), user="Scribe")
    wait_connected(page)
    editor(page).click()
    page.get_by_role("button", name="Heading 1").click()
    page.keyboard.type("Minutes")
    page.keyboard.press("Enter")
    page.keyboard.type("We agreed on ")
    page.keyboard.press("Control+b")  # Tiptap's default shortcut
    page.keyboard.type("bold")
    page.keyboard.press("Control+b")
    page.keyboard.type(" plans.")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Bulleted list").click()
    page.keyboard.type("first")
    page.keyboard.press("Enter")
    page.keyboard.type("second")
    expect(page.get_by_role("button", name="Bulleted list")).to_have_attribute(
        "aria-pressed", "true"
    )
    wait_until(
        lambda: "second" in server_markdown(app.http_url, name), "the server has the whole text"
    )

    with page.expect_download() as info:
        page.get_by_role("button", name="Download as Markdown").click()
    download = info.value
    assert download.suggested_filename.endswith(".md")
    markdown = Path(download.path()).read_text(encoding="utf-8")
    assert markdown == "# Minutes\n\nWe agreed on **bold** plans.\n\n- first\n- second\n"

    with page.expect_download() as info:
        page.get_by_role("button", name="Download as HTML").click()
    download = info.value
    assert download.suggested_filename.endswith(".html")
    html = Path(download.path()).read_text(encoding="utf-8")
    assert "<h1>Minutes</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<li>" in html and "second" in html


def test_read_only_token_makes_the_editor_read_only(pages: Pages) -> None:
    name = "read only"
    writer = pages.new(doc_path(name), user="Writer")
    wait_connected(writer)
    type_at_end(writer, "Written by the writer.")

    reader = pages.new(f"{doc_path(name)}?token={fake_token('read')}", user="Reader")
    expect(reader.locator("#readonly-badge")).to_be_visible()
    expect(editor(reader)).to_have_attribute("contenteditable", "false")
    for button in reader.locator(".toolbar button").all():
        expect(button).to_be_disabled()
    expect(editor(reader)).to_contain_text("Written by the writer.")
    before = fragment(reader)
    editor(reader).click()
    reader.keyboard.type("reader typing")
    assert fragment(reader) == before
    expect(editor(writer)).not_to_contain_text("reader typing")
    # The token goes along on links back to the list.
    assert "token=" in (
        reader.get_by_role("link", name="All documents").get_attribute("href") or ""
    )


def test_bad_document_name_is_explained_without_connecting(pages: Pages) -> None:
    page = pages.new(doc_path("x" * 300))
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "stopped")
    alert = page.locator("#connection-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("document name is not valid")
    expect(alert).to_contain_text("at most 255 bytes long; this one is 300")
    for label in ("Download as Markdown", "Download as HTML"):
        expect(page.get_by_role("button", name=label)).to_be_disabled()
    expect(editor(page)).to_have_count(0)  # nothing to edit, nothing sent


def test_screenshots_of_the_list_and_the_editor(pages: Pages, app: Any) -> None:
    name = "design/screenshot tour"
    alice = pages.new(doc_path(name), user="Alice", color="#be185d")
    wait_connected(alice)
    editor(alice).click()
    alice.get_by_role("button", name="Heading 1").click()
    alice.keyboard.type("Launch plan")
    alice.keyboard.press("Enter")
    alice.keyboard.type("Everyone edits this page together; ")
    alice.keyboard.press("Control+i")
    alice.keyboard.type("carets show who is where.")
    alice.keyboard.press("Control+i")
    alice.keyboard.press("Enter")
    alice.get_by_role("button", name="Bulleted list").click()
    alice.keyboard.type("Write the announcement")
    alice.keyboard.press("Enter")
    alice.keyboard.type("Check the numbers")
    alice.keyboard.press("Enter")
    alice.keyboard.press("Enter")
    alice.get_by_role("button", name="Quote").click()
    alice.keyboard.type("Ship small, ship often.")

    phone = pages.new(doc_path(name), user="Bob (phone)", color="#0369a1", viewport=PHONE)
    wait_connected(phone)
    expect(editor(phone)).to_contain_text("Ship small, ship often.")
    editor(phone).get_by_text("Check the numbers").click()
    expect(alice.locator(".collaboration-carets__label", has_text="Bob (phone)")).to_be_visible()
    expect(phone.locator(".collaboration-carets__label", has_text="Alice")).to_be_visible()
    wait_until(
        lambda: "Ship small" in server_markdown(app.http_url, name), "the server has the text"
    )

    shot(alice, "editor-desktop")
    shot(phone, "editor-phone")
    for viewport, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        listing = pages.new("/", viewport=viewport)
        expect(listing.get_by_role("link", name=name, exact=True)).to_be_visible()
        shot(listing, f"list-{label}")


def test_signed_tokens_writer_edits_reader_follows_read_only(
    auth_pages: Pages, auth_app: Any
) -> None:
    name = "secure/plan"
    write = signed_token("secure/*", "write")
    read = signed_token(name, "read")
    writer = auth_pages.new(f"{doc_path(name)}?token={write}", user="Writer")
    wait_connected(writer)
    expect(writer.locator("#readonly-badge")).to_be_hidden()
    type_at_end(writer, "Only writers write.")

    reader = auth_pages.new(f"{doc_path(name)}?token={read}", user="Reader")
    wait_connected(reader)
    expect(reader.locator("#readonly-badge")).to_be_visible()
    expect(editor(reader)).to_have_attribute("contenteditable", "false")
    expect(editor(reader)).to_contain_text("Only writers write.")
    type_at_end(writer, " More from the writer.")
    expect(editor(reader)).to_contain_text("More from the writer.")
    # The reader stays connected: its handshake carries no writes, so the server keeps it.
    expect(reader.locator("#connection-status")).to_have_attribute("data-state", "connected")
    expect(reader.locator("#connection-alert")).to_be_hidden()

    # The list and the exports send the token as a bearer header.
    listing = auth_pages.new(f"/?token={write}")
    link = listing.get_by_role("link", name=name, exact=True)
    expect(link).to_be_visible()
    assert f"token={write}" in (link.get_attribute("href") or "")
    with reader.expect_download() as info:
        reader.get_by_role("button", name="Download as Markdown").click()
    markdown = Path(info.value.path()).read_text(encoding="utf-8")
    assert "Only writers write. More from the writer." in markdown


def test_missing_expired_or_wrong_tokens_say_so_and_stop(auth_pages: Pages) -> None:
    name = "secure/locked"
    cases = [
        ("", "access token is missing or expired"),
        (f"?token={signed_token(name, 'write', ttl_seconds=-60)}", "missing or expired"),
        (f"?token={signed_token('elsewhere/*', 'write')}", "Permission denied"),
    ]
    for query, words in cases:
        page = auth_pages.new(doc_path(name) + query)
        expect(page.locator("#connection-status")).to_have_attribute("data-state", "stopped")
        expect(page.locator("#connection-alert")).to_contain_text(words)
        expect(page.locator("#connection-alert")).to_contain_text("Server said")
        assert provider_value(page, "p.shouldConnect") is False
        expect(editor(page)).to_have_attribute("contenteditable", "false")

    listing = auth_pages.new("/")
    expect(listing.get_by_role("alert")).to_contain_text("access token is missing or expired")
