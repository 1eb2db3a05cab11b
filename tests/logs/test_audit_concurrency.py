"""Many processes append to one trail at once and the chain stays whole.

Real processes (fresh interpreters, released at one moment by ``tests.procs.race``):
four writers append 500 events each while this process keeps verifying. Every check
must pass mid-stream, and at the end the trail holds seq 1..N without a gap, each
writer's events exactly once, and the JSON-lines copy the same events once each.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import events_after, last_seq, record_alone, verify
from tests.procs import race

WRITERS = 4
EACH = 500


WRITER = r"""
import json, sys
from pathlib import Path
from core.actor import Actor
from core.db import Database
from logs import stream
from logs.audit import record_alone
from tests.procs import on_your_marks

url, jsonl, index, each = sys.argv[1:5]
stream.configure(Path(jsonl))
db = Database(url)
actor = Actor(login=f"writer{index}", session_id=f"s{index}", client_addr="192.0.2.1")
on_your_marks()
for i in range(int(each)):
    record_alone(db, actor, "test.append", target=f"{index}:{i}", details={"i": i})
db.dispose()
print(json.dumps({"writer": int(index)}))
"""


@pytest.mark.slow
def test_four_processes_append_one_unbroken_chain(
    db: Database, settings: Settings, db_url: str, tmp_path: Path
) -> None:
    setup = Actor(login="setup")
    for i in range(3):
        record_alone(db, setup, "test.setup", target=str(i))
    before = last_seq(db)
    jsonl = settings.resolved_audit_jsonl
    assert jsonl is not None

    checks = 0

    def check() -> None:
        """Verify while the writers run: each check sees one consistent snapshot."""
        nonlocal checks
        result = verify(db)
        assert result.ok, result.reason
        checks += 1

    done = race(WRITER, [[db_url, str(jsonl), str(k), str(EACH)] for k in range(WRITERS)],
                tmp_path / "go", while_running=check)
    assert done == [{"writer": k} for k in range(WRITERS)]
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
