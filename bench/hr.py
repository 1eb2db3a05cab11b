"""A round of personnel changes (異動処理): 2,000 changes over 5,000 staff, imported, computed,
applied where due and reported (PDF and CSV), beside a naive per-row peer on the same data.

Set-up (not timed, printed): a fresh database (a SQLite file; a scratch PostgreSQL schema
when ``JUKI_TEST_POSTGRES_URL`` answers, default postgresql+psycopg://postgres@127.0.0.1:5432/test),
accounts for about 60 % of the staff inserted directly (one password hash computed once,
roles from the role policy), then the staff registry through ``import_staff`` (the
registry's own door, linking the accounts by ログイン名). The change file mixes every
異動区分: 採用, 転入, 転出, 退職, 休職, 復職, people who move out and come back within the
round, people on leave who return within it; 発令日 on the import day (due at once) and
two later days. Same seed, same file on every backend.

What is timed (the target applies to the sum):

* **import** — ``import_round(..., today=発令日 of the first day)``: decode and check the
  whole file, check every row against the registry and the policy, plan the rights
  changes, write the round and the ``hr.import`` event in one transaction, then
  ``apply_due`` (revocations and disablings due that day, with their audit events and
  the ending of the people's sessions);
* **PDF** and **CSV** — ``export_round_report`` of the round (A4 PDF with the embedded
  font; CSV with BOM), each written 0600 and recorded with its SHA-256.

The peer does the same computation the naive way, on a second fresh database with the
same staff and accounts: one SELECT per person for the staff row, one for the account,
one for its roles; each person's rows planned by the same pure rule (``plan_round`` on a
one-person snapshot); every personnel-change row and every rights change inserted in a
transaction (commit) of its own; then each due row applied in its own transaction
(SELECT, UPDATE, DELETE, audit event, commit). Its rights changes are compared with the
design's, so both did the same work. The peer does not write reports.

    python bench/hr.py [--quick] [--staff 5000] [--changes 2000] [--no-postgres]

``--quick``: 1,000 staff and 300 changes, under a minute. Target: import + PDF + CSV
< 10 s at 2,000 changes over 5,000 staff, on each backend. Last stdout line: one JSON
object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, insert, select, update  # noqa: E402

from auth.models import User, UserRole  # noqa: E402
from auth.passwords import hash_password  # noqa: E402
from bench._db import postgres_db, postgres_reachable, sqlite_db  # noqa: E402
from core.actor import Actor  # noqa: E402
from core.clock import now  # noqa: E402
from core.db import Database  # noqa: E402
from core.settings import Settings  # noqa: E402
from logs import stream  # noqa: E402
from logs.audit import record  # noqa: E402
from services.personnel.apply import end_sessions  # noqa: E402
from services.personnel.changefile import read_changes  # noqa: E402
from services.personnel.compute import Person, plan_round  # noqa: E402
from services.personnel.models import (  # noqa: E402
    APPLIED,
    AUTOMATIC,
    PENDING,
    REVOKE,
    ChangeRound,
    PersonnelChange,
    RightsChange,
    Staff,
)
from services.personnel.policy import RolePolicy, load_policy  # noqa: E402
from services.personnel.report import export_round_report  # noqa: E402
from services.personnel.rounds import import_round  # noqa: E402
from services.personnel.staff import import_staff  # noqa: E402

TARGET_S = 10.0
ACTOR = Actor(login="bench:hr")
DAY0, DAY1, DAY2 = date(2026, 4, 1), date(2026, 4, 15), date(2026, 5, 1)

# 所属 → (職, weight). The first three carry roles in the default policy; the rest none.
DEPTS: dict[str, tuple[tuple[str, ...], float]] = {
    "市民課": (("係員", "係員", "係員", "主任", "会計年度任用職員", "係長", "課長補佐", "課長"),
               0.40),
    "情報政策課": (("主事", "主査", "課長"), 0.08),
    "監査委員事務局": (("主事", "主査"), 0.04),
    "税務課": (("主事", "係長"), 0.18),
    "福祉課": (("主事", "係長"), 0.16),
    "総務課": (("主事", "主査"), 0.14),
}
ROLE_DEPTS = ("市民課", "情報政策課", "監査委員事務局")
NO_ROLE_DEPTS = ("税務課", "福祉課", "総務課")
FAMILY = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
          "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "髙橋")
GIVEN = ("一郎", "花子", "太郎", "美咲", "健", "陽子", "大輔", "直子", "翔太", "由美",
         "誠", "恵", "拓也", "彩", "浩", "智子")


@dataclass
class Member:
    no: str
    name: str
    dept: str
    post: str
    status: str
    login: str  # "" without an account


def _dept(rng: random.Random, only: tuple[str, ...] | None = None) -> tuple[str, str]:
    names = list(only or DEPTS)
    dept = rng.choices(names, weights=[DEPTS[d][1] for d in names])[0]
    return dept, rng.choice(DEPTS[dept][0])


def build_staff(n: int, seed: int = 1) -> list[Member]:
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        dept, post = _dept(rng)
        status = "休職" if rng.random() < 0.06 else "在職"
        login = f"u{i:05d}" if rng.random() < 0.60 else ""
        out.append(Member(f"S{i:05d}", f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}",
                          dept, post, status, login))
    return out


def staff_csv(members: list[Member]) -> bytes:
    lines = ["職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日,ログイン名"]
    for m in members:
        employment = "会計年度任用" if m.post == "会計年度任用職員" else "正規"
        lines.append(f"{m.no},{m.name},ショクイン,{m.dept},{m.post},{employment},,{m.status},"
                     f"2026-01-10,{m.login}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def build_changes(members: list[Member], rows: int, seed: int = 2) -> tuple[bytes, Counter[str]]:
    """A change file of ``rows`` rows: every 異動区分, pairs out-and-back and leave-return."""
    rng = random.Random(seed)
    active = [m for m in members if m.status == "在職"]
    on_leave = [m for m in members if m.status == "休職"]
    rng.shuffle(active)
    rng.shuffle(on_leave)
    out: list[tuple[date, str, str, str, str, str, str, str]] = []
    stories: Counter[str] = Counter()

    def day() -> date:
        return rng.choices((DAY0, DAY1, DAY2), weights=(0.7, 0.2, 0.1))[0]

    plan = [("out_and_back", 0.10), ("leave_return", 0.04), ("採用", 0.12), ("転入", 0.20),
            ("転出", 0.16), ("退職", 0.14), ("休職", 0.10), ("復職", 0.14)]
    hires = 0
    while len(out) < rows:
        story = rng.choices([p for p, _ in plan], weights=[w for _, w in plan])[0]
        pair = story in ("out_and_back", "leave_return")
        if pair and len(out) + 2 > rows:
            continue
        if story == "採用":
            hires += 1
            dept, post = _dept(rng, ROLE_DEPTS)
            name = f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}"
            out.append((day(), f"N{hires:05d}", name, "採用", "", dept, "", post))
        elif story == "復職":
            if not on_leave:
                continue
            m = on_leave.pop()
            dept, post = _dept(rng, ROLE_DEPTS) if rng.random() < 0.5 else ("", "")
            out.append((day(), m.no, m.name, "復職", m.dept, dept, m.post, post))
        else:
            if not active:
                raise SystemExit("bench: too few active staff for the change file")
            m = active.pop()
            if story == "転入":
                dept, post = _dept(rng, ROLE_DEPTS)
                out.append((day(), m.no, m.name, "転入", m.dept, dept, m.post, post))
            elif story == "転出":
                dept, post = _dept(rng, NO_ROLE_DEPTS)
                out.append((day(), m.no, m.name, "転出", m.dept, dept, m.post, post))
            elif story in ("退職", "休職"):
                out.append((day(), m.no, m.name, story, m.dept, "", m.post, ""))
            elif story == "out_and_back":
                dept, post = _dept(rng, NO_ROLE_DEPTS)
                back, back_post = _dept(rng, ROLE_DEPTS)
                out.append((DAY0, m.no, m.name, "転出", m.dept, dept, m.post, post))
                out.append((DAY1, m.no, m.name, "転入", dept, back, post, back_post))
            else:  # leave_return
                out.append((DAY0, m.no, m.name, "休職", m.dept, "", m.post, ""))
                out.append((DAY2, m.no, m.name, "復職", m.dept, "", m.post, ""))
        stories[story] += 1
    rng.shuffle(out)  # the file's order is not the person's order
    lines = ["発令日,職員番号,氏名,異動区分,旧所属,新所属,旧職,新職"]
    lines += [",".join([d.isoformat(), *rest]) for d, *rest in out]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8"), stories


# --- databases ----------------------------------------------------------------------


def populate(db: Database, members: list[Member], policy: RolePolicy, pw_hash: str) -> float:
    """Accounts inserted directly (one hash for all), then the registry via import_staff."""
    started = time.perf_counter()
    stamp = now()
    with db.write() as s:
        conn = s.connection()
        users = [m for m in members if m.login]
        conn.execute(insert(User.__table__), [  # type: ignore[attr-defined]
            {"login": m.login, "name": m.name, "department": m.dept, "password_hash": pw_hash,
             "disabled": m.status != "在職", "failed_count": 0, "locked_until": None,
             "created_at": stamp, "last_signin_at": None} for m in users
        ])
        ids = dict(conn.execute(select(User.__table__.c.login,  # type: ignore[attr-defined]
                                       User.__table__.c.id)).all())  # type: ignore[attr-defined]
        roles = [{"user_id": ids[m.login], "role": role} for m in users if m.status == "在職"
                 for role in sorted(policy.roles_for(m.dept, m.post))]
        if roles:
            conn.execute(insert(UserRole.__table__), roles)  # type: ignore[attr-defined]
    import_staff(db, ACTOR, name="staff.csv", data=staff_csv(members))
    return time.perf_counter() - started


def rights_signature(db: Database, round_id: int) -> Counter[tuple[str, str, str, str]]:
    rc = RightsChange.__table__.c  # type: ignore[attr-defined]
    with db.read() as s:
        rows = s.connection().execute(
            select(rc.staff_no, rc.effective_on, rc.action, rc.role, rc.state)
            .where(rc.round_id == round_id)).all()
    return Counter((r.staff_no, r.effective_on.isoformat(), r.action, f"{r.role}/{r.state}")
                   for r in rows)


# --- the design ---------------------------------------------------------------------


def run_design(db: Database, settings: Settings, data: bytes, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    done = import_round(db, settings, ACTOR, name="idou.csv", data=data, today=DAY0)
    t1 = time.perf_counter()
    pdf = export_round_report(db, settings, ACTOR, done.round_id, "pdf", path=out / "r.pdf")
    t2 = time.perf_counter()
    csv_ = export_round_report(db, settings, ACTOR, done.round_id, "csv", path=out / "r.csv")
    t3 = time.perf_counter()
    pages = (out / "r.pdf").read_bytes().count(b"/Type /Page\n") or None
    return {
        "round_id": done.round_id, "rows": done.rows, "people": done.people,
        "revokes": done.revokes, "grants": done.grants, "applied_now": done.applied_now,
        "import_s": t1 - t0, "pdf_s": t2 - t1, "csv_s": t3 - t2, "total_s": t3 - t0,
        "report_rows": pdf.rows, "pdf_bytes": (out / "r.pdf").stat().st_size,
        "pdf_pages": pages, "csv_rows": csv_.rows,
    }


# --- the naive peer -----------------------------------------------------------------


def run_peer(db: Database, settings: Settings, data: bytes) -> dict[str, Any]:
    """Same computation: per-person lookups, per-row transactions; see the module docstring."""
    S, U, UR = (Staff.__table__.c, User.__table__.c,  # type: ignore[attr-defined]
                UserRole.__table__.c)  # type: ignore[attr-defined]
    PC, RC = PersonnelChange.__table__, RightsChange.__table__  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    policy = load_policy(settings)
    changes = read_changes(data)
    days = [r.effective_on for r in changes.rows]
    with db.write() as s:
        rnd = ChangeRound(source_name="idou.csv", sha256=hashlib.sha256(data).hexdigest(),
                          encoding=changes.encoding, rows=len(changes.rows), first_on=min(days),
                          last_on=max(days), imported_by=ACTOR.login, imported_at=now())
        s.add(rnd)
        s.flush()
        round_id = rnd.id
    ordered = sorted(changes.rows, key=lambda r: (r.staff_no, r.effective_on, r.line_no))
    statements = commits = 1
    planned = 0
    for staff_no, group in groupby(ordered, key=lambda r: r.staff_no):
        mine = list(group)
        with db.read() as s:  # the person, their account, its roles: a query each
            conn = s.connection()
            st = conn.execute(select(Staff.__table__).where(  # type: ignore[attr-defined]
                S.staff_no == staff_no)).mappings().first()
            user = conn.execute(select(User.__table__).where(  # type: ignore[attr-defined]
                U.id == st["user_id"])).mappings().first() if st and st["user_id"] else None
            roles = frozenset(conn.execute(select(UR.role).where(
                UR.user_id == user["id"])).scalars()) if user else frozenset()
            statements += 1 + (1 if st and st["user_id"] else 0) + (1 if user else 0)
        snapshot = {} if st is None else {staff_no: Person(
            staff_no, st["name"], st["department"], st["post"], st["status"],
            has_account=user is not None, account_enabled=bool(user and not user["disabled"]),
            roles=roles)}
        plan = plan_round(mine, snapshot, policy)
        if plan.problems:
            raise SystemExit(f"peer: {plan.problems[:3]}")
        ids: dict[int, int] = {}
        for r in mine:
            with db.write() as s:
                ids[r.line_no] = s.connection().execute(insert(PC).values(
                    round_id=round_id, line_no=r.line_no, effective_on=r.effective_on,
                    staff_no=r.staff_no, name=r.name, kind=r.kind,
                    old_department=r.old_department, new_department=r.new_department,
                    old_post=r.old_post, new_post=r.new_post, applied_at=None,
                ).returning(PC.c.id)).scalar_one()
            statements += 1
            commits += 1
        for c in plan.changes:
            with db.write() as s:
                s.connection().execute(insert(RC).values(
                    round_id=round_id, change_id=ids[c.line_no], staff_no=c.staff_no,
                    name=c.name, effective_on=c.effective_on, action=c.action, role=c.role,
                    reason=c.reason, state=PENDING, applied_by="", applied_user=None,
                    applied_at=None, note="", verdict="", confirmed_by="",
                    confirmed_user=None, confirmed_at=None, comment=""))
            statements += 1
            commits += 1
            planned += 1
    with db.write() as s:
        record(s, ACTOR, "hr.import", target=f"round:{round_id}", details={"peer": True})
    commits += 1
    t1 = time.perf_counter()
    # apply what is due, one row per transaction
    with db.read() as s:
        due_rows = s.connection().execute(select(PC.c.id).where(
            PC.c.round_id == round_id, PC.c.effective_on <= DAY0).order_by(
            PC.c.effective_on, PC.c.line_no)).scalars().all()
        due_rights = s.connection().execute(select(RC.c.id).where(
            RC.c.round_id == round_id, RC.c.state == PENDING, RC.c.action.in_(AUTOMATIC),
            RC.c.effective_on <= DAY0).order_by(RC.c.effective_on, RC.c.id)).scalars().all()
    statements += 2
    for pid in due_rows:
        with db.write() as s:
            conn = s.connection()
            r = conn.execute(select(PC).where(PC.c.id == pid)).mappings().one()
            conn.execute(update(PC).where(PC.c.id == pid).values(applied_at=now()))
            conn.execute(update(Staff.__table__).where(  # type: ignore[attr-defined]
                S.staff_no == r["staff_no"]).values(
                    department=r["new_department"] or S.department,
                    post=r["new_post"] or S.post, updated_at=now()))
        statements += 3
        commits += 1
    applied = 0
    for rid in due_rights:
        with db.write() as s:
            conn = s.connection()
            line = conn.execute(select(RC).where(RC.c.id == rid)).mappings().one()
            st = conn.execute(select(S.user_id).where(S.staff_no == line["staff_no"])).first()
            user_id = st.user_id if st else None
            conn.execute(update(RC).where(RC.c.id == rid, RC.c.state == PENDING).values(
                state=APPLIED, applied_by=ACTOR.login, applied_at=now(),
                note="" if user_id else "アカウントなし"))
            statements += 3
            if user_id is not None:
                if line["action"] == REVOKE:
                    conn.execute(delete(UserRole.__table__).where(  # type: ignore[attr-defined]
                        UR.user_id == user_id, UR.role == line["role"]))
                else:
                    conn.execute(update(User.__table__).where(  # type: ignore[attr-defined]
                        U.id == user_id).values(disabled=True))
                end_sessions(conn, user_id, "revoked")
                statements += 2
            record(s, ACTOR, f"access.{line['action']}", target=line["staff_no"],
                   details={"line": rid, "round": round_id})
            statements += 1
        commits += 1
        applied += 1
    t2 = time.perf_counter()
    return {"round_id": round_id, "plan_write_s": t1 - t0, "apply_s": t2 - t1,
            "total_s": t2 - t0, "rights": planned, "applied_now": applied,
            "statements": statements, "commits": commits}


# --- main ---------------------------------------------------------------------------


def bench_backend(label: str, make_db: Any, settings: Settings, members: list[Member],
                  policy: RolePolicy, pw_hash: str, data: bytes, out: Path,
                  peer: bool) -> dict[str, Any]:
    print(f"{label}:")
    with make_db("design") as db:
        setup_s = populate(db, members, policy, pw_hash)
        print(f"  set-up (accounts + import_staff, not timed): {setup_s:.2f} s")
        d = run_design(db, settings, data, out)
        design_sig = rights_signature(db, d["round_id"])
    print(f"  import_round (check, compute, write, apply_due): {d['import_s']:.2f} s — "
          f"{d['rows']:,} rows, {d['people']:,} people, revoke/disable {d['revokes']:,}, "
          f"grant/enable {d['grants']:,}, applied now {d['applied_now']:,}")
    print(f"  report PDF: {d['pdf_s']:.2f} s ({d['report_rows']:,} lines, "
          f"{d['pdf_bytes'] / 1024:,.0f} KiB, {d['pdf_pages']} pages)")
    print(f"  report CSV: {d['csv_s']:.2f} s")
    met = d["total_s"] < TARGET_S
    print(f"  total {d['total_s']:.2f} s (target < {TARGET_S:.0f} s): "
          f"{'met' if met else 'NOT met'}")
    result: dict[str, Any] = {"design": {k: round(v, 3) if isinstance(v, float) else v
                                         for k, v in d.items()}, "met": met}
    if peer:
        with make_db("peer") as db:
            populate(db, members, policy, pw_hash)
            p = run_peer(db, settings, data)
            peer_sig = rights_signature(db, p["round_id"])
        same = peer_sig == design_sig
        work = d["import_s"]
        print(f"  peer (per-person SELECTs, a commit per row): {p['total_s']:.2f} s "
              f"(plan + write {p['plan_write_s']:.2f} s, apply {p['apply_s']:.2f} s; "
              f"{p['statements']:,} statements, {p['commits']:,} commits) — "
              f"{p['total_s'] / work:.1f}× the design's import "
              f"({work:.2f} s); same rights changes: {'yes' if same else 'NO'}")
        result["peer"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in p.items()}
        result["peer"]["same_rights_changes"] = same
        result["peer"]["ratio_vs_import"] = round(p["total_s"] / work, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 staff, 300 changes")
    parser.add_argument("--staff", type=int, default=None)
    parser.add_argument("--changes", type=int, default=None)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args(argv)
    n_staff = args.staff or (1_000 if args.quick else 5_000)
    n_changes = args.changes or (300 if args.quick else 2_000)
    stream.configure(None)

    members = build_staff(n_staff)
    data, stories = build_changes(members, n_changes)
    pw_hash = hash_password("bench-hr-password-2026", "test")
    print(f"{n_staff:,} staff ({sum(1 for m in members if m.login):,} with accounts, "
          f"{sum(1 for m in members if m.status == '休職'):,} on leave); change file "
          f"{n_changes:,} rows, {len(data) / 1024:,.0f} KiB; stories: "
          + ", ".join(f"{k} {v}" for k, v in sorted(stories.items())))
    figures: dict[str, Any] = {"staff": n_staff, "changes": n_changes}
    peer_out: dict[str, Any] = {"kind": "per-person SELECTs, one transaction per row "
                                        "(plan, write, apply; no reports)"}
    met = True
    with tempfile.TemporaryDirectory(prefix="juki-bench-hr-") as tmp:
        tmp_path = Path(tmp)
        settings = Settings(data_dir=str(tmp_path / "var"), argon2_profile="test")
        policy = load_policy(settings)

        @contextmanager
        def sqlite(name: str) -> Iterator[Database]:
            with sqlite_db(tmp_path, f"{name}.sqlite3") as db:
                yield db

        @contextmanager
        def pg(_name: str) -> Iterator[Database]:
            with postgres_db("bench_hr_") as db:
                yield db

        backends: list[tuple[str, Any]] = [("sqlite", sqlite)]
        if not args.no_postgres and postgres_reachable():
            backends.append(("postgresql", pg))
        else:
            print("PostgreSQL: not reachable or skipped; no figure")
        for name, maker in backends:
            r = bench_backend(name, maker, settings, members, policy, pw_hash, data, tmp_path,
                              not args.no_peer)
            d = r["design"]
            figures[name] = {k: d[k] for k in ("import_s", "pdf_s", "csv_s", "total_s",
                                               "report_rows", "pdf_pages", "applied_now")}
            if "peer" in r:
                peer_out[name] = {k: r["peer"][k] for k in (
                    "total_s", "plan_write_s", "apply_s", "statements", "commits",
                    "same_rights_changes", "ratio_vs_import")}
            met = met and r["met"]
    print(json.dumps({
        "bench": "hr", "figures": figures,
        "targets": {"total_s_max": TARGET_S, "staff": 5_000, "changes": 2_000},
        "peer": peer_out, "met": met,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
