"""A short run of ``scripts/fuzz --editors`` (issue 19): hostile frames beside honest Yjs and
pycrdt editors in one room; at the end the server, every editor and a fresh Yjs client hold
the same document, the fresh client holds every honest edit, and SIGTERM stops the server
cleanly with the editors connected. (The script also bounds the unrelated room's relay
latency; a test never bounds wall-clock time, so here it is only reported.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz_editors import fuzz_with_editors

pytestmark = pytest.mark.e2e


async def test_honest_editors_converge_beside_the_fuzzer(
    tmp_path: Path, node_modules: None
) -> None:
    summary = await fuzz_with_editors(tmp_path, seconds=8, seed=19)
    print(summary)
    # How much happens in 8 s depends on the machine's load: the counts only show that each
    # part ran; the check is that every editor, the server and a fresh client agree.
    assert summary["frames"] > 100
    assert summary["honest_edits"] > 5
    assert not summary["divergence"], summary["text_lengths"]
    assert summary["honest_structs"] > 5
    assert summary["honest_structs_missing"] == 0, summary
    assert summary["sigterm_exit_status"] == 0, summary
    assert summary["other_room_relays"] > 0
