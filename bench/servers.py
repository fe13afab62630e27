"""The servers under test: installing the peers, starting and stopping each one.

Peers are installed from the registries into ``bench/peers`` (git-ignored): the npm packages
pinned by ``bench/npm/package-lock.json`` and pycrdt-websocket in its own virtual environment
pinned by ``bench/pycrdt-requirements.txt``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
NPM_DIR = PEERS / "npm"
PYCRDT_VENV = PEERS / "pycrdt-venv"
COLLAB_VENV = PEERS / "collab-venv"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerSpec:
    """One server variant: how to start it and how clients talk to it."""

    name: str
    family: str
    persistent: bool
    framing: str = "y-websocket"
    path_prefix: str = "/"
    needs: str = ""  # "npm", "pycrdt" or "collab"
    database: str = ""  # collab: "" (an SQLite file in the workdir) or "postgres"
    workers: int = 0  # collab: a cluster of this many processes on one port, and a Redis
    # Several nodes, each on its own port, sharing a Redis (collab: ``--redis`` and one SQLite
    # file; Hocuspocus: @hocuspocus/extension-redis); the clients alternate between them.
    nodes: int = 0

    def command(
        self, port: int, workdir: Path, db: str | None = None, redis: str | None = None
    ) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        if self.family == "collab":
            env["PYTHONPATH"] = str(ROOT)  # this checkout's code, on its runtime dependencies
            db = db or str(workdir / "collab.db")
            argv = [*collab_argv(), "serve", "--no-web", "--port", str(port), "--db", db]
            if self.workers:
                assert redis is not None
                argv += ["--redis", redis, "--workers", str(self.workers)]
            elif self.nodes:
                assert redis is not None
                argv += ["--redis", redis]
            return [*argv, *collab_flags()], env
        if self.family == "y-websocket":
            env.update(HOST=HOST, PORT=str(port))
            if self.persistent:
                env["YPERSISTENCE"] = str(workdir / "leveldb")
            script = NPM_DIR / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
            return ["node", str(script)], env
        if self.family == "hocuspocus":
            env.update(HOST=HOST, PORT=str(port))
            if self.persistent:
                env["SQLITE_DB"] = str(workdir / "hocuspocus.sqlite")
            if self.nodes:
                assert redis is not None
                env["REDIS_URL"] = redis
            return ["node", str(NPM_DIR / "hocuspocus.mjs")], env
        if self.family == "floor":  # bench/floor.py, on collab's runtime dependencies
            argv = [str(collab_python()), str(BENCH / "floor.py"), "--port", str(port)]
            if "integrator" in self.name:
                argv.append("--integrator")
            if self.persistent:
                argv += ["--sqlite", str(workdir / "floor.db")]
            return argv, env
        if self.family == "pycrdt-websocket":
            argv = [str(PYCRDT_VENV / "bin" / "python"), str(BENCH / "pycrdt_server.py")]
            argv += ["--port", str(port)]
            if self.persistent:
                argv += ["--db", str(workdir / "ystore.db")]
            return argv, env
        raise ValueError(self.family)


SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("collab", "collab", True, path_prefix="/sync/", needs="collab"),
        ServerSpec(
            "collab+postgres",
            "collab",
            True,
            path_prefix="/sync/",
            needs="collab",
            database="postgres",
        ),
        ServerSpec(
            "collab-hocuspocus",
            "collab",
            True,
            framing="hocuspocus",
            path_prefix="/hocuspocus",
            needs="collab",
        ),
        # Cluster mode: N processes behind one port (SO_REUSEPORT), one SQLite file, a Redis
        # (AOF, appendfsync always) the bench starts as the tests do.
        *(
            ServerSpec(
                f"collab-cluster{n}",
                "collab",
                True,
                path_prefix="/sync/",
                needs="collab",
                workers=n,
            )
            for n in (1, 2, 4)
        ),
        # Two or four nodes on their own ports and one Redis, the clients taking the nodes in
        # turn: collab's cluster mode against Hocuspocus with @hocuspocus/extension-redis.
        *(
            spec
            for n in (2, 4)
            for spec in (
                ServerSpec(
                    f"collab-{n}nodes",
                    "collab",
                    True,
                    path_prefix="/sync/",
                    needs="collab",
                    nodes=n,
                ),
                ServerSpec(
                    f"hocuspocus-{n}nodes",
                    "hocuspocus",
                    False,
                    framing="hocuspocus",
                    needs="npm",
                    nodes=n,
                ),
            )
        ),
        ServerSpec("y-websocket", "y-websocket", False, needs="npm"),
        ServerSpec("y-websocket+leveldb", "y-websocket", True, needs="npm"),
        ServerSpec("hocuspocus", "hocuspocus", False, framing="hocuspocus", needs="npm"),
        ServerSpec("hocuspocus+sqlite", "hocuspocus", True, framing="hocuspocus", needs="npm"),
        ServerSpec("pycrdt-websocket", "pycrdt-websocket", False, needs="pycrdt"),
        ServerSpec("pycrdt-websocket+sqlite", "pycrdt-websocket", True, needs="pycrdt"),
        # The floor of a Python server (bench/floor.py): a bare relay, then with collab's
        # integrator, its SQLite commit, or both. Run only when named.
        ServerSpec("floor", "floor", False, needs="collab"),
        ServerSpec("floor+integrator", "floor", False, needs="collab"),
        ServerSpec("floor+sqlite", "floor", True, needs="collab"),
        ServerSpec("floor+integrator+sqlite", "floor", True, needs="collab"),
    )
}


# collab runs with its defaults: no message rate (when set it is flow control, and slows a
# writer down instead of closing it), 5,000 connections per document and 10,000 in all.
COLLAB_BENCH_FLAGS: dict[str, str] = {}
_collab_flags: list[str] | None = None


def collab_python() -> Path:
    """The Python collab runs on: bench/peers/collab-venv holds its runtime dependencies only,
    as a user's install would (the development venv also has numpy, through matplotlib, which
    sqlite-utils imports when present: 12 MiB more per process). Falls back to ``.venv`` when
    the peers are not installed (``--no-install``)."""
    venv = COLLAB_VENV if (COLLAB_VENV / ".installed").exists() else ROOT / ".venv"
    return venv / "bin" / "python"


def collab_argv() -> list[str]:
    """How to run this checkout's ``collab`` command (with ``PYTHONPATH`` set to the root)."""
    python = collab_python()
    return [str(python) if python.exists() else sys.executable, "-m", "collab"]


