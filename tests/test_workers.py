"""``--workers`` and ``--redis`` settings, and the workers' command line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from collab.settings import Settings, SettingsError
from collab.workers import worker_argv
from tests.helpers.postgres import free_port
from tests.helpers.redis import RedisServer, redis_server_binary


def test_workers_need_redis_and_redis_needs_a_url() -> None:
    with pytest.raises(SettingsError, match="needs --redis"):
        Settings.from_sources({"workers": 2})
    with pytest.raises(SettingsError, match=r"--workers \(COLLAB_WORKERS\) must be positive"):
        Settings.from_sources({"workers": 0})
    with pytest.raises(SettingsError, match=r"--redis \(COLLAB_REDIS\) must be a redis://"):
        Settings.from_sources({"redis": "localhost:6379"})
    settings = Settings.from_sources({"workers": 3}, {"COLLAB_REDIS": "redis://127.0.0.1:6379/0"})
    assert settings.workers == 3 and settings.redis == "redis://127.0.0.1:6379/0"


def test_a_worker_runs_the_same_command_with_one_worker() -> None:
    argv = ["serve", "--workers", "4", "--redis", "redis://r/0", "--workers=2", "--port", "80"]
    assert worker_argv(argv) == [
        sys.executable, "-m", "collab",
        "serve", "--redis", "redis://r/0", "--port", "80", "--workers", "1",
    ]  # fmt: skip


def test_workers_that_refuse_to_start_stop_the_supervisor(tmp_path: Path) -> None:
    """A worker exiting with 1 (here: its port is taken by a socket without SO_REUSEPORT)
    is not restarted for ever: the supervisor stops and exits with that status."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["serve", "--no-web", "--port", str(port), "--db", str(tmp_path / "c.db"),
                "--redis", "redis://127.0.0.1:1/0", "--workers", "2"]  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "collab", *argv], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert "already in use" in done.stderr


@pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")
def test_sigterm_while_the_workers_start_stops_them_and_exits_0(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """SIGTERM once the supervisor has spawned its workers, which are still starting (their
    signal handlers not installed yet, so the forwarded SIGTERM ends them at once): a clean
    stop like a SIGTERM after start-up, exit 0 and no traceback (found by a newcomer's trial:
    exit status 15)."""
    argv = ["serve", "--no-web", "--port", str(free_port()), "--db", str(tmp_path / "c.db"),
            "--redis", redis_server.url, "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "collab", *argv], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    started = proc.stderr.readline()  # printed once the workers are spawned
    assert started.startswith("collab: 2 workers, pids"), started
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


@pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")
def test_ctrl_c_in_a_terminal_stops_the_running_workers_gracefully(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Ctrl-C sends SIGINT to the terminal's whole foreground process group: the workers
    (in a group of their own) get only the supervisor's one SIGTERM, so they shut down
    gracefully (a second signal would make them exit at once, status 1)."""
    argv = ["serve", "--no-web", "--port", str(free_port()), "--db", str(tmp_path / "c.db"),
            "--redis", redis_server.url, "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "collab", *argv],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group, as a shell gives a foreground job
    )
    assert proc.stderr is not None
    serving = 0
    while serving < 2:  # each worker logs the address once it serves
        line = proc.stderr.readline()
        assert line, "the supervisor ended before its workers served"
        serving += "open http://" in line
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "second signal" not in stderr and "Traceback" not in stderr
