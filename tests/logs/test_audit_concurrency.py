"""Many processes append to one trail at once and the chain stays whole.

Real processes (the "spawn" start method, so nothing is inherited but the arguments):
four writers append 500 events each while this process keeps verifying. Every check
must pass mid-stream, and at the end the trail holds seq 1..N without a gap, each
writer's events exactly once, and the JSON-lines copy the same events once each.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from collections import Counter
from pathlib import Path

import pytest

from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import events_after, last_seq, record_alone, verify

WRITERS = 4
EACH = 500


def _writer(url: str, jsonl: str, index: int, barrier: object) -> None:
    """One writer process: the same public calls a console process makes."""
    from logs import stream

    stream.configure(Path(jsonl))
    db = Database(url)
    actor = Actor(login=f"writer{index}", session_id=f"s{index}", client_addr="192.0.2.1")
    barrier.wait(timeout=60)  # type: ignore[attr-defined]
    for i in range(EACH):
        record_alone(db, actor, "test.append", target=f"{index}:{i}", details={"i": i})
    db.dispose()


@pytest.mark.slow
def test_four_processes_append_one_unbroken_chain(
    db: Database, settings: Settings, db_url: str
) -> None:
    setup = Actor(login="setup")
    for i in range(3):
        record_alone(db, setup, "test.setup", target=str(i))
    before = last_seq(db)
    jsonl = settings.resolved_audit_jsonl
    assert jsonl is not None

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [
        ctx.Process(target=_writer, args=(db_url, str(jsonl), k, barrier))
        for k in range(WRITERS)
    ]
    for p in procs:
        p.start()
    checks = 0
    try:
        # Verify while the writers run: each check sees one consistent snapshot.
        while any(p.is_alive() for p in procs):
            result = verify(db)
            assert result.ok, result.reason
            checks += 1
    finally:
        for p in procs:
            p.join(timeout=120)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * WRITERS
    assert checks > 0

    result = verify(db)
    assert result.ok, result.reason
    assert result.count == before + WRITERS * EACH
    events = events_after(db, 0, 100_000)
    assert [e["seq"] for e in events] == list(range(1, result.count + 1))
    written = [e["target"] for e in events if e["action"] == "test.append"]
    assert sorted(written) == sorted(f"{k}:{i}" for k in range(WRITERS) for i in range(EACH))
    assert Counter(e["actor"] for e in events if e["action"] == "test.append") == {
        f"writer{k}": EACH for k in range(WRITERS)
    }

    # The shipped copy: whole lines only, every committed event once, none invented.
    lines = [json.loads(line) for line in jsonl.read_text("utf-8").splitlines()]
    by_seq = {e["seq"]: e["hash"] for e in events}
    assert Counter(x["seq"] for x in lines) == Counter(by_seq.keys())
    assert all(by_seq[x["seq"]] == x["hash"] for x in lines)
