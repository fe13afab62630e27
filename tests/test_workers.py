"""``--workers`` and ``--redis`` settings, and the workers' command line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from collab.settings import Settings, SettingsError
from collab.workers import worker_argv


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
