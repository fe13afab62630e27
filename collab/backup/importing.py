"""Importing Yjs update files as documents, into a server (HTTP) or a database file.

An import is applied like a client update. A document that exists and is not empty is never
overwritten without ``replace``; one that already holds everything the file holds is left alone.

``replace`` and tombstones: deleting a document leaves a tombstone of its content, and the
server refuses updates carrying structs of it (so stale editors cannot resurrect it). So:

* into a database (``--db``, server stopped): ``replace`` saves the document's state as an
  automatic version, then removes the document *and* its tombstone in the same transaction
  as the import, which keeps the file's exact bytes (versions stay);
* over HTTP: ``replace`` of a document that exists posts the file with ``?replace=true``
  (admin role): the server saves the content before as an automatic version and writes the
  file's content like a restore, one update relayed to the connected editors. When a deleted
  document's tombstone refuses the file (it shares history with the deleted content, as a
  backup of the same document does), the content is posted as a fresh copy written by a new
  Yjs client instead (:mod:`collab.backup.fresh`): same content, new identity.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from collab.backup.database import DbWriter
from collab.backup.errors import EXIT_USAGE, AlreadyExists, BackupError, TombstoneRefused
from collab.backup.files import read_manifest
from collab.backup.fresh import fresh_copy
from collab.backup.progress import Progress
from collab.backup.remote import Remote
from collab.backup.states import adds_nothing, checked, is_empty, same_document
from collab.names import InvalidName, validate_name

__all__ = ["import_all", "import_one"]

Target = Remote | DbWriter
Action = Literal["create", "unchanged", "replace", "conflict"]


@dataclass
class _Item:
    name: str
    update: bytes
    action: Action = "create"
    current: bytes | None = None


def _name(name: str) -> str:
    try:
        return validate_name(name)
    except InvalidName as exc:
        raise BackupError(f"bad document name {name!r}: {exc}", EXIT_USAGE) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None


def _plan(target: Target, item: _Item, replace: bool) -> None:
    current = target.current(item.name)
    item.current = current
    if current is not None and same_document(current, item.update):
        item.action = "unchanged"
    elif current is None or is_empty(current):
        item.action = "create"
    elif not replace and adds_nothing(current, item.update):
        item.action = "unchanged"
    else:
        item.action = "replace" if replace else "conflict"


def _apply(target: Target, item: _Item, replace: bool) -> str:
    """Write one planned item; returns a note for the user, if any."""
    name, update = item.name, item.update
    if isinstance(target, DbWriter):
        if item.action == "create" and target.revives(name, update):
            if not replace:
                raise TombstoneRefused(
                    f"{name!r} was deleted and the database keeps its tombstone, which refuses"
                    " its old content: use --replace to clear the tombstone and import it"
                )
            target.write(name, update, replace=True)
            return f"imported {name!r} (cleared the tombstone of its deleted content)"
        target.write(name, update, replace=item.action == "replace")
        return ""
    payload, exact = update, True
    if item.action == "replace":
        target.replace(name, update)
        return (
            f"replaced the content of {name!r} (the server keeps the content before as a"
            " version; connected editors keep editing)"
        )
    try:
        target.post(name, payload, create_only=True)
    except AlreadyExists:
        # Another writer (a second import started at once) created it since the plan.
        _plan(target, item, replace=False)
        if item.action == "unchanged":
            return f"{name!r} was imported meanwhile by another writer; nothing to do"
        raise BackupError(
            f"{name!r} was written on {target} while importing it: import again"
            " (--replace to overwrite)"
        ) from None
    except TombstoneRefused:
        # An older tombstone (of a document deleted before) refuses it too.
        if not replace:
            raise TombstoneRefused(
                f"{name!r} was deleted on the server, which refuses its old content: use"
                " --replace to import it as new content (a fresh Yjs identity)"
            ) from None
        exact = False
        target.post(name, fresh_copy(update), create_only=True)
    if not exact:
        return (
            f"imported {name!r} as new content with a fresh Yjs identity (the server keeps"
            " a tombstone of its deleted content)"
        )
    return ""


def import_one(target: Target, name: str, path: Path, *, replace: bool, quiet: bool) -> int:
    """``collab import NAME FILE``."""
    item = _Item(_name(name), checked(_read(path), str(path)))
    _plan(target, item, replace)
    if item.action == "conflict":
        raise BackupError(
            f"{item.name!r} already exists on {target} and is not empty: use --replace to"
            " overwrite it"
        )
    if item.action == "unchanged":
        if not quiet:
            if item.current is not None and not same_document(item.current, item.update):
                print(
                    f"{item.name!r} already holds everything in {path} and more edits since:"
                    " nothing imported (--replace makes it equal to the file)",
                    file=sys.stderr,
                )
            else:
                print(f"{item.name!r} already holds {path}; nothing to do", file=sys.stderr)
        return 0
    note = _apply(target, item, replace)
    if not quiet:
        verb = "replaced" if item.action == "replace" else "imported"
        print(
            note or f"{verb} {item.name!r} ({len(item.update):,} bytes) into {target}",
            file=sys.stderr,
        )
    return 0


def import_all(target: Target, folder: Path, *, replace: bool, quiet: bool) -> int:
    """``collab import --all DIR``: every document of an ``export --all --format yjs`` folder.

    Every file is read and checked (size, SHA-256, a valid update) and every document planned
    before anything is written; into a database the whole import is one transaction.
    """
    manifest = read_manifest(folder)
    if manifest.format != "yjs":
        raise BackupError(
            f"{folder} holds a {manifest.format} export; only --format yjs exports can be imported"
        )
    items: list[_Item] = []
    seen: set[str] = set()
    for doc in manifest.documents:
        path = folder / doc.file
        data = _read(path)
        if len(data) != doc.size or hashlib.sha256(data).hexdigest() != doc.sha256:
            raise BackupError(f"{path} does not match manifest.json (size or SHA-256 differ)")
        if doc.name in seen:
            raise BackupError(f"manifest.json lists {doc.name!r} twice")
        seen.add(doc.name)
        items.append(_Item(_name(doc.name), checked(data, str(path))))
    for item in items:
        _plan(target, item, replace)
    conflicts = [item.name for item in items if item.action == "conflict"]
    if conflicts:
        shown = ", ".join(repr(n) for n in conflicts[:3]) + (", ..." if len(conflicts) > 3 else "")
        raise BackupError(
            f"{len(conflicts)} document(s) already exist on {target} and are not empty ({shown}):"
            " use --replace to overwrite them; nothing was imported"
        )
    todo = [item for item in items if item.action != "unchanged"]
    progress = Progress(len(todo), sys.stderr, enabled=not quiet and sys.stderr.isatty())
    try:
        if isinstance(target, DbWriter):
            with target.transaction():
                _apply_all(target, todo, replace, progress, quiet)
        else:
            _apply_all(target, todo, replace, progress, quiet)
    finally:
        progress.close()
    if not quiet:
        replaced = sum(item.action == "replace" for item in todo)
        print(
            f"imported {len(todo)} documents from {folder} into {target}"
            f" ({len(items) - len(todo)} unchanged, {replaced} replaced)",
            file=sys.stderr,
        )
    return 0


def _apply_all(
    target: Target, items: list[_Item], replace: bool, progress: Progress, quiet: bool
) -> None:
    for item in items:
        note = _apply(target, item, replace)
        if note and not quiet:
            progress.say(note)
        progress.step(item.name)
