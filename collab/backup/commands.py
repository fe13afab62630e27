"""``collab export`` and ``collab import``: documents out of a server or database file, and back.

Every failure is one line on stderr (``collab: ...``) and a non-zero exit status (see
:mod:`collab.backup.errors`); files are written atomically (see :mod:`collab.backup.files`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from collab import export
from collab.backup.database import DbReader, DbWriter
from collab.backup.errors import EXIT_USAGE, BackupError, DocumentError, NotFound, NotYet
from collab.backup.files import Manifest, entry, file_name, write_atomic, write_manifest
from collab.backup.importing import import_all, import_one
from collab.backup.moments import iso, parse_moment
from collab.backup.progress import Progress
from collab.backup.remote import DEFAULT_SERVER, Remote

__all__ = ["run_export", "run_import", "server_of", "token_of"]

Source = Remote | DbReader


def _fail(exc: BackupError) -> int:
    print(f"collab: {exc}", file=sys.stderr, flush=True)
    return exc.status


def _usage(message: str) -> BackupError:
    return BackupError(message, EXIT_USAGE)


def server_of(args: argparse.Namespace) -> str:
    """The server URL: ``--server``, else ``COLLAB_SERVER``, else the default."""
    return str(args.server or os.environ.get("COLLAB_SERVER") or DEFAULT_SERVER)


def token_of(args: argparse.Namespace) -> str | None:
    """The bearer token: ``--token``, else ``COLLAB_TOKEN``, else none."""
    return args.token or os.environ.get("COLLAB_TOKEN") or None


@contextmanager
def _source(args: argparse.Namespace) -> Iterator[Source]:
    source: Source = DbReader(args.db) if args.db else Remote(server_of(args), token_of(args))
    try:
        yield source
    finally:
        source.close()


def _read(source: Source, name: str, at: float | None, version: int | None = None) -> bytes:
    if version is not None:
        return source.version(name, version)
    return source.state(name, at)


def _convert(state: bytes, name: str, fmt: str, args: argparse.Namespace) -> export.Rendered:
    try:
        return export.render(state, fmt, args.field, schema=args.schema, title=name)
    except export.ExportError as exc:
        raise DocumentError(f"cannot export {name!r} as {fmt}: {exc}") from None


def _warning(rendered: export.Rendered, name: str) -> str | None:
    return f"collab: warning: {name!r}: {rendered.warning}" if rendered.warning else None


def _format(args: argparse.Namespace) -> str:
    """``--format``, else the one whose extension ``--out`` has (single document), else yjs
    (to stdout or a folder); an ``--out`` file without a known extension is an error."""
    if args.format:
        return str(args.format)
    if args.out and not args.all:
        suffix = Path(args.out).suffix.lstrip(".").lower()
        for fmt, (_, extension) in export.FORMATS.items():
            if suffix == extension or (suffix == "markdown" and fmt == "markdown"):
                return fmt
        known = ", ".join(f"{fmt} (.{ext})" for fmt, (_, ext) in export.FORMATS.items())
        raise _usage(
            f"cannot tell the format of {args.out!r} from its extension: name a file ending"
            f" in one of the formats' extensions, or pass --format: {known}"
        )
    return "yjs"


def run_export(args: argparse.Namespace) -> int:
    """``collab export``: one document to a file or stdout, or every document to a folder."""
    try:
        if args.all == bool(args.name):
            raise _usage("give a document NAME or --all")
        if args.all and not args.out:
            raise _usage("--all needs --out DIR")
        at = parse_moment(args.at) if args.at is not None else None
        if args.version is not None and (args.all or at is not None):
            raise _usage("--version reads one version of one document: not with --all or --at")
        fmt = _format(args)
        with _source(args) as source:
            if args.all:
                return _export_all(source, Path(args.out), fmt, args, at)
            state = _read(source, args.name, at, args.version)
            rendered = _convert(state, args.name, fmt, args)
        body = rendered.body
        warning = _warning(rendered, args.name)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        if args.out:
            write_atomic(Path(args.out), body)
        else:
            _to_stdout(body, fmt)
        return 0
    except BackupError as exc:
        return _fail(exc)


def _to_stdout(body: bytes, fmt: str) -> None:
    out: IO[bytes] = sys.stdout.buffer
    if fmt == "yjs" and sys.stdout.isatty():
        raise BackupError("refusing to write binary Yjs data to a terminal: use --out FILE")
    try:
        out.write(body)
        out.flush()
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError as exc:
        raise BackupError(f"cannot write to stdout: {exc.strerror or exc}") from None


def _export_all(
    source: Source, folder: Path, fmt: str, args: argparse.Namespace, at: float | None
) -> int:
    started = time.time()
    documents = list(source.documents())  # before creating anything: the source works
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {folder}: {exc.strerror or exc}") from None
    progress = Progress(len(documents), sys.stderr, enabled=not args.quiet and sys.stderr.isatty())
    extension = export.FORMATS[fmt][1]
    taken = {"manifest.json"}
    entries, status = [], 0
    try:
        for info in documents:
            try:
                rendered = _convert(_read(source, info.name, at), info.name, fmt, args)
            except (NotFound, NotYet):
                progress.step(info.name)
                continue  # deleted since the listing, or created after --at
            except DocumentError as exc:
                progress.say(f"collab: {exc}")
                status = max(status, exc.status)
                progress.step(info.name)
                continue
            warning = _warning(rendered, info.name)
            if warning:
                progress.say(warning)
            body = rendered.body
            name = file_name(info.name, extension, taken)
            write_atomic(folder / name, body)
            updated = iso(info.updated_at) if info.updated_at is not None else None
            entries.append(entry(info.name, name, fmt, body, updated))
            progress.step(info.name)
    finally:
        progress.close()
    write_manifest(
        folder,
        Manifest(fmt, iso(started), str(source), iso(at) if at is not None else None, entries),
    )
    if not args.quiet:
        skipped = (
            f" ({len(documents) - len(entries)} skipped)" if len(entries) < len(documents) else ""
        )
        noun = "document" if len(entries) == 1 else "documents"
        print(f"exported {len(entries)} {noun} from {source} to {folder}{skipped}", file=sys.stderr)
    return status


def run_import(args: argparse.Namespace) -> int:
    """``collab import``: a Yjs update file as a document, or a whole ``export --all`` folder."""
    try:
        if args.all:
            if args.name or args.file:
                raise _usage("give NAME FILE or --all DIR, not both")
        elif not (args.name and args.file):
            raise _usage("give a document NAME and a FILE, or --all DIR")
        target = DbWriter(args.db) if args.db else Remote(server_of(args), token_of(args))
        try:
            if args.all:
                return import_all(target, Path(args.all), replace=args.replace, quiet=args.quiet)
            return import_one(
                target, args.name, Path(args.file), replace=args.replace, quiet=args.quiet
            )
        finally:
            target.close()
    except BackupError as exc:
        return _fail(exc)
