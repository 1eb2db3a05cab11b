"""A key rotation and a clerk at work at the same moment, in two real processes.

`juki db rotate-key` runs in its own process over a register large enough that its one
transaction lasts a while. While it holds the links, a clerk proposes a number that is
already linked. The proposal must wait for the rotation and then compare under the new
key: refused as a duplicate. Sealed under the old key, its duplicate check would find
nothing and let the same number into the queue twice (what core.db's ``numbers`` lock
prevents on PostgreSQL; SQLite's one-writer-at-a-time gives it for free).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.actor import Actor
from core.db import Database
from core.errors import Refused
from core.sealed import Sealer
from core.settings import Settings
from logs.audit import events_after
from services.register.models import MyNumberLink
from services.register.seed import seed_register
from tests.factories import full_proposal, make_resident, staff

RESIDENTS = 12_000


def _rotation_holds_the_links(db: Database) -> bool:
    if db.is_sqlite:
        probe = sqlite3.connect(db.url.database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    # This test's own table (its schema is on the search path), in this database: another
    # test's my_number_link, locked by its own rotation or schema at the same moment on a
    # shared server, must not count as the rotation holding ours.
    with db.engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_locks l "
            "WHERE l.relation = 'my_number_link'::regclass "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.mode = 'AccessExclusiveLock' "
            "AND l.granted AND l.pid <> pg_backend_pid()")).scalar())


def test_a_proposal_made_during_a_rotation_waits_and_compares_under_the_new_key(
    db: Database, settings: Settings, juki_env: dict[str, str], tmp_path: Path,
) -> None:
    seed_register(db, Actor.cli(), residents=RESIDENTS, seed=7)
    people = staff(db, settings, ["clerk"])
    with db.read() as s:  # this process now holds the old key, as a running console does
        taken = s.exec(select(MyNumberLink.number).order_by(MyNumberLink.id)).first()
    assert taken
    newcomer = make_resident(db, family="新井", given="一郎")

    rotation = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "db", "rotate-key"], env=juki_env, cwd=tmp_path,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _rotation_holds_the_links(db):
            assert rotation.poll() is None, rotation.communicate()
            assert time.monotonic() < deadline, "the rotation never took the links"
            time.sleep(0.01)
        with pytest.raises(Refused, match="既に"):
            full_proposal(db, settings, people["clerk"], newcomer, taken, submit=False)
        out, err = rotation.communicate(timeout=120)
    finally:
        if rotation.poll() is None:
            rotation.kill()
    assert rotation.returncode == 0, out + err
    trail = [e for e in events_after(db, 0, 1_000_000)
             if e["action"] in ("db.rotate_key", "linkage.propose")]
    assert [(e["action"], e["outcome"]) for e in trail] == [
        ("db.rotate_key", "success"), ("linkage.propose", "refused")]
    # Nothing under the old key: every stored number opens with the key file now in place.
    new = Sealer(settings.resolved_identifier_key_file)
    with db.engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT number FROM my_number_link UNION ALL "
            "SELECT number FROM link_proposal WHERE number <> ''")).scalars().all()
    assert len(stored) > RESIDENTS // 2
    assert all(new.open(v) for v in stored)
