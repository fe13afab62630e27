"""Large documents built from the real editing traces, for the join storm and memory scenarios.

Replaying a trace costs seconds; a 20 MB document needs about ninety replays of the
automerge-paper trace (its final state encodes to about 220 KB). So the trace is replayed once
(:func:`bench.traces.stream`) and its final state is copied under other client ids: a Yjs v1
update of one client names that client only where a struct block starts, in origins and
right origins, and in the delete set, so rewriting those varUints gives the same editing
history written by another client. The copies are independent updates of one ``Y.Text``
(concurrent histories, each the real trace's structure of items and tombstones); together they
are the document. Each copy is sent as its own update message (under any server's message
size limit).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass

from bench.traces import CACHE, stream
from bench.yproto import _skip_any, _skip_string, read_var_uint, var_uint

FIRST_CLIENT = 10_000
"""Client id of the first copy; copy ``k`` is written by ``FIRST_CLIENT + k``."""


@dataclass
class BigDocument:
    """Copies of one trace's final state, each a standalone Yjs v1 update.

    Attributes:
        updates: one update per copy (client ``FIRST_CLIENT + offset + k``).
        state_vector: ``{client: clock}`` of the whole document.
        size: bytes of all copies together (the document's encoded size, about).
    """

    updates: list[bytes]
    state_vector: dict[int, int]
    size: int


def _client_spans(update: bytes) -> tuple[int, int, list[tuple[int, int]]]:
    """The one client of ``update``, its end clock, and the ``(start, end)`` byte spans of
    every varUint naming that client.

    Raises:
        ValueError: an update of several clients, or an item whose parent is not a root type.
    """
    spans: list[tuple[int, int]] = []
    n_clients, pos = read_var_uint(update, 0)
    if n_clients != 1:
        raise ValueError("expected the update of one client")
    n_structs, pos = read_var_uint(update, pos)
    start = pos
    client, pos = read_var_uint(update, pos)
    spans.append((start, pos))
    clock, pos = read_var_uint(update, pos)

    def id_at(p: int) -> int:
        begin = p
        who, p = read_var_uint(update, p)
        if who == client:
            spans.append((begin, p))
        _, p = read_var_uint(update, p)
        return p

    for _ in range(n_structs):
        info = update[pos]
        pos += 1
        ref = info & 0x1F
        if ref in (0, 10):  # GC or skip: a length
            length, pos = read_var_uint(update, pos)
            clock += length
            continue
        if info & 0x80:
            pos = id_at(pos)
        if info & 0x40:
            pos = id_at(pos)
        if not info & 0xC0:
            is_key, pos = read_var_uint(update, pos)
            pos = _skip_string(update, pos) if is_key == 1 else id_at(pos)  # root name or id
            if info & 0x20:
                pos = _skip_string(update, pos)
        if ref == 4:  # string: counted in UTF-16 code units
            n, pos = read_var_uint(update, pos)
            raw = update[pos : pos + n]
            text = raw.decode("utf-8", "surrogatepass")
            clock += len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
            pos += n
        elif ref == 1:  # deleted content: a length
            length, pos = read_var_uint(update, pos)
            clock += length
        elif ref == 8:  # Any values
            count, pos = read_var_uint(update, pos)
            for _ in range(count):
                pos = _skip_any(update, pos)
            clock += count
        elif ref == 6:  # format
            pos = _skip_string(update, _skip_string(update, pos))
            clock += 1
        else:
            raise ValueError(f"content ref {ref} is not expected in a text trace")
    n_ds, pos = read_var_uint(update, pos)
    for _ in range(n_ds):
        begin = pos
        who, pos = read_var_uint(update, pos)
        if who == client:
            spans.append((begin, pos))
        n_ranges, pos = read_var_uint(update, pos)
        for _ in range(2 * n_ranges):
            _, pos = read_var_uint(update, pos)
    if pos != len(update):
        raise ValueError("trailing bytes after the delete set")
    return client, clock, spans


def copies(base: bytes, clients: list[int]) -> list[bytes]:
    """``base`` (the update of one client) rewritten for each of ``clients``."""
    _, _, spans = _client_spans(base)
    pieces: list[bytes] = []
    last = 0
    for start, end in spans:
        pieces.append(base[last:start])
        last = end
    tail = base[last:]
    out = []
    for client in clients:
        name = var_uint(client)
        parts = [pieces[0]]
        for piece in pieces[1:]:
            parts += [name, piece]
        out.append(b"".join([*parts, name, tail]))
    return out


def base_update(trace: str, limit: int | None) -> bytes:
    """The final state of ``trace`` (its first ``limit`` transactions) written by client 1,
    as one Yjs v1 update (cached beside the trace's updates)."""
    import pycrdt

    key = f"{trace}-{limit}-{pycrdt.__version__}"
    path = CACHE / f"base-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pickle"
    if path.exists():
        with path.open("rb") as f:
            cached: bytes = pickle.load(f)
            return cached
    src = stream(trace, client=1, limit=limit)
    doc: pycrdt.Doc = pycrdt.Doc()
    for update in src.updates:
        doc.apply_update(update)
    state = doc.get_update()
    CACHE.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(state, f)
    return state


def build(trace: str, limit: int | None, target_bytes: int, offset: int = 0) -> BigDocument:
    """A document of at least ``target_bytes`` encoded: as many copies of the trace's final
    state as it takes (at least one), written by clients ``FIRST_CLIENT + offset + k``."""
    base = base_update(trace, limit)
    one = len(copies(base, [FIRST_CLIENT + offset])[0])  # client ids longer than 1's
    count = max(1, -(-target_bytes // one))
    clients = [FIRST_CLIENT + offset + k for k in range(count)]
    updates = copies(base, clients)
    _, end, _ = _client_spans(base)
    return BigDocument(updates, dict.fromkeys(clients, end), sum(map(len, updates)))
