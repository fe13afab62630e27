"""What ``collab serve`` checks before it starts, so that a newcomer's mistakes end in one line
and an exit status instead of a traceback: the listening socket first (a busy port is found
before the database is touched), then the database file's path.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

__all__ = ["StartupError", "check_database_path", "listen"]


class StartupError(Exception):
    """The server cannot start; ``str(exc)`` is the one line to show."""


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port`` (SO_REUSEADDR, as uvicorn binds), for uvicorn's
    ``Server.run(sockets=...)``; uvicorn calls ``listen`` on it. With ``reuse_port`` (cluster
    nodes), SO_REUSEPORT too: the nodes on one machine share the port, and the kernel spreads
    new connections over them.

    Raises:
        StartupError: the address is in use, not local, or not allowed (port below 1024).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"cannot listen on {host}:{port}: the address is already in use (another "
                "collab or program serves there: stop it, or pick another --port)"
            ) from exc
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def check_database_path(db: str | Path) -> Path:
    """The absolute path of the database file ``db``, after checking that it can be one:
    not a folder, its parent a folder (created when missing) that this process may write.

    Raises:
        StartupError: naming the path and the reason (the operating system's words).
    """
    path = Path(db).expanduser().absolute()

    def refuse(reason: str) -> StartupError:
        return StartupError(f"cannot open the database {path}: {reason}")

    if path.is_dir():
        raise refuse(os.strerror(errno.EISDIR))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise refuse(os.strerror(errno.ENOTDIR)) from exc
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from exc
    if not path.parent.is_dir():
        raise refuse(os.strerror(errno.ENOTDIR))
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise refuse(_why_unwritable(path.parent))
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise refuse(_why_unwritable(path))
    return path


def _why_unwritable(path: Path) -> str:
    """The operating system's words for why ``path`` (which ``os.access`` refused) cannot be
    written: "Read-only file system" on read-only media, else "Permission denied"."""
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return os.strerror(errno.EROFS if read_only else errno.EACCES)
