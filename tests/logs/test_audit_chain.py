"""The audit trail's chain: what it records, that the act and its event commit together,
that the database refuses edits, and that ``verify`` (and ``juki audit verify``) names
the first event that no longer fits after someone edits the table behind our back.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from auth.models import User
from auth.roles import Perm
from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import (
    GENESIS,
    event_hash,
    events_after,
    last_seq,
    record,
    record_alone,
    verify,
)

CLERK = Actor(login="tanaka", user_id=7, session_id="s-1", client_addr="203.0.113.7")
HASHED = (
    "seq", "ts", "actor", "session_id", "client_addr", "action",
    "target", "purpose", "outcome", "severity", "details",
)


def _stream_lines(settings: Settings) -> list[dict]:
    path = settings.resolved_audit_jsonl
    assert path is not None
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _seed(db: Database, n: int) -> None:
    for i in range(1, n + 1):
        record_alone(db, CLERK, "register.lookup", target=f"resident:{i}", purpose="証明書交付")


def _new_user(login: str) -> User:
    return User(login=login, name="試験 太郎", password_hash="x", created_at=datetime.now(UTC))


# --- what an event holds and how it chains ----------------------------------------------


def test_events_chain_from_genesis_and_hash_as_documented(db: Database) -> None:
    record_alone(
        db, CLERK, "register.lookup", target="resident:42", purpose="住民票の写しの交付",
        details={"氏名": "髙橋 𠮷男", "hits": 2},
    )
    with db.write() as s:
        record(s, CLERK, "linkage.propose", target="resident:42", severity="warning")
        record(s, CLERK, "linkage.review", target="resident:42", outcome="refused")

    events = events_after(db, 0)
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert last_seq(db) == 3
    prev = GENESIS
    for ev in events:
        assert ev["prev_hash"] == prev
        # An outside verifier needs only this line: SHA-256 over the previous hash and
        # the compact JSON array of the fields, in the documented order.
        payload = json.dumps(
            [ev[k] for k in HASHED], ensure_ascii=False, separators=(",", ":")
        )
        assert hashlib.sha256((prev + payload).encode("utf-8")).hexdigest() == ev["hash"]
        prev = ev["hash"]
    first = events[0]
    assert (first["actor"], first["session_id"], first["client_addr"]) == (
        "tanaka", "s-1", "203.0.113.7",
    )
    assert json.loads(first["details"]) == {"hits": 2, "氏名": "髙橋 𠮷男"}
    assert events[1]["severity"] == "warning" and events[2]["outcome"] == "refused"
    assert verify(db).ok and verify(db).count == 3


def test_long_or_odd_text_is_stored_as_hashed(db: Database) -> None:
    """PostgreSQL refuses NUL and over-long varchar; the act must not fail for that."""
    event = record_alone(
        db, CLERK, "register.search", target="検索:" + "山" * 500, purpose="a\x00b",
    )
    stored = events_after(db, 0)[0]
    assert stored["target"] == event["target"] and len(stored["target"]) == 200
    assert "\x00" not in stored["purpose"]
    assert verify(db).ok


def test_enum_and_number_values_are_stored_as_the_text_that_was_hashed(db: Database) -> None:
    """Callers pass StrEnum members and ids; verify reads back text, so text is hashed."""

    class Outcome(StrEnum):
        REFUSED = "refused"

    record_alone(db, CLERK, Perm.LOOKUP, target=12345, outcome=Outcome.REFUSED)  # type: ignore[arg-type]
    stored = events_after(db, 0)[0]
    assert (stored["action"], stored["target"], stored["outcome"]) == (
        "register.lookup", "12345", "refused",
    )
    assert verify(db).ok


def test_unknown_outcome_is_refused_and_writes_nothing(db: Database) -> None:
    with pytest.raises(ValueError):
        record_alone(db, CLERK, "x", outcome="maybe")
    with pytest.raises(ValueError):
        record_alone(db, CLERK, "x", severity="apocalyptic")
    assert last_seq(db) == 0


# --- act and event together --------------------------------------------------------------


def test_failed_act_leaves_neither_change_nor_event(db: Database, settings: Settings) -> None:
    record_alone(db, CLERK, "before")
    with pytest.raises(RuntimeError), db.write() as s:
        s.add(_new_user("ghost"))
        s.flush()
        record(s, CLERK, "user.add", target="ghost")
        raise RuntimeError("the act fails after its event was written")
    with db.read() as s:
        assert s.exec(select(User).where(User.login == "ghost")).first() is None
    assert [e["action"] for e in events_after(db, 0)] == ["before"]
    assert last_seq(db) == 1
    assert [line["event"] for line in _stream_lines(settings)] == ["before"]
    # The chain continues from the surviving head.
    record_alone(db, CLERK, "after")
    assert verify(db).ok and verify(db).count == 2


def test_act_and_event_commit_together(db: Database) -> None:
    with db.write() as s:
        s.add(_new_user("sato"))
        record(s, CLERK, "user.add", target="sato")
    with db.read() as s:
        assert s.exec(select(User).where(User.login == "sato")).first() is not None
    assert [(e["action"], e["target"]) for e in events_after(db, 0)] == [("user.add", "sato")]


def test_record_alone_keeps_a_refusal_whose_act_rolled_back(db: Database) -> None:
    try:
        with db.write() as s:
            s.add(_new_user("sato"))
            s.flush()
            raise PermissionError("not allowed")
    except PermissionError:
        record_alone(db, CLERK, "user.add", target="sato", outcome="refused",
                     details={"reason": "not allowed"})
    events = events_after(db, 0)
    assert [(e["action"], e["outcome"]) for e in events] == [("user.add", "refused")]
    with db.read() as s:
        assert s.exec(select(User).where(User.login == "sato")).first() is None


def test_stream_carries_each_committed_event_once(db: Database, settings: Settings) -> None:
    record_alone(db, CLERK, "one")
    with db.write() as s:
        record(s, CLERK, "two")
        record(s, CLERK, "three")
    with pytest.raises(KeyError), db.write() as s:
        record(s, CLERK, "rolled-back")
        raise KeyError("boom")
    record_alone(db, CLERK, "four")

    lines = _stream_lines(settings)
    stored = events_after(db, 0)
    assert [(x["seq"], x["event"], x["hash"]) for x in lines] == [
        (e["seq"], e["action"], e["hash"]) for e in stored
    ]
    assert [x["event"] for x in lines] == ["one", "two", "three", "four"]
    assert lines[0]["client_addr"] == "203.0.113.7"


def test_savepoints_keep_stream_and_chain_in_step(db: Database, settings: Settings) -> None:
    """An event inside a rolled-back savepoint is gone from both; a released savepoint's
    event waits for the outer commit, and goes nowhere when the outer work rolls back."""
    with db.write() as s:
        record(s, CLERK, "outer")
        with pytest.raises(LookupError), s.begin_nested():
            record(s, CLERK, "inner-undone")
            raise LookupError("undo the savepoint")
        with s.begin_nested():
            record(s, CLERK, "inner-kept")
        assert _stream_lines(settings) == []  # nothing before the outer commit
    with pytest.raises(ArithmeticError), db.write() as s:
        with s.begin_nested():
            record(s, CLERK, "released-then-lost")
        raise ArithmeticError("the outer transaction fails")

    assert [e["action"] for e in events_after(db, 0)] == ["outer", "inner-kept"]
    assert [x["event"] for x in _stream_lines(settings)] == ["outer", "inner-kept"]
    assert verify(db).ok


# --- the database refuses edits ------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_event SET target = 'someone else' WHERE seq = 2",
     "DELETE FROM audit_event WHERE seq = 2"],
)
def test_update_and_delete_are_refused(db: Database, statement: str) -> None:
    _seed(db, 3)
    with pytest.raises(DBAPIError, match="append-only"), db.write() as s:
        s.exec(text(statement))
    assert [e["target"] for e in events_after(db, 0)] == [
        "resident:1", "resident:2", "resident:3",
    ]
    assert verify(db).ok


def test_truncate_is_refused_on_postgresql(db: Database, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _seed(db, 2)
    with pytest.raises(DBAPIError, match="append-only"), db.write() as s:
        s.exec(text("TRUNCATE audit_event"))
    assert verify(db).count == 2


# --- tampering behind the triggers' back ----------------------------------------------------


def _tamper(db: Database, db_url: str, *statements: str) -> None:
    """Edit the trail as an intruder with the database file or superuser rights would."""
    if db.is_sqlite:
        path = db.url.database
        assert path
        con = sqlite3.connect(path)
        con.execute("DROP TRIGGER audit_event_no_update")
        con.execute("DROP TRIGGER audit_event_no_delete")
        for sql in statements:
            con.execute(sql)
        con.commit()
        con.close()
        return
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_event_no_change ON audit_event")
        for sql in statements:
            conn.exec_driver_sql(sql)
    engine.dispose()


def _names(output: str, seq: int) -> bool:
    return re.search(rf"#{seq}(?!\d)", output) is not None


def _rehash(ev: dict, **changes: str) -> dict:
    """``ev`` edited and re-hashed the way an intruder who knows the format would."""
    edited = {**ev, **changes}
    edited["hash"] = event_hash(edited["prev_hash"], tuple(edited[k] for k in HASHED))
    return edited


def _changed_field(events: list[dict]) -> tuple[list[str], int]:
    return ["UPDATE audit_event SET target = 'resident:999' WHERE seq = 3"], 3


def _deleted_middle_row(events: list[dict]) -> tuple[list[str], int]:
    return ["DELETE FROM audit_event WHERE seq = 4"], 4


def _cut_tail(events: list[dict]) -> tuple[list[str], int]:
    return ["DELETE FROM audit_event WHERE seq >= 5"], 5


def _rehashed_row(events: list[dict]) -> tuple[list[str], int]:
    # #3 is edited and carries a correct hash of its new content; #4 no longer links.
    forged = _rehash(events[2], target="resident:999")
    return [
        f"UPDATE audit_event SET target = '{forged['target']}', hash = '{forged['hash']}'"
        " WHERE seq = 3"
    ], 4


CASES: dict[str, Callable[[list[dict]], tuple[list[str], int]]] = {
    "changed field": _changed_field,
    "deleted middle row": _deleted_middle_row,
    "cut tail": _cut_tail,
    "rehashed row": _rehashed_row,
}


@pytest.mark.parametrize("case", list(CASES))
def test_verify_names_the_first_event_that_does_not_fit(
    db: Database, db_url: str, juki: Callable, case: str
) -> None:
    _seed(db, 6)
    good = juki("audit", "verify")
    assert good.returncode == 0, good.stderr
    assert "6 件" in good.stdout  # the six events; then this verify recorded its own (#7)

    statements, bad = CASES[case](events_after(db, 0))
    _tamper(db, db_url, *statements)
    result = verify(db)
    assert not result.ok and result.bad_seq == bad, result

    cli = juki("audit", "verify")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert _names(cli.stdout, bad), cli.stdout
    assert "Traceback" not in cli.stdout + cli.stderr
    # The failed check is itself recorded, as a high-severity event.
    last = events_after(db, last_seq(db) - 1)[-1]
    assert (last["action"], last["outcome"], last["severity"]) == (
        "audit.verify", "failure", "high",
    )
    assert json.loads(last["details"])["bad_seq"] == bad


def test_verify_sees_a_well_forged_row_past_the_head(db: Database, db_url: str) -> None:
    """A correctly chained row inserted without moving the head: only the head shows it."""
    _seed(db, 4)
    tail = events_after(db, 0)[-1]
    forged = _rehash(
        {**tail, "seq": 5, "prev_hash": tail["hash"]}, action="register.lookup",
        target="resident:cover-story",
    )
    columns = ", ".join([*HASHED, "prev_hash", "hash"])
    values = ", ".join(
        str(forged[c]) if c == "seq" else "'" + str(forged[c]).replace("'", "''") + "'"
        for c in [*HASHED, "prev_hash", "hash"]
    )
    _tamper(db, db_url, f"INSERT INTO audit_event ({columns}) VALUES ({values})")
    result = verify(db)
    assert not result.ok and result.bad_seq == 5 and result.count == 5
    assert _names(result.reason, 5) and _names(result.reason, 4)


def test_verify_fails_when_the_head_row_is_gone(db: Database, db_url: str) -> None:
    _seed(db, 2)
    if db.is_sqlite:
        path = db.url.database
        assert path
        con = sqlite3.connect(path)
        con.execute("DELETE FROM audit_head")
        con.commit()
        con.close()
    else:
        engine = create_engine(db_url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_head")
        engine.dispose()
    result = verify(db)
    assert not result.ok and "audit_head" in result.reason


def test_sqlite_file_tamper_is_seen_through_the_cli(
    db: Database, db_url: str, juki: Callable, backend: str, tmp_path: Path
) -> None:
    """The issue's own recipe: the sqlite3 module, drop both triggers, edit #3's target."""
    if backend != "sqlite":
        pytest.skip("about the SQLite file")
    _seed(db, 5)
    con = sqlite3.connect(tmp_path / "juki.sqlite3")
    con.execute("DROP TRIGGER audit_event_no_update")
    con.execute("DROP TRIGGER audit_event_no_delete")
    con.execute("UPDATE audit_event SET target = 'resident:0' WHERE seq = 3")
    con.commit()
    con.close()
    result = juki("audit", "verify")
    assert result.returncode == 1
    assert "#3" in result.stdout and not _names(result.stdout, 4)


def test_a_closed_uncommitted_session_sends_nothing_later(
    db: Database, settings: Settings
) -> None:
    """Events of a session closed without commit never reach the stream, even if the
    same session object commits other work afterwards."""
    with db.write() as s:
        record(s, CLERK, "kept")
        s.commit()
        record(s, CLERK, "abandoned")
        s.close()
        record(s, CLERK, "after-reuse")
    assert [e["action"] for e in events_after(db, 0)] == ["kept", "after-reuse"]
    assert [x["event"] for x in _stream_lines(settings)] == ["kept", "after-reuse"]


def test_the_stream_file_is_owner_only(db: Database, settings: Settings) -> None:
    record_alone(db, CLERK, "one")
    path = settings.resolved_audit_jsonl
    assert path is not None
    assert path.stat().st_mode & 0o777 == 0o600
