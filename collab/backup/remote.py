"""A collab server over HTTP (httpx): list, read, write, rename and delete documents through
its API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from collab.backup.errors import (
    EXIT_USAGE,
    AlreadyExists,
    BackupError,
    HistoryGone,
    NotFound,
    NotYet,
    TombstoneRefused,
)
from collab.backup.moments import parse_moment

__all__ = ["DEFAULT_SERVER", "DocumentInfo", "Remote"]

DEFAULT_SERVER = "http://127.0.0.1:8000"
PAGE = 1000
REVIVES = "content of a deleted document"
OCTET_STREAM = {"Content-Type": "application/octet-stream"}
"""What the server's 400 ``invalid_update`` says when a tombstone refuses an update
(``collab.room.Room.apply``)."""


class DocumentInfo:
    """A document to export: its name and when it was last written (Unix seconds, if known)."""

    __slots__ = ("name", "updated_at")

    def __init__(self, name: str, updated_at: float | None) -> None:
        self.name = name
        self.updated_at = updated_at


class Remote:
    """The HTTP API of the server at ``url``, with an optional bearer ``token``.

    Raises (from every method):
        BackupError: the server is unreachable, refuses the token, or answers unexpectedly.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise BackupError(
                f"bad server URL {url!r}: use http://HOST:PORT or https://...", EXIT_USAGE
            )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def __str__(self) -> str:
        return self.url

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise BackupError(f"cannot reach the server at {self.url}: {exc}") from None
        except httpx.HTTPError as exc:
            raise BackupError(f"request to {self.url} failed: {exc}") from None
        if response.status_code == 401:
            raise BackupError(
                f"the server at {self.url} refused the request: {_detail(response)}"
                " (pass a token with --token or COLLAB_TOKEN)"
            )
        if response.status_code == 403:
            raise BackupError(f"the token does not allow this: {_detail(response)}")
        return response

    def _fail(self, response: httpx.Response, doing: str) -> BackupError:
        return BackupError(
            f"{doing} failed on {self.url}: HTTP {response.status_code} {_detail(response)}"
        )

    @staticmethod
    def _path(name: str, action: str | None = None) -> str:
        # Every character but unreserved ones is percent-encoded, "/" included: the server
        # decodes the name once, and an encoded "/" never reads as the action separator.
        return "/api/documents/" + quote(name, safe="") + (f"/{action}" if action else "")

    def rename(self, name: str, to: str) -> str:
        """Rename document ``name`` to ``to`` (``POST .../rename``); the new name as the
        server stored it (NFC).

        Raises:
            NotFound: no such document.
            AlreadyExists: a document named ``to`` exists.
            BackupError: any other refusal, naming the server's reason.
        """
        response = self._request("POST", self._path(name, "rename"), json={"to": to})
        if response.status_code == 404:
            raise NotFound(f"no document named {name!r} on {self.url}")
        if response.status_code == 409 and to == name:
            raise AlreadyExists(f"the document is named {name!r} already")
        if response.status_code == 409:
            raise AlreadyExists(f"a document named {to!r} exists on {self.url}")
        if response.status_code != 200:
            raise self._fail(response, f"renaming {name!r}")
        try:
            return str(response.json()["name"])
        except (ValueError, KeyError, TypeError):
            raise BackupError(f"{self.url} does not answer like a collab server") from None

    def documents(self) -> Iterator[DocumentInfo]:
        """Every document the token may read, by name, page after page."""
        cursor: str | None = None
        while True:
            params = {"limit": str(PAGE), "sort": "name", **({"cursor": cursor} if cursor else {})}
            response = self._request("GET", "/api/documents", params=params)
            if response.status_code != 200:
                raise self._fail(response, "listing documents")
            try:
                page = response.json()
                rows = [(str(d["name"]), d.get("updated_at")) for d in page["documents"]]
                cursor = page.get("next_cursor")
            except (ValueError, KeyError, TypeError):
                raise BackupError(f"{self.url} does not answer like a collab server") from None
            for name, updated in rows:
                yield DocumentInfo(name, parse_moment(updated) if updated else None)
            if not cursor:
                return

    def state(self, name: str, at: float | None = None) -> bytes:
        """Document ``name``'s whole state as one Yjs v1 update: now, or at Unix time ``at``
        (the server's ``?at=``: from its log, or the newest version made by then).

        Raises:
            NotFound: no such document.
            NotYet: ``at`` is before the document was created.
            HistoryGone: neither the log nor a version reaches back to ``at``.
        """
        params = {"at": repr(at)} if at is not None else {}
        response = self._request("GET", self._path(name, "update"), params=params)
        code = _code(response)
        if response.status_code == 404 and code == "not_created_yet":
            raise NotYet(_detail(response))
        if response.status_code == 410:
            raise HistoryGone(_detail(response))
        if response.status_code == 404:
            raise NotFound(f"no document named {name!r} on {self.url}")
        if response.status_code != 200:
            raise self._fail(response, f"reading {name!r}")
        return response.content

    def version(self, name: str, version_id: int) -> bytes:
        """The state of version ``version_id`` of document ``name``.

        Raises:
            NotFound: no such document, or no such version of it.
        """
        path = self._path(name) + f"/versions/{version_id}/update"
        response = self._request("GET", path)
        if response.status_code == 404:
            raise NotFound(_detail(response))
        if response.status_code != 200:
            raise self._fail(response, f"reading version {version_id} of {name!r}")
        return response.content

    def current(self, name: str) -> bytes | None:
        """Like :meth:`state`, or ``None`` when the document does not exist."""
        try:
            return self.state(name)
        except NotFound:
            return None

    def post(self, name: str, update: bytes, *, create_only: bool = False) -> None:
        """Apply ``update`` to document ``name`` like a client update (creating it).

        Args:
            create_only: only if the document holds nothing yet, checked in the same
                request (``If-None-Match: *``), so two imports started at once cannot both
                write.

        Raises:
            TombstoneRefused: the server refuses the content of a deleted document.
            AlreadyExists: with ``create_only``, the document holds content.
        """
        headers = {**OCTET_STREAM, "If-None-Match": "*"} if create_only else OCTET_STREAM
        response = self._request(
            "POST", self._path(name, "update"), content=update, headers=headers
        )
        if response.status_code == 200:
            return
        if response.status_code == 412:
            raise AlreadyExists(f"{name!r} was written on {self.url} meanwhile")
        detail = _detail(response)
        if response.status_code == 400 and REVIVES in detail:
            raise TombstoneRefused(f"the server refuses {name!r}: {detail}")
        if response.status_code == 413:
            raise BackupError(
                f"{name!r} is {len(update):,} bytes, over the server's --max-message-bytes;"
                " import it with --db while the server is stopped"
            )
        raise self._fail(response, f"writing {name!r}")

    def replace(self, name: str, state: bytes) -> None:
        """Make document ``name``'s content equal to ``state``'s (``?replace=true``, admin
        role): the server keeps the content before as an automatic version, and connected
        editors receive the change like any edit.

        Raises:
            BackupError: the server refuses it.
        """
        response = self._request(
            "POST",
            self._path(name, "update"),
            params={"replace": "true"},
            content=state,
            headers=OCTET_STREAM,
        )
        if response.status_code == 413:
            raise BackupError(
                f"{name!r} is {len(state):,} bytes, over the server's --max-message-bytes;"
                " import it with --db while the server is stopped"
            )
        if response.status_code != 200:
            raise self._fail(response, f"replacing {name!r}")

    def delete(self, name: str) -> bool:
        """Delete document ``name`` (the server keeps a tombstone); ``False`` if it was absent."""
        response = self._request("DELETE", self._path(name))
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._fail(response, f"deleting {name!r}")
        return True


def _detail(response: httpx.Response) -> str:
    """The ``detail`` of the API's JSON error, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)
    return str(body)[:200]


def _code(response: httpx.Response) -> str | None:
    """The ``error`` code of a JSON error answer, if it is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
