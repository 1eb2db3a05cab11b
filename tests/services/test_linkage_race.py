"""Twenty reviewers decide one proposal at the same moment, each in a process of its own.

Each child signs in for real, then all call ``approve`` (or ``reject``) once at the same
moment (``tests.procs.race``). Exactly one decision must stand — one link or one
rejection — and the others get the clear refusal 「この申請は既に処理されています」,
each recorded, with the audit chain intact. With a threshold of 2 the first two
approvals count (one recorded, one deciding) and the other 18 are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from core.db import Database
from core.settings import Settings
from logs.audit import events_after, verify
from services.linkage.models import LinkReview
from services.linkage.queue import open_proposal
from services.register.models import MyNumberLink
from tests.factories import PASSWORD, enrol, full_proposal, make_resident, my_number
from tests.procs import child_env, race

N = 20

CHILD = r"""
import os, sys
from pathlib import Path
from core.db import Database
from core.settings import Settings
from auth.signin import sign_in
from services.linkage.decision import approve, reject
from tests.procs import attempt, on_your_marks

url, login, password, pid, version, verdict = sys.argv[1:7]
settings = Settings(database_url=url, audit_jsonl="-", argon2_profile="test")
db = Database(url, key_file=Path(os.environ["RACE_KEY_FILE"]))
ident = sign_in(db, settings, login, password, "192.0.2.20")
on_your_marks()

def act():
    if verdict == "approve":
        d = approve(db, ident, int(pid), version=int(version), comment="確認済み")
    else:
        d = reject(db, ident, int(pid), version=int(version), comment="書類不備")
    return {"decided": d.decided, "status": d.status}

attempt(act, login=login)
"""


def _race(
    db: Database, settings: Settings, tmp_path: Path, verdicts: list[str]
) -> tuple[int, list[dict]]:
    clerk = enrol(db, settings, "clerk", ["clerk"])
    for i in range(N):
        enrol(db, settings, f"rev{i:02d}", ["reviewer"])
    rid = make_resident(db)
    view = full_proposal(db, settings, clerk, rid, my_number(70000000007))
    # the same key as this process
    env = child_env(RACE_KEY_FILE=str(settings.resolved_identifier_key_file))
    return view.id, race(CHILD, [
        [settings.resolved_database_url, f"rev{i:02d}", PASSWORD, str(view.id),
         str(view.version), verdicts[i]] for i in range(N)
    ], tmp_path / "go", env=env)


@pytest.mark.parametrize("mixed", [False, True], ids=["all-approve", "approve-and-reject"])
def test_twenty_reviewers_at_once_make_one_decision(
    db: Database, settings: Settings, tmp_path: Path, mixed: bool
) -> None:
    verdicts = [("reject" if mixed and i % 2 else "approve") for i in range(N)]
    pid, results = _race(db, settings, tmp_path, verdicts)
    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1 and winners[0]["decided"], results
    assert len(losers) == N - 1
    assert all(r["error"] == "Refused" for r in losers), losers
    assert all("この申請は既に処理されています" in r["message"] for r in losers), losers

    rev = enrol(db, settings, "rev-after", ["reviewer"])
    final = open_proposal(db, rev, pid)
    assert final.status == winners[0]["status"]
    assert [r.reviewer_login for r in final.reviews] == [winners[0]["login"]]
    with db.read() as s:
        links = s.exec(select(func.count()).select_from(MyNumberLink)).one()
    assert links == (1 if final.status == "approved" else 0)

    decided = [e for e in events_after(db, 0, 100_000)
               if e["action"] in ("linkage.approve", "linkage.reject")]
    assert sorted(e["outcome"] for e in decided) == ["refused"] * (N - 1) + ["success"]
    assert all(json.loads(e["details"])["reason"] == "already_decided"
               for e in decided if e["outcome"] == "refused")
    result = verify(db)
    assert result.ok, result.reason


def test_at_threshold_two_twenty_at_once_count_two_and_refuse_the_rest(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.with_(linkage_approvals=2)
    pid, results = _race(db, settings, tmp_path, ["approve"] * N)
    winners = [r for r in results if r["ok"]]
    assert sorted((r["decided"], r["status"]) for r in winners) == [
        (False, "pending"), (True, "approved")], results
    losers = [r for r in results if not r["ok"]]
    assert len(losers) == N - 2
    assert all("この申請は既に処理されています" in r["message"] for r in losers), losers
    with db.read() as s:
        reviews = s.exec(select(func.count()).select_from(LinkReview).where(
            LinkReview.proposal_id == pid)).one()
        links = s.exec(select(func.count()).select_from(MyNumberLink)).one()
    assert reviews == 2 and links == 1
    assert verify(db).ok
