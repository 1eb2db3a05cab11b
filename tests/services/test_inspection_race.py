"""Eight reviewers sign off one sheet at the same moment, each in a process of its own.

Each child signs in for real, then all call ``sign_off`` once at the same moment
(``tests.procs.race``). Exactly one sign-off stands; the others are refused (「既に…承認済み」),
each refusal recorded, the audit chain intact.
"""

from __future__ import annotations

import json
from pathlib import Path

from auth.signin import sign_in
from core.db import Database
from core.settings import Settings
from logs.audit import events_after, verify
from services.assessment import inspection
from tests.factories import ADMIN, PASSWORD, account
from tests.procs import race

N = 8

CHILD = r"""
import sys
from core.db import Database
from core.settings import Settings
from auth.signin import sign_in
from services.assessment.inspection import sign_off
from tests.procs import attempt, on_your_marks

url, login, password, sheet = sys.argv[1:5]
settings = Settings(database_url=url, audit_jsonl="-", argon2_profile="test")
db = Database(url)
ident = sign_in(db, settings, login, password, "192.0.2.30")
on_your_marks()
attempt(lambda: {"signed_by": sign_off(db, ident, int(sheet)).signed_by}, login=login)
"""


def test_eight_sign_offs_at_once_one_stands(db: Database, settings: Settings,
                                             tmp_path: Path) -> None:
    account(db, settings, "rev", ["reviewer"], name="回答者")
    for i in range(N):
        account(db, settings, f"sec{i}", ["security_officer"], name=f"確認者{i}",
                department="総務課")
    insp = inspection.start_inspection(db, settings, ADMIN, 2026, departments=["市民課"])
    sheet = insp.sheets[0].id
    rev = sign_in(db, settings, "rev", PASSWORD, "192.0.2.30")
    for item in insp.items:
        inspection.answer(db, rev, sheet, item.code, "実施", "記録あり")

    results = race(CHILD, [[settings.resolved_database_url, f"sec{i}", PASSWORD, str(sheet)]
                           for i in range(N)], tmp_path / "go")

    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1, results
    assert all(r["error"] == "Refused" and "承認済み" in r["message"] for r in losers), losers
    final = inspection.get_sheet(db, ADMIN, sheet)
    assert final.signed_by == winners[0]["login"]
    signed = [e for e in events_after(db, 0, 100_000) if e["action"] == "inspection.sign_off"]
    assert sorted(e["outcome"] for e in signed) == ["refused"] * (N - 1) + ["success"]
    assert all(json.loads(e["details"])["reason"] == "already_signed"
               for e in signed if e["outcome"] == "refused")
    assert verify(db).ok
