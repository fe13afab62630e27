"""Fixtures of the browser tests (defined in browser.py): Chromium, a server with the built
editor, and pages in fresh browser contexts."""

from tests.e2e.web.browser import (  # noqa: F401 (fixtures)
    app,
    auth_app,
    auth_pages,
    browser,
    pages,
    web_dist,
)
