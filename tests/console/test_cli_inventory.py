"""``juki access inventory start|list|close`` as the operator runs it: a real subprocess.

Exit 0 when done, 1 on a failed check (a campaign already open, closing before the
deadline or twice, an unknown campaign), 2 on bad input (a date that is not one, a
deadline already past, a missing option); never a traceback.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from auth.accounts import list_users
from auth.signin import sign_in
from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from services.jp import format_wareki, format_wareki_short
from services.personnel.inventory import campaign_lines, decide, office_day
from services.personnel.inventory_models import InventoryCampaign
from tests.conftest import Juki
from tests.factories import ADMIN, PASSWORD, account, staff_record


def _office(db: Database, settings: Settings) -> None:
    for login, roles, no in (("sato", ["clerk"], "1001"), ("suzuki", ["clerk"], "1002"),
                             ("sec", ["security_officer"], "3001"),
                             ("vendor", ["clerk"], "")):
        acc = account(db, settings, login, roles)
        if no:
            staff_record(db, no, acc.id, training_on=office_day())


def _roles(db: Database, login: str) -> tuple[str, ...]:
    return next(a.roles for a in list_users(db) if a.login == login)


def _clean(*results) -> None:  # type: ignore[no-untyped-def]
    for r in results:
        assert "Traceback" not in r.stderr, r.stderr


def test_start_list_close_with_exit_codes(db: Database, settings: Settings, juki: Juki) -> None:
    _office(db, settings)
    today = office_day()
    start = juki("access", "inventory", "start", "--deadline", format_wareki_short(today))
    assert start.returncode == 0, start.stderr
    assert "棚卸し #1 を開始しました" in start.stdout
    assert f"期限 {format_wareki(today)}" in start.stdout
    assert "アカウント 4 件、要確認 1 件" in start.stdout

    again = juki("access", "inventory", "start", "--deadline", today.isoformat())
    assert again.returncode == 1 and "棚卸し #1" in again.stderr and "実施中" in again.stderr

    listing = juki("access", "inventory", "list")
    assert listing.returncode == 0 and listing.stdout.startswith("#1\t実施中")

    lines = juki("access", "inventory", "list", "1")
    assert lines.returncode == 0
    body = lines.stdout.splitlines()[1:]
    assert [ln.split("\t")[1] for ln in body] == ["sato", "sec", "suzuki", "vendor"]
    flagged = juki("access", "inventory", "list", "1", "--flagged")
    rows = flagged.stdout.splitlines()[1:]
    assert len(rows) == 1 and rows[0].split("\t")[1] == "vendor"
    assert "職員ひも付きなし" in rows[0]

    sec = sign_in(db, settings, "sec", PASSWORD, "192.0.2.50")
    sato_line = next(ln for ln in campaign_lines(db, ADMIN, 1) if ln.login == "sato")
    decide(db, sec, sato_line.id, "keep")

    close = juki("access", "inventory", "close", "1")
    assert close.returncode == 0, close.stderr
    assert "継続 1" in close.stdout and "未判定 3" in close.stdout
    assert "権限はそのままです" in close.stdout
    reported = [ln.split("\t")[1] for ln in close.stdout.splitlines() if ln.startswith("#")]
    assert reported == ["sec", "suzuki", "vendor"]
    assert _roles(db, "suzuki") == ("clerk",)

    twice = juki("access", "inventory", "close", "1")
    assert twice.returncode == 1 and "締め済み" in twice.stderr
    missing = juki("access", "inventory", "list", "99")
    assert missing.returncode == 1 and "#99" in missing.stderr

    ops = [e for e in events_after(db, 0, 10_000) if e["action"].startswith("access.inventory")]
    assert [(e["action"], e["outcome"]) for e in ops if e["actor"].startswith("os:")] == [
        ("access.inventory.start", "success"), ("access.inventory.start", "refused"),
        ("access.inventory.close", "success"), ("access.inventory.close", "refused"),
    ]
    _clean(start, again, listing, lines, flagged, close, twice, missing)


def test_undecided_revoked_only_with_the_setting_and_not_before_the_deadline(
    db: Database, settings: Settings, juki: Juki
) -> None:
    _office(db, settings)
    today = office_day()
    early = juki("access", "inventory", "start", "--deadline",
                 format_wareki(today + timedelta(days=1)))
    assert early.returncode == 0, early.stderr
    refused = juki("access", "inventory", "close", "1")
    assert refused.returncode == 1 and "期限" in refused.stderr
    with db.write() as s:  # the deadline is reached (as if a day had passed)
        s.connection().execute(update(InventoryCampaign.__table__).values(  # type: ignore[attr-defined]
            deadline=today))
    strict = Juki(env={**juki.env, "JUKI_INVENTORY_REVOKE_UNDECIDED": "true"}, cwd=juki.cwd)
    close = strict("access", "inventory", "close", "1")
    assert close.returncode == 0, close.stderr
    assert "inventory_revoke_undecided により権限を削除しました（4 件）" in close.stdout
    assert all(_roles(db, login) == () for login in ("sato", "suzuki", "sec", "vendor"))
    ev = [e for e in events_after(db, 0, 10_000) if e["action"] == "access.inventory.close"]
    assert json.loads(ev[-1]["details"])["revoked_undecided"] == 4
    _clean(early, refused, close)


def test_bad_input_exits_2_and_writes_nothing(db: Database, settings: Settings,
                                              juki: Juki) -> None:
    _office(db, settings)
    past = office_day() - timedelta(days=1)
    results = [
        juki("access", "inventory", "start", "--deadline", "R8.13.1"),
        juki("access", "inventory", "start", "--deadline", "あした"),
        juki("access", "inventory", "start", "--deadline", past.isoformat()),
        juki("access", "inventory", "start"),
        juki("access", "inventory", "close"),
        juki("access", "inventory", "list", "abc"),
    ]
    assert [r.returncode for r in results] == [2] * 6, [r.stderr for r in results]
    assert "--deadline (期限)" in results[0].stderr
    assert "過ぎています" in results[2].stderr
    listing = juki("access", "inventory", "list")
    assert listing.returncode == 0 and listing.stdout == ""
    _clean(*results)
