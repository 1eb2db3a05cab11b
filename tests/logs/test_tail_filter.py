"""The tail's 操作 filter matches any part of an action name, as staff remember it or
read it on the screen (where a long name is cut off), on both databases."""

from __future__ import annotations

import pytest

from core.actor import Actor
from core.db import Database
from logs.audit import record
from logs.tail import TailFilter, after, before

ACTIONS = ("register.reveal_my_number", "linkage.reveal_number", "register.search",
           "register.open", "linkage.approve", "register.reveal-my.number")


@pytest.fixture
def trail(db: Database) -> Database:
    with db.write() as s:
        for action in ACTIONS:
            record(s, Actor("clerk7", None, "sess", "192.0.2.7"), action, target="register")
    return db


@pytest.mark.parametrize(("typed", "expected"), [
    ("reveal", {"register.reveal_my_number", "linkage.reveal_number",
                "register.reveal-my.number"}),
    ("register.reveal_my_numbe", {"register.reveal_my_number"}),  # as the column cuts it
    ("REVEAL_MY", {"register.reveal_my_number"}),  # '_' is itself, not LIKE's any-one
    ("register", {a for a in ACTIONS if a.startswith("register")}),
    ("approve", {"linkage.approve"}),
    ("lookup", set()),
])
def test_a_part_of_the_name_finds_every_action_that_holds_it(
    trail: Database, typed: str, expected: set[str],
) -> None:
    flt = TailFilter(action=typed)
    newer, _ = after(trail, 0, 100, flt)
    older = before(trail, 10_000, 100, flt)
    assert {line.action for line in newer} == expected
    assert {line.action for line in older.lines} == expected
