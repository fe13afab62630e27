"""Shared set-up of the browser tests: Debian's headless Chromium (Playwright) against a real
`collab serve`, one browser context per page, and helpers that reach the editor's Y.Doc and
provider without any test hook in the production build.
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

ROOT = Path(__file__).resolve().parents[3]
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

    def again(self, page: Page, path: str) -> Page:
        """Another page in the browser context of ``page`` (same IndexedDB and localStorage)."""
        other = page.context.new_page()
        other.on("pageerror", lambda exc: self.errors.append(f"{path}: {exc}"))
        other.goto(self.base_url + path)
        return other

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


# The production build exposes nothing for tests: they reach the editor the way Tiptap itself
# leaves it on its element (`.ProseMirror`.editor), and the Y.Doc and provider through the
# options of its Collaboration and CollaborationCaret extensions.
EDITOR_JS = "document.querySelector('.ProseMirror').editor"
YDOC_JS = (
    f"{EDITOR_JS}.extensionManager.extensions"
    ".find((x) => x.name === 'collaboration').options.document"
)
PROVIDER_JS = (
    f"{EDITOR_JS}.extensionManager.extensions"
    ".find((x) => x.name === 'collaborationCaret').options.provider"
)


def provider_value(page: Page, expression: str) -> Any:
    """``expression`` evaluated with ``p`` bound to the page's WebsocketProvider."""
    return page.evaluate(f"() => {{ const p = {PROVIDER_JS}; return {expression} }}")


def fragment(page: Page) -> str:
    """The page's Y.XmlFragment, serialised: equal strings mean equal documents."""
    return str(page.evaluate(f"() => {YDOC_JS}.getXmlFragment('{FRAGMENT_FIELD}').toString()"))


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
