"""The hold on the trail after a restore (docs/architecture.md §11; migration 0016).

A database restored from a backup ends where the backup ended; the events made after
it come back only with ``juki audit recover``, at their own numbers. An event recorded
in between would take the first lost number, its hash would disagree with the lost
event's anchors, and the tail could never come back. So ``juki db restore`` sets
``audit_head.held`` in the database it restored, and while it is set a trigger on
``audit_event`` refuses every INSERT — an act of any door, a raw statement alike; the
driver's error reaches the user as ``core.errors.TrailHeld``, in Japanese, with nothing
written. ``juki audit recover`` lifts it in the transaction that appends the lost tail
(or, when nothing was lost, on its own), before its own ``audit.recover`` event.

The append is unchanged: the trigger makes the check where the event is inserted, so a
held trail costs no extra round trip. A database older than migration 0016 (a restore of
an old backup, before ``juki db init`` upgrades it) has no hold: ``state`` says None.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from core.db import Database

_SELECT = "SELECT held FROM audit_head WHERE id = 1"


def state(db: Database) -> bool | None:
    """Whether the trail is held; None for a database without the hold (before 0016)
    or without a head. On a connection of its own: a failed query aborts nothing."""
    try:
        with db.engine.connect() as conn:
            row = conn.exec_driver_sql(_SELECT).first()
    except DBAPIError:
        return None
    return None if row is None else bool(row[0])


def hold(db: Database) -> bool:
    """Set the hold (``juki db restore``); False when this database has none to set."""
    if state(db) is None:
        return False
    with db.transaction() as conn:
        conn.exec_driver_sql("UPDATE audit_head SET held = TRUE WHERE id = 1")
    return True


def lift(conn: Connection) -> None:
    """Lift the hold inside the caller's write transaction (``logs.recover``), before
    the events it appends: the trigger reads this transaction's own update."""
    conn.exec_driver_sql("UPDATE audit_head SET held = FALSE WHERE id = 1")
