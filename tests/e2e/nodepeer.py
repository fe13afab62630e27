"""Real Yjs peers in Node, driven from Python tests.

Each :class:`NodePeer` runs ``node tests/e2e/node/peer.mjs`` in a subprocess: a ``Y.Doc`` joined to
a room through an unmodified y-websocket ``WebsocketProvider``. Commands travel as JSON lines on
the child's stdin; replies come back as JSON lines on its stdout and are matched by id, so several
commands may be in flight at once (e.g. a ``wait_text`` while the test does other things).

Typical use::

    ensure_node_modules()  # once per session
    async with NodePeer("ws://127.0.0.1:8000/sync", "room") as peer:
        await peer.call("wait_synced", timeout=10)
        await peer.call("insert", index=0, text="hello")
        assert (await peer.call("get_text"))["text"] == "hello"
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any, Self

NODE_DIR = Path(__file__).resolve().parent / "node"
PEER_SCRIPT = NODE_DIR / "peer.mjs"
HOCUS_SCRIPT = NODE_DIR / "hocus.mjs"

_STDERR_TAIL_LINES = 200
_REPLY_GRACE = 5.0  # seconds a reply may take beyond the command's own timeout
_STREAM_LIMIT = 64 * 1024 * 1024  # a reply carrying a whole state update can be large


class NodePeerError(RuntimeError):
    """A command failed (ok: false), timed out, or the Node process died."""


def ensure_node_modules(node_dir: Path = NODE_DIR) -> None:
    """Run ``npm ci`` in ``node_dir`` if node_modules is missing or older than the lock file.

    Meant to be called once per test session (e.g. from a session-scoped fixture). Raises
    :class:`NodePeerError` with npm's output when the install fails.
    """
    lock = node_dir / "package-lock.json"
    modules = node_dir / "node_modules"
    # npm writes node_modules/.package-lock.json at the end of every install: an empty or
    # half-written folder has none.
    marker = modules / ".package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise NodePeerError("npm is not on PATH; the end-to-end tests need Node.js and npm")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=node_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise NodePeerError(
            f"npm ci failed in {node_dir} (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    # npm ci may keep old timestamps; make the next check cheap and correct
    if marker.exists():
        marker.touch()


class NodePeer:
    """One Yjs peer (``peer.mjs``) in a Node subprocess, joined to ``room`` at ``ws_url``.

    Create and start it with ``await NodePeer.start(url, room)`` or ``async with NodePeer(url,
    room) as peer``. :meth:`call` sends one command and returns its reply; see ``peer.mjs`` for
    the commands.
    """

    def __init__(
        self,
        ws_url: str,
        room: str,
        params: dict[str, Any] | None = None,
        *,
        node: str = "node",
        env: dict[str, str] | None = None,
    ) -> None:
        """Describe a peer; nothing runs until :meth:`launch` (or ``async with``)."""
        self.ws_url = ws_url
        self.room = room
        self.params = dict(params or {})
        self.node = node
        self.env = env
        self.client_id: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._stderr: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._tasks: list[asyncio.Task[None]] = []
        self._dead: str | None = None

    @classmethod
    async def start(
        cls,
        ws_url: str,
        room: str,
        params: dict[str, Any] | None = None,
        *,
        node: str = "node",
        env: dict[str, str] | None = None,
    ) -> Self:
        """Create a peer, start its process and return it (call :meth:`close` when done)."""
        peer = cls(ws_url, room, params, node=node, env=env)
        await peer.launch()
        return peer

    async def launch(self) -> None:
        """Start the Node process (once) and learn the peer's Yjs client id."""
        if self._proc is not None:
            return
        args = self._args()
        self._proc = await asyncio.create_subprocess_exec(
            self.node,
            *args,
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self.env} if self.env is not None else None,
            limit=_STREAM_LIMIT,
        )
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]
        try:
            reply = await self.call("client_id", timeout=20)
        except BaseException:
            await self.close()
            raise
        self.client_id = None if reply["client_id"] is None else int(reply["client_id"])

    def _args(self) -> list[str]:
        """The script and its arguments."""
        args = [str(PEER_SCRIPT), "--url", self.ws_url, "--room", self.room]
        if self.params:
            args += ["--params", json.dumps(self.params)]
        return args

    @property
    def returncode(self) -> int | None:
        """The process' exit code, or None while it runs (or before it started)."""
        return None if self._proc is None else self._proc.returncode

    def stderr_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the peer wrote to stderr."""
        return "\n".join(list(self._stderr)[-lines:])

    async def call(self, cmd: str, timeout: float = 20, **fields: Any) -> dict[str, Any]:
        """Send ``{"cmd": cmd, **fields}`` and return the reply (without ``id`` and ``ok``).

        ``timeout`` is also sent to the peer as the command's own ``timeout`` field (in seconds,
        used by the ``wait_*`` commands), and the reply is awaited for ``timeout`` plus a few
        seconds of grace. Raises :class:`NodePeerError` when the reply is ``ok: false``, when no
        reply came in time, or when the process is gone; the message carries the tail of the
        peer's stderr.
        """
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise NodePeerError(f"peer not started (cmd {cmd!r})")
        if self._dead is not None:
            raise NodePeerError(self._describe(f"{cmd}: peer is gone: {self._dead}"))
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        line = json.dumps({**fields, "id": msg_id, "cmd": cmd, "timeout": timeout}) + "\n"
        wait = timeout + _REPLY_GRACE
        try:
            proc.stdin.write(line.encode())
            await proc.stdin.drain()
            reply = await asyncio.wait_for(future, wait)
        except TimeoutError:
            raise NodePeerError(self._describe(f"{cmd}: no reply within {wait:g}s")) from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise NodePeerError(self._describe(f"{cmd}: peer stdin closed ({exc})")) from None
        finally:
            self._pending.pop(msg_id, None)
        if not reply.get("ok"):
            raise NodePeerError(self._describe(f"{cmd}: {reply.get('error', 'failed')}"))
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    async def close(self, timeout: float = 5) -> None:
        """Ask the peer to exit (destroying its provider); kill it if it does not go in time."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and self._dead is None:
            with contextlib.suppress(NodePeerError):
                await self.call("exit", timeout=timeout)
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout)

    async def __aenter__(self) -> Self:
        """Start the peer if needed."""
        await self.launch()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the peer."""
        await self.close()

    def _describe(self, message: str) -> str:
        tail = self.stderr_tail()
        code = self.returncode
        where = f"peer {self.room!r} at {self.ws_url}"
        if code is not None:
            where += f", exit code {code}"
        return f"{message} [{where}]" + (f"\n--- peer stderr ---\n{tail}" if tail else "")

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        try:
            while line := await stdout.readline():
                try:
                    reply = json.loads(line)
                except json.JSONDecodeError:
                    self._stderr.append(f"[stdout, not JSON] {line.decode(errors='replace')}")
                    continue
                msg_id = reply.get("id") if isinstance(reply, dict) else None
                future = self._pending.get(msg_id) if isinstance(msg_id, int) else None
                if future is not None and not future.done():
                    future.set_result(reply)
                elif isinstance(reply, dict) and not reply.get("ok", True):
                    self._stderr.append(f"[unmatched error reply] {reply}")
        finally:
            if self._proc.returncode is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._proc.wait(), 5)
            self._dead = "the peer process ended"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(NodePeerError(self._describe(self._dead)))

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        stderr = self._proc.stderr
        while line := await stderr.readline():
            self._stderr.append(line.decode(errors="replace").rstrip("\n"))


class HocusPeer(NodePeer):
    """Hocuspocus peers (``hocus.mjs``) in a Node subprocess: unmodified ``HocuspocusProvider``
    instances of ``@hocuspocus/provider`` ``provider`` ("4" or "3") sharing one
    ``HocuspocusProviderWebsocket`` to ``ws_url`` (one socket, many documents).

    Args:
        ws_url: the ``/hocuspocus`` endpoint.
        docs: the documents opened at start, ``{"name": ..., "token": ...}`` each (more with
            the ``open`` command); commands name theirs with ``doc=`` (default: the first).
        provider: the provider's major version.
        socket: options of the ``HocuspocusProviderWebsocket`` (e.g. reconnect delays in ms).
    """

    def __init__(
        self,
        ws_url: str,
        docs: list[dict[str, Any]] | None = None,
        *,
        provider: str = "4",
        socket: dict[str, Any] | None = None,
        node: str = "node",
    ) -> None:
        """Describe the peers; nothing runs until :meth:`launch` (or ``async with``)."""
        self.docs = list(docs or [])
        self.provider = provider
        self.socket = dict(socket or {})
        first = self.docs[0]["name"] if self.docs else ""
        super().__init__(ws_url, first, node=node)

    def _args(self) -> list[str]:
        args = [str(HOCUS_SCRIPT), "--url", self.ws_url, "--provider", self.provider]
        args += ["--docs", json.dumps(self.docs)]
        if self.socket:
            args += ["--socket", json.dumps(self.socket)]
        return args
