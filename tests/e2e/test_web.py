"""The browser editor (web/) end to end: real headless Chromium against a real `collab serve`.

Every page gets its own browser context, so pages share nothing (no storage, no
BroadcastChannel) and every change travels through the server. Waits are on conditions, never
on fixed sleeps. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# The Y.XmlFragment the editor binds to (web/src/fields.js); the server's exporter reads it.
FRAGMENT_FIELD = "default"
TIMEOUT_MS = 20_000

expect.set_options(timeout=TIMEOUT_MS)


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def web_dist() -> None:
    """Build web/dist (no-op when it is up to date) before any server of this module starts."""
    subprocess.run([str(ROOT / "scripts" / "build-web")], cwd=ROOT, check=True)
    assert (ROOT / "web" / "dist" / "index.html").is_file()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is missing: apt-get install -y chromium (never `playwright install`)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def app(web_dist: None, server: Any) -> Any:
    """The `server` fixture, started after web/dist is built (so it serves the editor)."""
    return server


class Pages:
    """Opens pages, each in a fresh browser context, and fails the test on page errors."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def new(
        self,
        path: str,
        *,
        user: str | None = None,
        color: str | None = None,
        viewport: dict[str, int] | None = None,
    ) -> Page:
        context = self.browser.new_context(
            viewport=viewport or DESKTOP,
            device_scale_factor=2 if viewport == PHONE else 1,
            accept_downloads=True,
        )
        if user is not None:
            context.add_init_script(f"localStorage.setItem('collab.user.name', {json.dumps(user)})")
        if color is not None:
            context.add_init_script(
                f"localStorage.setItem('collab.user.color', {json.dumps(color)})"
            )
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{path}: {exc}"))
        page.goto(self.base_url + path)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Browser, app: Any) -> Iterator[Pages]:
    opened = Pages(browser, app.http_url)
    yield opened
    opened.close()
    assert not opened.errors, f"uncaught errors in the page: {opened.errors}"


AUTH_SECRET = "web-e2e-secret-that-is-at-least-32-bytes-long"


@pytest.fixture
def auth_app(web_dist: None, server_factory: Any) -> Any:
    """A server with access tokens turned on."""
    return server_factory(extra=["--auth-secret", AUTH_SECRET])


@pytest.fixture
def auth_pages(browser: Browser, auth_app: Any) -> Iterator[Pages]:
    opened = Pages(browser, auth_app.http_url)
    yield opened
    opened.close()
    assert not opened.errors, f"uncaught errors in the page: {opened.errors}"


def signed_token(doc: str, role: str, ttl_seconds: float = 600) -> str:
    """A token the server accepts (collab.auth signs it with AUTH_SECRET)."""
    from collab.auth import Role, mint_token

    return mint_token(AUTH_SECRET, doc, Role.parse(role), ttl_seconds)


# ---- helpers ----------------------------------------------------------------------------------


def doc_path(name: str) -> str:
    return "/d/" + "/".join(quote(segment, safe="") for segment in name.split("/"))


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_MS / 1000
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def wait_connected(page: Page) -> None:
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected")


def editor(page: Page) -> Any:
    return page.locator(".ProseMirror")


def type_at_end(page: Page, text: str) -> None:
    editor(page).click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def fragment(page: Page) -> str:
    """The page's Y.XmlFragment, serialised: equal strings mean equal documents."""
    return str(page.evaluate("() => window.__collab.fragment.toString()"))


def assert_converged(pages: list[Page], words: list[str]) -> None:
    def same() -> bool:
        states = [fragment(page) for page in pages]
        return len(set(states)) == 1 and all(word in states[0] for word in words)

    try:
        wait_until(same, f"all pages hold the same document with {words}")
    except AssertionError as exc:
        states = "\n".join(f"  page {i}: {fragment(page)}" for i, page in enumerate(pages))
        raise AssertionError(f"{exc}; the pages hold:\n{states}") from None
    for page in pages:
        for word in words:
            expect(editor(page)).to_contain_text(word)


def fake_token(role: str) -> str:
    """An unsigned JWT-shaped token: the page only decodes its payload to adapt the UI."""

    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': 'tester', 'role': role})}.c2ln"


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def server_markdown(base_url: str, name: str) -> str:
    url = f"{base_url}/api/documents/{quote(name, safe='/')}/export"
    response = httpx.get(url, params={"format": "markdown"}, timeout=5)
    return response.text if response.status_code == 200 else ""


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
        page.evaluate("() => { window.__wsBefore = window.__collab.provider.ws }")
    app.restart()
    for page in (alice, bob):
        page.wait_for_function(
            "() => { const p = window.__collab.provider;"
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


def test_bad_document_name_says_so_and_stops_retrying(pages: Pages) -> None:
    page = pages.new(doc_path("x" * 300))
    status = page.locator("#connection-status")
    expect(status).to_have_attribute("data-state", "stopped")
    alert = page.locator("#connection-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("document name is not valid")
    expect(alert).to_contain_text("Server said")
    assert page.evaluate("() => window.__collab.provider.shouldConnect") is False
    expect(editor(page)).to_have_attribute("contenteditable", "false")


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
        assert page.evaluate("() => window.__collab.provider.shouldConnect") is False
        expect(editor(page)).to_have_attribute("contenteditable", "false")

    listing = auth_pages.new("/")
    expect(listing.get_by_role("alert")).to_contain_text("access token is missing or expired")
