"""A real webhook receiver for the tests: a Starlette app under uvicorn on a free port, in a
thread of the test process, recording every request it gets."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collab.webhooks import SIGNATURE_HEADER, verify
from tests.e2e.conftest import free_port


@dataclass
class Received:
    """One request: its body, signature header, event id header and the answer given."""

    body: bytes
    signature: str | None
    event_id: str | None
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """Answers ``status`` (200 by default) to POST /hook; ``fail_next`` requests get 500.

    Args:
        secret: the webhook secret its accepted requests must be signed with.
        port: the port to listen on (a free one by default).
    """

    def __init__(self, secret: str, port: int | None = None) -> None:
        self.secret = secret
        self.port = port or free_port()
        self.requests: list[Received] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get(SIGNATURE_HEADER)
        with self._lock:
            status = 500 if self.fail_next > 0 else 200
            self.fail_next = max(0, self.fail_next - 1)
            if status == 200:
                verify(self.secret, signature, body)  # a bad one fails the request: 500
            self.requests.append(
                Received(body, signature, request.headers.get("x-collab-event-id"), status)
            )
        return Response(status_code=status)

    def accepted(self) -> list[dict[str, Any]]:
        """The events answered 200, in arrival order."""
        with self._lock:
            return [r.event for r in self.requests if r.status == 200]

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
