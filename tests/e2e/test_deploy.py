"""The deployment recipes: deploy/collab.service (checked by systemd-analyze, then its command
run with its environment) and the Dockerfile (built and run only where a Docker daemon answers).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from collab.settings_table import describe
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "collab.service"
DOCKERFILE = ROOT / "Dockerfile"
COLLAB = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "collab"


def unit_lines(section: str) -> list[tuple[str, str]]:
    """``(key, value)`` pairs of one section of the unit, in order (keys may repeat)."""
    pairs: list[tuple[str, str]] = []
    current = ""
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section:
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def test_the_systemd_unit_verifies_and_its_command_serves(tmp_path: Path) -> None:
    service = dict(unit_lines("Service"))
    assert service["ExecStart"].split()[1:] == ["serve"]
    environment = [value for key, value in unit_lines("Service") if key == "Environment"]
    env = dict(item.split("=", 1) for item in environment)
    known = {row["env"] for row in describe()}
    assert set(env) <= known, f"unknown settings in the unit: {set(env) - known}"

    if shutil.which("systemd-analyze"):
        local = tmp_path / "collab.service"
        local.write_text(
            UNIT.read_text(encoding="utf-8").replace("/opt/collab/.venv/bin/collab", str(COLLAB))
        )
        result = subprocess.run(
            ["systemd-analyze", "verify", str(local)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr

    # Its command, with its settings, in a temporary state folder.
    secret = tmp_path / "secret"
    secret.write_text(os.urandom(32).hex() + "\n")
    port = free_port()
    env.update(
        COLLAB_DB=str(tmp_path / "state" / "collab.db"),
        COLLAB_PORT=str(port),
        COLLAB_AUTH_SECRET_FILE=str(secret),
    )
    proc = subprocess.Popen(
        [str(COLLAB), "serve"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, 20)
        # Auth is on: the secret file was read.
        assert httpx.get(f"http://127.0.0.1:{port}/api/documents", timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode(errors="replace")


def test_the_dockerfile_copies_only_what_exists() -> None:
    sources = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    assert sources
    for line in sources:
        for source in line.split():
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is missing"


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, timeout=30)
    return result.returncode == 0


@pytest.mark.skipif(not docker_answers(), reason="no Docker daemon here (README: Deployment)")
def test_the_docker_image_builds_and_serves() -> None:
    tag = f"collab-test:{os.getpid()}"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    port = free_port()
    name = f"collab-test-{os.getpid()}"
    try:
        subprocess.run(
            ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8000", tag],
            check=True,
        )
        wait_healthy(f"http://127.0.0.1:{port}/healthz", None, 60)
        assert "collab" in httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
    finally:
        subprocess.run(["docker", "stop", name], capture_output=True)
        subprocess.run(["docker", "rmi", tag], capture_output=True)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_the_install_steps_leave_the_secret_readable_to_the_service_user() -> None:
    """The unit's comment creates /etc/collab and the secret as root; the service runs as
    ``collab`` and must read the secret through the folder. Run here with ``nobody:nogroup``
    for ``collab`` and a temporary folder for /etc/collab."""
    steps = [
        line.removeprefix("#").strip().removeprefix("sudo ")
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if "/etc/collab" in line and "install " in line and "systemd" not in line
    ]
    assert len(steps) == 2, steps  # the folder, then the secret
    with tempfile.TemporaryDirectory() as top:  # pytest's own folders are root's alone
        os.chmod(top, 0o755)
        etc = Path(top) / "etc-collab"
        for step in steps:
            command = step.replace("/etc/collab", str(etc)).replace("-g collab", "-g nogroup")
            command = command.replace("| sudo install", "| install")
            subprocess.run(["sh", "-c", command], check=True)
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        read = subprocess.run(
            [*nobody, "cat", f"{etc}/secret"],
            capture_output=True,
            text=True,
        )
    assert read.returncode == 0, read.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", read.stdout)