def collab_flags() -> list[str]:
    """The :data:`COLLAB_BENCH_FLAGS` that ``collab serve`` accepts."""
    global _collab_flags
    if _collab_flags is None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        try:
            done = subprocess.run(
                [*collab_argv(), "serve", "--help"], capture_output=True, text=True, env=env
            )
            helptext = done.stdout
        except OSError:
            helptext = ""
        _collab_flags = []
        for flag, value in COLLAB_BENCH_FLAGS.items():
            if flag in helptext:
                _collab_flags += [flag, value]
    return _collab_flags


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def start_redis(workdir: Path) -> Any:
    """A redis-server for the ``collab-cluster`` variants (Debian's ``redis-server``, AOF with
    ``appendfsync always``, on a free loopback port, its files in ``workdir``).

    Raises:
        RuntimeError: redis-server is not installed, or does not start.
    """
    from tests.helpers.redis import RedisServer, redis_server_binary

    if redis_server_binary() is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(workdir / "redis")
    server.start()
    return server


def start_postgres() -> tuple[Any, str]:
    """A PostgreSQL server for ``collab+postgres`` (Debian's ``postgresql`` package, started
    as ./scripts/test's tests start theirs: initdb + pg_ctl in a temporary folder on a free
    loopback port), with ``fsync`` on, as in production; the server and a new database's URL.

    Raises:
        RuntimeError: PostgreSQL is not installed, or does not start.
    """
    from tests.helpers.postgres import PostgresServer

    server = PostgresServer(fsync=True)
    try:
        server.start()
        return server, server.create_database()
    except BaseException:
        server.destroy()
        raise


# -- installing --------------------------------------------------------------------------------


def install_npm() -> None:
    """``npm ci`` the pinned peers into bench/peers/npm when the lock file changed."""
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    stamp = NPM_DIR / ".installed"
    lock = BENCH / "npm" / "package-lock.json"
    if stamp.exists() and stamp.read_text() == lock.read_text():
        return
    _log("installing @y/websocket-server and @hocuspocus/server into bench/peers/npm (npm ci)")
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(BENCH / "npm" / name, NPM_DIR / name)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NPM_DIR, check=True)
    stamp.write_text(lock.read_text())


def install_pycrdt() -> None:
    """Create bench/peers/pycrdt-venv with the pinned pycrdt-websocket when it changed."""
    reqs = BENCH / "pycrdt-requirements.txt"
    stamp = PYCRDT_VENV / ".installed"
    if stamp.exists() and stamp.read_text() == reqs.read_text():
        return
    _log("installing pycrdt-websocket into bench/peers/pycrdt-venv")
    if not (PYCRDT_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PYCRDT_VENV)], check=True)
    pip = [str(PYCRDT_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "-r", str(reqs)], check=True)
    stamp.write_text(reqs.read_text())


