"""Fixtures that start real things: a `collab serve` process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.nodepeer import ensure_node_modules

ROOT = Path(__file__).resolve().parents[2]

OCTETS = {"Content-Type": "application/octet-stream"}
"""The Content-Type an update body must carry (a browser cannot send it cross-site without
a CORS preflight)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real ``collab serve`` subprocess on 127.0.0.1.

    Args:
        db_path: the SQLite file (its folder also holds the server's log).
        extra: more ``collab serve`` flags.
        env: more environment variables.
        db: the ``--db`` to serve instead of ``db_path`` (a PostgreSQL URL).
    """

    def __init__(
        self,
        db_path: Path,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
        db: str | None = None,
    ) -> None:
        self.db_path = db_path
        self.db = db or str(db_path)
        self.port = free_port()
        self.extra = extra or []
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = db_path.parent / f"server-{self.port}.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/sync"

    def start(self, timeout: float = 20.0) -> None:
        """Start the process and wait until /healthz answers."""
        args = [
            sys.executable,
            "-m",
            "collab",
            "serve",
            "--port",
            str(self.port),
            "--db",
            self.db,
        ]
        # Tests replay traces as fast as they can: no message rate limit unless a test sets
        # one (a later flag wins).
        args += ["--room-grace-seconds", "0.2", "--max-messages-per-second", "0", *self.extra]
        if (
            not any(a == "--web-dist" for a in self.extra)
            and not (ROOT / "web/dist/index.html").exists()
        ):
            args.append("--no-web")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.http_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Stop the process with ``sig`` and return its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """``kill -9`` the process."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        """Stop (SIGTERM) and start again on the same port and database."""
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def healthz(self) -> dict[str, object]:
        return httpx.get(self.http_url + "/healthz", timeout=5).json()


@pytest.fixture(scope="session")
def node_modules() -> None:
    """Install the Node peers' packages once per session (npm ci from the lock file)."""
    ensure_node_modules()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type]:
    """Start servers with extra flags; every one is stopped at the end of the test."""
    started: list[Server] = []

    def make(
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
        db_path: Path | None = None,
        db: str | None = None,
    ) -> Server:
        srv = Server(db_path or tmp_path / "collab.db", extra, env, db)
        srv.start()
        started.append(srv)
        return srv

    yield make  # type: ignore[misc]
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory) -> Server:  # type: ignore[no-untyped-def]
    """A running server on a fresh database in the test's tmp_path."""
    return server_factory()
