"""The wheel carries the built web editor, and an installed collab serves it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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
