"""``--allocator``: ``collab serve`` starts again with jemalloc preloaded (collab.allocator)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from collab import allocator, process
from collab.settings import Settings, SettingsError
from tests.helpers.postgres import free_port

LIBRARY = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def test_preloads_the_library_with_the_servers_options() -> None:
    env = allocator.preload_environment({"PATH": "/bin"}, LIBRARY, "jemalloc")
    assert env == {"PATH": "/bin", "LD_PRELOAD": LIBRARY, "MALLOC_CONF": allocator.JEMALLOC_CONF}


def test_keeps_what_the_user_preloads_and_configures() -> None:
    environ = {"LD_PRELOAD": "/opt/other.so", "MALLOC_CONF": "narenas:2"}
    env = allocator.preload_environment(environ, LIBRARY, "jemalloc")
    assert env == {"LD_PRELOAD": f"{LIBRARY} /opt/other.so", "MALLOC_CONF": "narenas:2"}


@pytest.mark.parametrize(
    ("environ", "library", "setting"),
    [
        ({}, LIBRARY, "system"),  # --allocator system
        ({}, None, "jemalloc"),  # no libjemalloc2 on the system
        ({"LD_PRELOAD": LIBRARY}, LIBRARY, "jemalloc"),  # the process started again
        ({"LD_PRELOAD": "/elsewhere/libjemalloc.so.2:/x.so"}, LIBRARY, "jemalloc"),  # the user's
    ],
)
def test_never_starts_again_when_it_should_not(
    environ: dict[str, str], library: str | None, setting: str
) -> None:
    assert allocator.preload_environment(environ, library, setting) is None


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("/srv/venv/bin/collab", True),  # the console script
        ("/srv/venv/lib/python3.11/site-packages/collab/__main__.py", True),  # python -m collab
        ("/srv/app/main.py", False),  # an application calling collab.cli.main itself
        ("/srv/venv/bin/pytest", False),
        ("-c", False),
    ],
)
def test_only_the_collab_command_starts_itself_again(script: str, expected: bool) -> None:
    assert allocator.started_as_collab(script) is expected


def test_serve_called_from_other_code_goes_on_without_jemalloc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("execve called")

    monkeypatch.setattr(os, "execve", refuse)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    allocator.use_jemalloc("jemalloc")  # this process is pytest: returns


def test_the_setting_takes_jemalloc_or_system() -> None:
    assert Settings().allocator == "jemalloc"
    assert Settings.from_sources({}, {"COLLAB_ALLOCATOR": "system"}).allocator == "system"
    with pytest.raises(SettingsError, match=r"--allocator \(COLLAB_ALLOCATOR\) must be"):
        Settings.from_sources({"allocator": "tcmalloc"})


def test_under_jemalloc_the_release_purges_its_arenas() -> None:
    code = "from collab import allocator as a, process as p;"
    code += "print(a.purge(), p.release_free_memory())"
    env = {**os.environ, "LD_PRELOAD": LIBRARY, "MALLOC_CONF": allocator.JEMALLOC_CONF}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert not allocator.jemalloc_active() and process.release_free_memory()  # this process: glibc


def _mapped_libraries(tmp_path: Path, *flags: str) -> tuple[str, str]:
    """Start ``collab serve`` with ``flags``, wait until it listens, and return what is
    mapped into the process started (``/proc/PID/maps``: the same process id after the
    ``execve``) and what it logged until stopped."""
    port = free_port()
    argv = [sys.executable, "-m", "collab", "serve", "--no-web", "--port", str(port)]
    argv += ["--db", str(tmp_path / "c.db"), *flags]
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MALLOC_CONF")}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:  # serving (the port is bound before the app starts): its start is logged
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("collab serve did not listen in 60 s")
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return maps, proc.stderr.read().decode() if proc.stderr else ""


@pytest.mark.skipif(allocator.jemalloc_library() is None, reason="libjemalloc2 is not installed")
def test_serve_runs_on_jemalloc_in_the_same_process(tmp_path: Path) -> None:
    maps, log = _mapped_libraries(tmp_path)
    assert "libjemalloc" in maps, "the server was not started again with jemalloc"
    assert "memory allocator: jemalloc (" in log  # a newcomer could not tell before
    maps, log = _mapped_libraries(tmp_path, "--allocator", "system")
    assert "libjemalloc" not in maps
    assert "memory allocator: glibc malloc (--allocator system)" in log
