"""Yjs as the reference of what an update means: ``tests/e2e/node/yjs_apply.mjs`` in Node."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.e2e.nodepeer import NODE_DIR, ensure_node_modules


def yjs_apply(
    updates: list[bytes],
    *,
    base: list[bytes] = (),  # type: ignore[assignment]
    each: bool = False,
    texts: tuple[str, ...] = ("text",),
) -> list[dict[str, Any]]:
    """Apply ``updates`` in real Yjs (after ``base``): to one document in order, or with
    ``each`` to a fresh document each. Per result: ``error`` (what Yjs threw, or ``None``),
    ``state_vector`` ({client: clock}, keys as strings), ``pending``, ``texts`` and ``update``
    (``Y.encodeStateAsUpdate`` in hex, what waits included)."""
    ensure_node_modules()
    payload = {
        "base": [u.hex() for u in base],
        "updates": [u.hex() for u in updates],
        "texts": list(texts),
        "each": each,
    }
    proc = subprocess.run(
        ["node", "yjs_apply.mjs"],
        cwd=NODE_DIR,
        input=json.dumps(payload).encode(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    results: list[dict[str, Any]] = json.loads(proc.stdout)["results"]
    return results
