"""`collab` as a newcomer runs it: every refusal is one line on stderr with a documented exit
status (never a traceback), the port is checked before the database is touched, and every
command says which database file it uses (README "Command-line exit status")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collab.allocator import jemalloc_library
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

GOOD_SECRET = "a-newcomers-secret-that-is-long-enough-0123456789"


def collab(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``collab ARGS`` to completion (commands that are expected to stop by themselves)."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("COLLAB_")
    }  # only what the test sets
    return subprocess.run(
        [sys.executable, "-m", "collab", *args],
        cwd=cwd,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("db", "why"),
    [
        ("/proc/collab-test/x.db", "No such file or directory"),
        ("/proc/x.db", "No such file or directory"),  # /proc is a folder, but takes no file
        ("{tmp}/a-file/x.db", "Not a directory"),
        ("{tmp}", "Is a directory"),
    ],
)
def test_an_unopenable_database_is_one_line_and_exit_1(tmp_path: Path, db: str, why: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    path = db.format(tmp=tmp_path)
    for command in (["serve", "--no-web", "--port", str(free_port())], ["doctor"]):
        result = collab(*command, "--db", path, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        if command[0] == "serve":
            line = one_line(result)
            assert line.startswith(f"collab: cannot open the database {path}: "), line
            assert why in line and "Errno" not in line, line
        else:
            assert f"database: {path}" in result.stdout, result.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_line_and_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    result = collab("serve", "--no-web", "--db", str(folder / "x.db"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Permission denied" in one_line(result)


def test_a_busy_port_is_found_before_the_database_is_opened(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = collab("serve", "--no-web", "--port", str(port), "--db", "x.db", cwd=tmp_path)
    assert result.returncode == 1
    line = one_line(result)
    assert f"127.0.0.1:{port}" in line and "in use" in line, line
    assert not (tmp_path / "x.db").exists()  # checked first: no database was created


def test_a_misspelt_variable_is_warned_of_once(tmp_path: Path) -> None:
    """Once, also when ``collab serve`` starts itself again with jemalloc preloaded (it
    printed the warning in both processes)."""
    assert jemalloc_library() is not None, "set-up installs jemalloc (libjemalloc2)"
    with socket.socket() as busy:  # the start stops at the port, after the warning
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = collab(
            "serve", "--no-web", "--port", str(port), "--db", "x.db",
            cwd=tmp_path, env={"COLLAB_PROT": "8001"},
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("COLLAB_PROT is not a collab setting") == 1, result.stderr


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_a_weak_auth_secret_is_refused(tmp_path: Path, secret: str) -> None:
    for args in (
        ["serve", "--no-web", "--port", str(free_port()), "--db", "x.db"],
        ["token", "team/notes", "--role", "write"],
    ):
        result = collab(*args, cwd=tmp_path, env={"COLLAB_AUTH_SECRET": secret})
        assert result.returncode == 2
        line = one_line(result)
        assert f"{len(secret)} bytes" in line and "at least 32" in line, line
        assert result.stdout == ""
    assert not (tmp_path / "x.db").exists()


def test_a_secret_file_with_a_weak_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("tiny\n")
    result = collab("token", "x", "--auth-secret-file", str(tmp_path / "secret"), cwd=tmp_path)
    assert result.returncode == 2
    assert "at least 32" in one_line(result)


@pytest.mark.parametrize("doc", ["a//b", "../etc", "team/", "a//*", ""])
def test_token_refuses_invalid_document_names(tmp_path: Path, doc: str) -> None:
    result = collab("token", doc, cwd=tmp_path, env={"COLLAB_AUTH_SECRET": GOOD_SECRET})
    assert result.returncode == 2
    assert "document name" in one_line(result)
    assert result.stdout == ""


@pytest.mark.parametrize("doc", ["team/notes", "team/*", "*"])
def test_token_accepts_names_and_prefixes(tmp_path: Path, doc: str) -> None:
    result = collab("token", doc, cwd=tmp_path, env={"COLLAB_AUTH_SECRET": GOOD_SECRET})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(".") == 2  # a JWT


def test_every_command_names_its_database_by_absolute_path(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    db = work / "data" / "collab.db"
    # doctor from another folder: it says where it looked, and how to point elsewhere.
    result = collab("doctor", cwd=tmp_path)
    assert result.returncode == 1
    assert str(tmp_path / "data" / "collab.db") in result.stdout
    assert "--db" in result.stdout

    # serve logs the absolute path of the relative default.
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "collab", "serve", "--no-web", "--port", str(port)],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "serving" in line:
                assert str(db) in line, line
                break
        else:
            raise AssertionError("no 'serving' line")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()

    result = collab("doctor", cwd=work)
    assert result.returncode == 0, result.stdout
    assert f"database: {db}" in result.stdout
    out = tmp_path / "out"
    result = collab("export", "--all", "--out", str(out), "--db", "data/collab.db", cwd=work)
    assert result.returncode == 0, result.stderr
    assert str(db) in result.stderr
    result = collab("import", "--all", str(out), "--db", "data/restored.db", cwd=work)
    assert result.returncode == 0, result.stderr
    assert str(work / "data" / "restored.db") in result.stderr


def test_a_bad_setting_names_the_flag_and_the_variable_the_user_typed(tmp_path: Path) -> None:
    for args, env in (
        (["--max-message-bytes", "0"], {}),
        ([], {"COLLAB_MAX_MESSAGE_BYTES": "0"}),
    ):
        result = collab("serve", "--no-web", "--db", "x.db", *args, cwd=tmp_path, env=env)
        assert result.returncode == 2
        line = one_line(result)
        assert line == (
            "collab: --max-message-bytes (COLLAB_MAX_MESSAGE_BYTES) must be positive, not 0"
        ), line
    assert not (tmp_path / "x.db").exists()


def test_an_unreachable_postgresql_is_one_line_without_the_pools_warnings(tmp_path: Path) -> None:
    url = f"postgresql://collab@127.0.0.1:{free_port()}/nowhere"  # nothing listens there
    for command in (
        ["serve", "--no-web", "--port", str(free_port())],
        ["export", "--all", "--out", str(tmp_path / "out")],
    ):
        result = collab(*command, "--db", url, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        line = one_line(result)
        assert "WARNING" not in result.stderr and "psycopg" not in result.stderr, result.stderr
        assert "cannot open database" in line and "127.0.0.1" in line, line


def test_the_web_editor_is_checked_before_the_database_is_created(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    result = collab(
        "serve", "--web-dist", str(tmp_path / "nowhere"), "--db", str(db), "--port",
        str(free_port()), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "the web editor is not built" in one_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing created"


def test_the_start_says_where_to_open_the_editor(server_factory: Any) -> None:
    server = server_factory()
    assert f"open http://127.0.0.1:{server.port}/ " in server.log(), server.log()


_SIGNAL_DURING_IMPORTS = """
import os, sys
class SignalOnImport:  # the signal arrives while the server's modules are imported
    def find_spec(self, name, path=None, target=None):
        if name == "collab.cli_serve":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), {signal})
        return None
sys.meta_path.insert(0, SignalOnImport())
from collab.cli import main
raise SystemExit(main(["serve", "--no-web", "--port", "0", "--db", {db!r}]))
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_while_starting_stops_quietly(tmp_path: Path, sig: str) -> None:
    """A trial's SIGTERM in the first second of `collab serve` (Python still importing)
    killed it (status -15), and Ctrl-C printed a KeyboardInterrupt traceback: now each
    stops it as a signal does once it serves, status 0, nothing on stderr."""
    db = tmp_path / "x.db"
    code = _SIGNAL_DURING_IMPORTS.format(signal=f"{int(getattr(signal, sig))}", db=str(db))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert not db.exists()  # stopped before the database was opened