def install_collab() -> None:
    """Create bench/peers/collab-venv with collab's runtime dependencies when they changed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = "\n".join(project["dependencies"])
    stamp = COLLAB_VENV / ".installed"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    _log("installing collab's runtime dependencies into bench/peers/collab-venv")
    if not (COLLAB_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(COLLAB_VENV)], check=True)
    pip = [str(COLLAB_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *project["dependencies"]], check=True)
    stamp.write_text(wanted)


def install(specs: list[ServerSpec]) -> None:
    needs = {s.needs for s in specs}
    if "collab" in needs:
        install_collab()
    if "npm" in needs:
        install_npm()
    if "pycrdt" in needs:
        install_pycrdt()


# -- versions ----------------------------------------------------------------------------------


def _npm_version(package: str) -> str:
    try:
        meta = NPM_DIR / "node_modules" / package / "package.json"
        return str(json.loads(meta.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "?"


def _venv_versions(site: Path, names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        norm = name.replace("-", "_").lower()
        found = [p.name for p in site.glob("*.dist-info") if p.name.lower().startswith(norm + "-")]
        out[name] = found[0][len(norm) + 1 : -len(".dist-info")] if found else "?"
    return out


def _cmd_output(argv: list[str], cwd: Path = ROOT) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _collab_allocator() -> str:
    """What collab's servers allocate with here: jemalloc (its default, where the library is
    installed and ``COLLAB_ALLOCATOR`` is not ``system``) or glibc's malloc."""
    if os.environ.get("COLLAB_ALLOCATOR", "") == "system":
        return "malloc (COLLAB_ALLOCATOR=system)"
    code = "from collab.allocator import jemalloc_library as j; print(j() or '')"
    library = _cmd_output([str(collab_python()), "-c", code])
    if library == "?":
        return "?"
    return f"jemalloc ({library})" if library else "malloc (no libjemalloc2)"


def versions(specs: list[ServerSpec]) -> dict[str, dict[str, str]]:
    """The version of every server (family) and of what it runs on."""
    out: dict[str, dict[str, str]] = {}
    families = {s.family for s in specs}
    if "collab" in families:
        venv = collab_python().parent.parent
        site = next((venv / "lib").glob("python3*/site-packages"), ROOT)
        out["collab"] = {
            "collab": _cmd_output(["git", "describe", "--always", "--dirty"]),
            **_venv_versions(site, ["pycrdt", "starlette", "uvicorn", "websockets", "uvloop"]),
            "python": sys.version.split()[0],
            "flags": " ".join(collab_flags()) or "(defaults)",
            "allocator": _collab_allocator(),
        }
    node = _cmd_output(["node", "--version"])
    if "y-websocket" in families:
        out["y-websocket"] = {
            "@y/websocket-server": _npm_version("@y/websocket-server"),
            "yjs": _npm_version("yjs"),
            "y-leveldb": _npm_version("y-leveldb"),
            "node": node,
        }
    if "hocuspocus" in families:
        out["hocuspocus"] = {
            "@hocuspocus/server": _npm_version("@hocuspocus/server"),
            "@hocuspocus/extension-sqlite": _npm_version("@hocuspocus/extension-sqlite"),
            "@hocuspocus/extension-redis": _npm_version("@hocuspocus/extension-redis"),
            "yjs": _npm_version("yjs"),
            "node": node,
        }
    if "pycrdt-websocket" in families:
        site = next((PYCRDT_VENV / "lib").glob("python3*/site-packages"), PYCRDT_VENV)
        out["pycrdt-websocket"] = _venv_versions(
            site, ["pycrdt-websocket", "pycrdt-store", "pycrdt", "uvicorn", "websockets", "uvloop"]
        )
    return out


# -- running -----------------------------------------------------------------------------------


class Running:
    """A started server process on ``port``; its output goes to ``log_path``."""

    def __init__(
        self, spec: ServerSpec, workdir: Path, port: int | None = None, node: int = 0
    ) -> None:
        self.spec = spec
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        suffix = f"-node{node}" if node else ""
        self.log_path = workdir / f"{spec.name}{suffix}.log"
        self.postgres: Any = None  # collab+postgres: the PostgreSQL server, kept across restarts
        self.db: str | None = None
        self.redis: Any = None  # collab-cluster: the Redis server, kept across restarts
        # The other nodes (``spec.nodes``), started and stopped with this one, on its Redis.
        self.others = (
            [Running(spec, workdir, node=i) for i in range(1, spec.nodes)] if not node else []
        )

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.spec.family == "hocuspocus":
            shutil.copyfile(BENCH / "hocuspocus.mjs", NPM_DIR / "hocuspocus.mjs")
        if self.spec.database == "postgres" and self.postgres is None:
            self.postgres, self.db = start_postgres()
        if (self.spec.workers or self.spec.nodes) and self.redis is None:
            self.redis = start_redis(self.workdir)
        redis = self.redis.url if self.redis is not None else None
        argv, env = self.spec.command(self.port, self.workdir, self.db, redis)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.spec.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
            else:
                for other in self.others:  # the other nodes, on the same Redis
                    other.redis = self.redis
                    other.start(timeout)
                return
        self.stop()
        raise RuntimeError(f"{self.spec.name} did not listen in {timeout} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (the graceful stop every server supports), SIGKILL after ``timeout``."""
        for other in self.others:
            other.stop(timeout)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server, then its PostgreSQL server (and remove its data) if it has one."""
        self.stop()
        if self.postgres is not None:
            self.postgres.destroy()
            self.postgres = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def target(self) -> dict[str, object]:
        return {
            "name": self.spec.name,
            "host": HOST,
            "port": self.port,
            "framing": self.spec.framing,
            "path_prefix": self.spec.path_prefix,
            "pids": [self.pid, *(other.pid for other in self.others)],
            "ports": [self.port, *(other.port for other in self.others)] if self.others else [],
        }

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
