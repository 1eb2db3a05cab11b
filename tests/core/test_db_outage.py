"""An act meets a PostgreSQL server that stops: committed with its event, or not at all.

A server of the test's own (``private_pg``) is stopped for real: ``pg_ctl -m immediate``
is a crash, recovered from the WAL at the next start. The caller gets
``DatabaseUnreachable`` with its Japanese message (never the driver's error), and after
the restart every act in the database has its event and every event its act, the chain
verifies, and the same code acts again without a restart (docs/architecture.md §12).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from core.actor import Actor
from core.db import IN_DOUBT, UNREACHABLE, Database
from core.errors import DatabaseUnreachable
from logs.audit import events_after, verify
from services.assessment.incidents import add_incident
from tests.conftest import Juki
from tests.pgserver import PrivateServer
from tests.procs import ROOT, wait_for

ADD = "assess.incident.add"


@pytest.fixture
def db_url(private_pg_url: str) -> str:
    """``db``, ``settings`` and ``juki`` on the private server."""
    return private_pg_url


def add(db: Database, summary: str) -> int:
    return add_incident(db, Actor.cli(), occurred_on=date(2024, 4, 1), summary=summary,
                        serious=False).id


def acts_and_events(db: Database) -> tuple[set[int], set[int]]:
    """The incidents stored, and the incidents the trail says were added."""
    with db.read() as s:
        rows = {int(r) for r in s.connection().execute(
            text("SELECT id FROM assessment_incident")).scalars()}
    targets = {int(ev["target"].split(":")[1]) for ev in events_after(db, 0, 100_000)
               if ev["action"] == ADD and ev["outcome"] == "success"}
    return rows, targets


def test_a_server_gone_between_the_acts_statements_keeps_neither(
    db: Database, private_pg: PrivateServer,
) -> None:
    kept = add(db, "前")

    def crash_after_the_row(conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO assessment_incident"):
            private_pg.stop("immediate")  # the row is sent; its event will not be

    event.listen(db.engine, "after_cursor_execute", crash_after_the_row)
    try:
        with pytest.raises(DatabaseUnreachable) as cut:
            add(db, "途中で切断")
    finally:
        event.remove(db.engine, "after_cursor_execute", crash_after_the_row)
    assert cut.value.message == UNREACHABLE
    with pytest.raises(DatabaseUnreachable):  # while it is down, an act is refused at once
        add(db, "停止中")

    private_pg.start()
    again = add(db, "後")  # the same Database: no restart
    rows, targets = acts_and_events(db)
    assert rows == targets == {kept, again}
    assert verify(db).ok


STREAM = """
import json, os, sys, time
from datetime import date
from console.context import Context
from core.actor import Actor
from core.errors import JukiError
from services.assessment.incidents import add_incident

ctx = Context.from_env()
who = Actor(login="writer")
i = 0
while not os.path.exists(sys.argv[1]):
    i += 1
    try:
        got = add_incident(ctx.db, who, occurred_on=date(2024, 4, 1), summary=f"n{i}",
                           serious=False)
        line = {"ok": True, "id": got.id}
    except JukiError as exc:
        line = {"ok": False, "error": type(exc).__name__, "message": exc.message}
        time.sleep(0.05)
    print(json.dumps(line, ensure_ascii=False), flush=True)
"""


def _lines(path: Path) -> list[dict[str, Any]]:
    text_ = path.read_text("utf-8") if path.exists() else ""
    return [json.loads(x) for x in text_.splitlines() if x.endswith("}")]


@pytest.mark.slow
def test_a_stream_of_acts_across_a_crash_keeps_each_act_with_its_event(
    db: Database, juki: Juki, private_pg: PrivateServer, tmp_path: Path,
) -> None:
    out, done = tmp_path / "writer.out", tmp_path / "stop"
    with open(out, "w") as fh, open(tmp_path / "writer.err", "w") as err:
        writer = subprocess.Popen([sys.executable, "-c", STREAM, str(done)], stdout=fh,
                                  stderr=err, env=juki.env, cwd=ROOT)
    try:
        wait_for(lambda: sum(x["ok"] for x in _lines(out)) >= 20, 60, "20 acts")
        private_pg.stop("immediate")  # mid-stream: one act is somewhere between statements
        wait_for(lambda: not _lines(out)[-1]["ok"], 30, "the writer to meet the crash")
        private_pg.start()
        failed_at = len(_lines(out))
        wait_for(lambda: sum(x["ok"] for x in _lines(out)[failed_at:]) >= 20, 60,
                 "20 acts after the restart")
        done.touch()
        assert writer.wait(60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    said = _lines(out)
    errors = [x for x in said if not x["ok"]]
    assert errors and {x["error"] for x in errors} == {"DatabaseUnreachable"}
    assert {x["message"] for x in errors} <= {UNREACHABLE, IN_DOUBT}
    assert "Traceback" not in (tmp_path / "writer.err").read_text("utf-8")

    rows, targets = acts_and_events(db)
    assert rows == targets  # each act with its event, each event with its act
    ok = {x["id"] for x in said if x["ok"]}
    assert ok <= rows  # every act said done is there; an in-doubt one may be too
    assert len(rows - ok) <= sum(x["message"] == IN_DOUBT for x in errors)
    checked = juki("audit", "verify")  # the chain, the anchors, the JSON-lines copy
    assert checked.returncode == 0, checked.stdout + checked.stderr
