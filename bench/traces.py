"""Updates precomputed from the real editing traces in ``../shared/data`` (cached).

A trace is replayed into a pycrdt ``Doc`` with a chosen client id; every transaction gives one
Yjs v1 update, exactly as an editor would send it. For the latency and saturation streams a
delete-only transaction is folded into the next inserting one, so every update carries at least
one struct and can be recognised by the clock range it covers (:func:`bench.yproto.clock_ranges`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("COLLAB_BENCH_DATA", ROOT.parent / "shared" / "data"))
CACHE = ROOT / "bench" / "peers" / "cache"
TEXT_NAME = "text"
_FORMAT = 2  # bump when the cached layout changes


@dataclass
class Stream:
    """Precomputed updates of one writer.

    Attributes:
        client: the Yjs client id of every struct in ``updates``.
        updates: one Yjs v1 update per (possibly folded) transaction.
        ends: the writer's clock after each update (strictly increasing when folded).
        text: the text after the last update.
        state_vector: the encoded state vector after the last update.
        transactions: how many trace transactions the updates hold.
    """

    client: int
    updates: list[bytes]
    ends: list[int]
    text: str
    state_vector: bytes
    transactions: int


def trace_path(name: str) -> Path:
    return DATA / f"{name}.json.gz"


def _load_trace(name: str) -> dict:
    with gzip.open(trace_path(name), "rt", encoding="utf-8") as f:
        return json.load(f)


def _replay(txns: list[dict], start: str, client: int, fold: bool) -> Stream:
    from pycrdt import Doc, Text

    from bench.yproto import clock_ranges

    doc: Doc = Doc(client_id=client)
    text = doc.get(TEXT_NAME, type=Text)
    if start:
        text.insert(0, start)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    updates.clear()
    pending: list[list] = []
    count = 0
    for txn in txns:
        patches = txn["patches"]
        count += 1
        if fold and all(not p[2] for p in patches):
            pending.extend(patches)
            continue
        with doc.transaction():
            for pos, n_del, ins in (*pending, *patches):
                if n_del:
                    del text[pos : pos + n_del]
                if ins:
                    text.insert(pos, ins)
        pending = []
    ends = []
    clock = 0
    for update in updates:
        for c, _, end in clock_ranges(update):
            if c == client:
                clock = end
        ends.append(clock)
    from bench.yproto import decode_state_vector

    if decode_state_vector(doc.get_state()).get(client, 0) != clock:
        raise RuntimeError("update parser and pycrdt disagree on the final clock")
    return Stream(client, updates, ends, str(text), doc.get_state(), count)


def streams(
    trace: str, clients: list[int], limit: int | None = None, fold: bool = False
) -> list[Stream]:
    """The updates of ``trace`` (its first ``limit`` transactions), one stream per client id.

    Cached in ``bench/peers/cache`` (keyed by the trace file, the arguments and pycrdt's version).
    """
    import pycrdt

    src = trace_path(trace)
    stat = src.stat()
    key = json.dumps(
        [_FORMAT, trace, stat.st_size, int(stat.st_mtime), clients, limit, fold, pycrdt.__version__]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = CACHE / f"{trace}-{clients[0]}x{len(clients)}-{limit}-{int(fold)}-{digest}.pickle"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    data = _load_trace(trace)
    txns = data["txns"][:limit] if limit is not None else data["txns"]
    start = data.get("startContent", "")
    result = [_replay(txns, start, client, fold) for client in clients]
    if limit is None and result[0].text != data["endContent"]:
        raise RuntimeError(f"replaying {trace} does not give its endContent")
    cache_write(path, result)
    return result


def cache_write(path: Path, value: object) -> None:
    """Pickle ``value`` into the cache file ``path`` (written aside, then renamed: a run
    stopped meanwhile leaves no half file)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def stream(trace: str, client: int, limit: int | None = None, fold: bool = False) -> Stream:
    """The updates of ``trace`` (its first ``limit`` transactions) written by ``client``."""
    return streams(trace, [client], limit, fold)[0]
