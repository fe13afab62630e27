"""Files of an export: safe reversible names, atomic writes, the manifest of ``--all``.

**File names.** A document name is percent-encoded (UTF-8) except ASCII letters, digits and
``-_.~``, so ``team/notes v2`` becomes ``team%2Fnotes%20v2``: no ``/``, no control or shell
characters, and ``urllib.parse.unquote`` gives the name back. A leading ``.`` (hidden files) and
the first letter of names Windows reserves (``CON``, ``NUL``, ``COM1``...) are encoded too. Two
cases end in ``~`` and 12 hex digits of the name's SHA-256 instead: names whose encoding is
over 200 bytes, and names that differ from an earlier one only by letter case (they would be one
file on case-insensitive file systems). ``manifest.json`` always maps names to files.

**Atomic writes.** Every file is written to a temporary file in the same folder, flushed to
disk, then renamed over the target: a reader (or a crash) sees the old file or the new one,
never a part.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from collab.backup.errors import BackupError

__all__ = [
    "MANIFEST",
    "Entry",
    "Manifest",
    "file_name",
    "read_manifest",
    "write_atomic",
    "write_manifest",
]

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_MAX_STEM = 200
_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def file_name(name: str, extension: str, taken: set[str]) -> str:
    """A file name for document ``name`` (see the module docstring), not in ``taken``.

    ``taken`` holds the case-folded names already used; the result is added to it.
    """
    stem = quote(name, safe="-_.~")
    if stem.startswith("."):
        stem = "%2E" + stem[1:]
    if _RESERVED.fullmatch(stem):
        stem = f"%{ord(stem[0]):02X}" + stem[1:]
    suffix = "." + extension
    if len(stem) > _MAX_STEM or (stem + suffix).casefold() in taken:
        cut = stem[:_MAX_STEM]
        cut = cut[: cut.rfind("%")] if "%" in cut[-2:] else cut  # never split a %XX escape
        stem = cut + "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    taken.add((stem + suffix).casefold())
    return stem + suffix


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Raises:
        BackupError: the folder is missing or not writable, ``path`` is a folder, disk full.
    """
    if path.is_dir():
        raise BackupError(f"cannot write {path}: it is a directory")
    folder = path.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".collab-", suffix=".tmp")
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise BackupError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True, slots=True)
class Entry:
    """One exported document in the manifest."""

    name: str
    file: str
    format: str
    size: int
    updated_at: str | None
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """``manifest.json`` of ``collab export --all``."""

    format: str
    exported_at: str
    source: str
    at: str | None
    documents: list[Entry]


def entry(name: str, file: str, fmt: str, data: bytes, updated_at: str | None) -> Entry:
    """The manifest entry of ``data`` written to ``file``."""
    return Entry(name, file, fmt, len(data), updated_at, hashlib.sha256(data).hexdigest())


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``folder/manifest.json`` atomically."""
    body: dict[str, Any] = {"collab_export": MANIFEST_VERSION, **asdict(manifest)}
    text = json.dumps(body, ensure_ascii=False, indent=2) + "\n"
    write_atomic(folder / MANIFEST, text.encode("utf-8"))


def read_manifest(folder: Path) -> Manifest:
    """Read and check ``folder/manifest.json``.

    Raises:
        BackupError: missing, unreadable, or not a manifest this version understands.
    """
    path = folder / MANIFEST
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BackupError(f"{path} is not valid JSON: {exc}") from None
    try:
        if body.get("collab_export") != MANIFEST_VERSION:
            raise ValueError(f"unknown manifest version {body.get('collab_export')!r}")
        documents = [Entry(**doc) for doc in body["documents"]]
        manifest = Manifest(
            format=str(body["format"]),
            exported_at=str(body["exported_at"]),
            source=str(body["source"]),
            at=body.get("at"),
            documents=documents,
        )
        for doc in documents:
            if Path(doc.file).name != doc.file or doc.file in ("", ".", ".."):
                raise ValueError(f"file {doc.file!r} is not a plain file name")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{path} is not a collab export manifest: {exc}") from None
    return manifest
