"""Bad input to the linkage services and the 住基ネット query is refused AND recorded.

Nothing is saved or sent; the refused attempt leaves an event naming the field, never
the digits typed.
"""

from __future__ import annotations

import pytest

from core.db import Database
from core.errors import BadInput
from core.settings import Settings
from logs.audit import events_after, last_seq
from services.jukinet.client import query_jukinet
from services.linkage.acts import propose
from tests.factories import make_resident, staff


def test_a_bad_number_is_recorded_without_its_digits(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["clerk"])
    rid = make_resident(db)
    since = last_seq(db)
    with pytest.raises(BadInput, match="個人番号: 検査用数字"):
        propose(db, settings, people["clerk"], rid, number="123456789012")
    [ev] = events_after(db, since, 10)
    assert (ev["action"], ev["outcome"], ev["target"]) == (
        "linkage.propose", "refused", f"resident:{rid}")
    assert "検査用数字" in ev["details"] and "123456789012" not in ev["details"]


def test_an_unreadable_jukinet_query_is_recorded_and_nothing_sent(
    db: Database, settings: Settings
) -> None:
    people = staff(db, settings, ["clerk"])
    since = last_seq(db)
    with pytest.raises(BadInput, match="生年月日"):
        query_jukinet(db, settings, people["clerk"], name="山田 太郎", kana="ヤマダ タロウ",
                      birth="2099-01-01", sex="男", address="青葉県若葉市本町1-1")
    [ev] = events_after(db, since, 10)
    assert (ev["action"], ev["outcome"]) == ("jukinet.query", "refused")
    assert "bad_input" in ev["details"]
