"""A real PostgreSQL server for the tests: Debian's ``postgresql`` binaries, ``initdb`` and
``pg_ctl`` in a temporary folder, listening on a free loopback port, stopped afterwards.

PostgreSQL refuses to run as root: when the tests run as root, the server runs as the
``postgres`` system user the Debian package creates (``runuser -u postgres``), in a folder
that user owns. ``./scripts/test`` installs the package when it is missing.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PostgresServer", "binaries", "free_port"]

SUPERUSER = "collab"
"""The role ``initdb`` creates (``-U``); it owns every test database."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binaries() -> Path | None:
    """The folder of the newest installed PostgreSQL server's binaries, or ``None``."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder, on 127.0.0.1 and a free port.

    Password authentication (SCRAM) is on, with a random password, so that tests can check
    that it never leaks. :meth:`stop` and :meth:`start` may be called again (the data stays).

    Args:
        fsync: PostgreSQL's ``fsync``; off in tests (they kill collab, never the machine),
            on for the benchmark.
    """

    def __init__(self, *, fsync: bool = False) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = bin_dir
        self.fsync = fsync
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.root = Path(tempfile.mkdtemp(prefix="collab-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self.user: str | None = "postgres" if os.geteuid() == 0 else None
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.user is not None:
            shutil.chown(self.root, self.user)
            shutil.chown(pwfile, self.user)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        pwfile.unlink()
        self._databases = 0

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr}{self.log()}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections (``pg_ctl -w``)."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories=''"
            f" -c fsync={'on' if self.fsync else 'off'} -c max_connections=60"
        )
        if not self.fsync:
            options += " -c full_page_writes=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``pg_ctl stop -m fast``: connections are cut, data kept)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def _processes(self) -> list[int]:
        """The postmaster's pid and its children's (the backends, the background workers)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [postmaster]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(stat.parent.name))
        return pids

    def freeze(self) -> None:
        """Stop every process of the server (SIGSTOP): alive, answering nothing."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server run again (SIGCONT)."""
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def dsn(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of ``database`` with the superuser's password in it."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        self._databases += 1
        name = f"test{self._databases}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def destroy(self) -> None:
        """Stop the server when it runs and remove its folder."""
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
