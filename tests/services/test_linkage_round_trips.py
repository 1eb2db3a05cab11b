"""One press of 承認 or 却下 costs at most two database transactions and leaves one event.

The review screen shows the proposal again after a decision; the decision returns that
view, read inside its own transaction, so the press needs no second open (and no
``linkage.open`` event). The permission and step-up reads run inside the decision's
transaction too (``services.gate``). Counted with SQLAlchemy event listeners on the real
engine: "begin" for transactions, pool "checkout" for connections, and
"before_cursor_execute" for statements (printed, not pinned: the audit chain and the
backend's locking decide them).

Before the gate (main at e59a3c1) the press cost 7 transactions (the permission read, the
step-up read, the permission read again and the DV permission read, the decision, then
``open_proposal``: its permission read, the view's permission read, the view and the
``linkage.open`` event) and recorded 2 events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event

from core.db import Database
from core.settings import Settings
from logs.audit import events_after, last_seq
from services.linkage.decision import Decision, approve, reject
from tests.factories import full_proposal, make_resident, my_number, staff


@dataclass
class Count:
    transactions: int = 0
    connections: int = 0
    statements: int = 0


@contextmanager
def counted(db: Database) -> Iterator[Count]:
    """Count what the engine does inside the block."""
    n = Count()

    def began(_conn: Any) -> None:
        n.transactions += 1

    def checked_out(*_args: Any) -> None:
        n.connections += 1

    def executed(*_args: Any) -> None:
        n.statements += 1

    hooks: list[tuple[Any, str, Callable[..., None]]] = [
        (db.engine, "begin", began),
        (db.engine.pool, "checkout", checked_out),
        (db.engine, "before_cursor_execute", executed),
    ]
    for target, name, fn in hooks:
        event.listen(target, name, fn)
    try:
        yield n
    finally:
        for target, name, fn in hooks:
            event.remove(target, name, fn)


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_a_decision_press_costs_two_transactions_and_one_event(
    db: Database, settings: Settings, verdict: str, capsys: pytest.CaptureFixture[str],
) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    view = full_proposal(db, settings, people["clerk"], make_resident(db), my_number(2718281))
    since = last_seq(db)
    with counted(db) as n:
        if verdict == "approve":
            done: Decision = approve(db, people["rev1"], view.id, version=view.version,
                                     comment="照合済み", settings=settings)
        else:
            done = reject(db, people["rev1"], view.id, version=view.version,
                          comment="番号確認の書類が不足")
    after = events_after(db, since, 10)
    with capsys.disabled():
        print(f"\n{db.dialect} {verdict}: {n.transactions} transactions, "
              f"{n.connections} connections, {n.statements} statements, {len(after)} event")
    assert [(e["action"], e["outcome"]) for e in after] == [(f"linkage.{verdict}", "success")]
    assert n.transactions <= 2 and n.connections <= 2, n
    # The view the screen repaints: the decision's state, with this review in it.
    assert done.view.status == done.status == ("approved" if verdict == "approve"
                                               else "rejected")
    assert [(r.reviewer_login, r.verdict) for r in done.view.reviews] == [("rev1", verdict)]
    assert done.view.link_id == done.link_id
