"""A database on read-only media (a read-only bind mount in a private mount namespace, made
with ``unshare -m``, as root's chmod would not stop root): ``collab serve`` names the OS's
reason ("Read-only file system"), ``collab export --db`` reads a database closed cleanly
(``immutable=1``) and, for one with a ``-wal`` file, says to copy it to writable storage."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from collab.stores import SQLiteStore
from collab.stores.sqlite_read_only import read_only_hint, read_only_uri

pytestmark = pytest.mark.e2e

_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def read_only(folder: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with ``folder`` read-only (for that command only)."""
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", _MOUNT, str(folder), *command],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _can_mount(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = read_only(tmp_path, "sh", "-c", f"! touch {tmp_path}/probe")
    return probe.returncode == 0


def hello() -> bytes:
    doc: Doc = Doc()
    doc.get("text", type=Text).insert(0, "hello")
    return doc.get_update()


def test_a_database_on_read_only_media(tmp_path: Path) -> None:
    if os.geteuid() != 0:  # root makes the read-only mount (CI and ./scripts/test run as root)
        pytest.skip("needs root for a private read-only mount (unshare -m)")
    assert _can_mount(tmp_path), "unshare -m could not mount the folder read-only"
    db = tmp_path / "c.db"
    store = SQLiteStore(db)
    store.append([("d", hello())])
    store.close()
    assert not (tmp_path / "c.db-wal").exists()  # closed cleanly
    collab = [sys.executable, "-m", "collab"]

    served = read_only(tmp_path, *collab, "serve", "--no-web", "--db", str(db))
    assert served.returncode == 1
    assert "Read-only file system" in served.stderr and "Traceback" not in served.stderr

    exported = read_only(tmp_path, *collab, "export", "d", "--db", str(db), "--format", "text")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == "hello"
    checked = read_only(tmp_path, *collab, "doctor", "--db", str(db))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    held = sqlite3.connect(db)  # a -wal file beside it, as a server left it (or crashed)
    held.execute("PRAGMA journal_mode=WAL")
    held.execute("CREATE TABLE IF NOT EXISTS keep (x)")
    (tmp_path / "c.db-shm").unlink()  # copied without it
    refused = read_only(tmp_path, *collab, "export", "d", "--db", str(db), "--format", "text")
    held.close()
    assert refused.returncode != 0
    assert "copy both files to writable storage" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_uri_and_hint_of_a_writable_folder(tmp_path: Path) -> None:
    """In a folder this process may write, SQLite creates its -shm file: plain ``mode=ro``."""
    db = tmp_path / "c.db"
    assert read_only_uri(db).endswith("?mode=ro")
    assert read_only_hint(db) == ""
