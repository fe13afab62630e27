"""The wheel carries the built web editor, and an installed collab serves it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_wheel_includes_the_web_editor(tmp_path: Path) -> None:
    assert (ROOT / "web/dist/index.html").is_file(), "run ./scripts/build-web first"
    # pip builds in the tree, and setuptools keeps build/lib between builds: assets of an
    # earlier web build would be packed too.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("collab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "collab/web_dist/index.html" in names
    assert {"collab/web_dist/favicon.svg", "collab/web_dist/favicon.ico"} <= set(names)
    built = {p.name for p in (ROOT / "web/dist/assets").iterdir()}
    packed = {Path(n).name for n in names if n.startswith("collab/web_dist/assets/")}
    assert built == packed
    assert "collab/websocket.py" in names


def test_setup_without_test_tools_succeeds() -> None:
    # ./scripts/serve runs ./scripts/setup without --dev; ./scripts/test only runs it with it.
    result = subprocess.run(
        ["./scripts/setup"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_serve_keeps_the_callers_relative_paths(tmp_path: Path) -> None:
    """``./scripts/serve --db mine.db`` started in another folder serves that folder's
    mine.db (as ``./scripts/export`` reads its paths), not one inside the repository."""
    from tests.e2e.conftest import free_port

    port = free_port()
    proc = subprocess.Popen(
        [str(ROOT / "scripts/serve"), "--db", "mine.db", "--port", str(port), "--no-web"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # ./scripts/setup runs first
        while not _answers(f"http://127.0.0.1:{port}/healthz"):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        assert (tmp_path / "mine.db").is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert not (ROOT / "mine.db").exists()
    assert str(tmp_path / "mine.db") in output  # the start-up line names the database served


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
