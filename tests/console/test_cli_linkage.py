"""``juki linkage check`` as the operator runs it: a real subprocess, both backends.

Exit 0 when every active link is sound (the seeded links get their baseline on the first
run and say so), exit 1 listing each finding with the number masked when a bad link is
planted with SQL, exit 2 on a usage error; never a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from core.db import Database
from core.sealed import sealer_of
from services.register.models import MyNumberLink
from tests.factories import make_resident
from tests.services.linkage_setup import as_schema_owner, twelve_digit_runs

BAD = "983205673210"  # an invalid example of docs/domain.md §3.1


def test_check_exits_0_on_sound_links_and_1_on_a_planted_bad_one(
    db: Database, juki: Any
) -> None:
    empty = juki("linkage", "check")
    assert empty.returncode == 0, empty.stderr
    assert "有効な紐付け 0 件" in empty.stdout and "問題は見つかりませんでした" in empty.stdout

    seeded = juki("db", "seed", "--residents", "200", "--seed", "2")
    assert seeded.returncode == 0, seeded.stderr
    first = juki("linkage", "check")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "基準として記録しました" in first.stdout
    again = juki("linkage", "check")
    assert again.returncode == 0 and "基準として記録" not in again.stdout

    rid = make_resident(db, family="誤入", given="番号")
    with db.write() as s:
        s.add(MyNumberLink(resident_id=rid, number=BAD, last4=BAD[-4:],
                           linked_at=datetime(2017, 5, 1, tzinfo=UTC), source="初期移行"))
    found = juki("linkage", "check")
    assert found.returncode == 1, found.stdout + found.stderr
    lines = [ln for ln in found.stdout.splitlines() if ln.startswith("検査用数字の誤り")]
    assert len(lines) == 1 and "**** **** 3210" in lines[0] and f"住民 #{rid}" in lines[0]
    assert "問題が 1 件見つかりました" in found.stdout
    assert BAD not in found.stdout and twelve_digit_runs(found.stdout) == []
    assert "Traceback" not in found.stderr

    verify = juki("audit", "verify")
    assert verify.returncode == 0, verify.stdout


def test_check_names_an_active_link_without_a_decided_proposal(
    db: Database, juki: Any
) -> None:
    """A link written with the guard lifted (the schema's owner, by hand) is named on
    every run, never fingerprinted into the baseline as sound."""
    seeded = juki("db", "seed", "--residents", "50", "--seed", "3")
    assert seeded.returncode == 0, seeded.stderr
    rid = make_resident(db, family="無断", given="紐付")
    number = "123456789018"
    with as_schema_owner(db) as conn:
        conn.execute(text(
            "INSERT INTO my_number_link (resident_id, number, last4, linked_at, source, status,"
            " revoke_reason) VALUES (:r, :n, '9018', :t, '申請', 'active', '')"
        ), {"r": rid, "n": sealer_of(db.engine.dialect).seal(number),
            "t": datetime(2026, 4, 1, tzinfo=UTC)})
        link_id = conn.execute(text("SELECT max(id) FROM my_number_link")).scalar_one()
    for _run in range(2):
        found = juki("linkage", "check")
        assert found.returncode == 1, found.stdout + found.stderr
        lines = [ln for ln in found.stdout.splitlines() if ln.startswith("承認の記録なし")]
        assert len(lines) == 1, found.stdout
        assert f"紐付け #{link_id}" in lines[0] and f"住民 #{rid}" in lines[0]
        assert "**** **** 9018" in lines[0] and number not in found.stdout
        assert "問題が 1 件見つかりました" in found.stdout
        assert "Traceback" not in found.stderr


def test_check_without_a_subcommand_is_a_usage_error(juki: Any) -> None:
    done = juki("linkage")
    assert done.returncode == 2
    assert "入力が正しくありません" in done.stderr and "Traceback" not in done.stderr
