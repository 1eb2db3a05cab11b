"""Random sequences of acts by random people, and the promises checked after every step.

A hypothesis ``RuleBasedStateMachine`` drives the services as the console would — propose,
amend, submit, approve, reject, withdraw, unlink, import a change round, apply a grant,
confirm or dispute, disable an account, rotate the My Number key — by people chosen at
random, most of them not entitled to the act. Refusals are expected; what must never
happen is checked after every step, on the rows themselves:

- no active link without the required approvals of its final version by people other
  than its proposer (initial-migration links aside);
- no rights change confirmed by whoever applied it or by its subject;
- every decided proposal, applied change and verdict has its audit event, and every link
  its approving event (act and event commit together);
- the audit chain verifies.

Each example starts from a fresh copy of one prepared database (SQLite: a file copy;
PostgreSQL: ``CREATE DATABASE … TEMPLATE``), so examples are independent and cheap.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from auth.accounts import disable_user
from auth.identity import Identity
from auth.signin import sign_in
from core.clock import today_in_japan
from core.db import Database
from core.errors import JukiError
from core.settings import Settings
from logs import stream
from logs.audit import verify
from services.linkage.acts import amend, propose, propose_unlink, submit, withdraw
from services.linkage.decision import approve, reject
from services.personnel.apply import apply_change
from services.personnel.confirm import confirm_change
from services.personnel.rounds import import_round
from services.rekey import rotate_key
from services.schema import init_schema
from tests.conftest import PG_BASE
from tests.factories import ADMIN, PASSWORD, account, make_resident, matching_application, my_number
from tests.services.personnel_setup import HEADER, registry

# Extra people for the linkage side (the registry's people are sato/suzuki clerks, takaha
# a reviewer, kato/ito admins, sec/sec2 security officers).
EXTRA = {"both": ["clerk", "reviewer"], "rev2": ["reviewer"], "dv": ["dv_officer"]}
# A change round moves one registry person to one of these (所属, 職) — granting or
# revoking roles under the default policy — or retires them. 市民課課長 is drawn most: it
# grants a reviewer or security officer a further role, which they must not confirm.
POSTS = [("市民課", "係員"), ("市民課", "係長"), ("情報政策課", "主査"), ("総務課", "主査"),
         ("市民課", "課長")]
RESIDENTS = 6
TALLY: Counter[str] = Counter()
REASONS: Counter[str] = Counter()  # what the examples did, printed for the record
NUMBERS = [my_number(12_300_000_000 + i) for i in range(8)]


@dataclass
class Prepared:
    """A database with the people and residents in place, copied afresh per example."""

    fresh: Callable[[], tuple[Database, Settings, Callable[[], None]]]
    logins: list[str]
    residents: list[int]


def _people(db: Database, settings: Settings) -> None:
    registry(db, settings)
    for login, roles in EXTRA.items():
        account(db, settings, login, roles)


def _settings(tmp: Path, url: str) -> Settings:
    return Settings(database_url=url, data_dir=str(tmp / "var"),
                    audit_jsonl=str(tmp / "audit.jsonl"), argon2_profile="test")


@pytest.fixture
def prepared(backend: str, tmp_path: Path) -> Iterator[Prepared]:
    base = tmp_path / "base"
    if backend == "sqlite":
        url = f"sqlite:///{base / 'juki.sqlite3'}"
    else:
        tpl = "juki_tpl_" + uuid.uuid4().hex[:12]
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {tpl}"))
        url = make_url(PG_BASE).set(database=tpl).render_as_string(hide_password=False)
    cfg = _settings(base, url)
    db = Database.for_settings(cfg)
    init_schema(db)
    _people(db, cfg)
    residents = [make_resident(db, given=f"太郎{i}", dv=(i == 0)) for i in range(RESIDENTS)]
    db.dispose()
    made: list[str] = []

    def fresh() -> tuple[Database, Settings, Callable[[], None]]:
        where = tmp_path / f"ex{len(made)}"
        if backend == "sqlite":
            shutil.copytree(base, where)
            url_n = f"sqlite:///{where / 'juki.sqlite3'}"
        else:
            shutil.copytree(base / "var", where / "var")
            name = f"{tpl}_{len(made)}"
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {tpl}"))
            url_n = make_url(PG_BASE).set(database=name).render_as_string(hide_password=False)
            made.append(name)
        if backend == "sqlite":
            made.append(str(where))
        cfg_n = _settings(where, url_n)
        stream.configure(cfg_n.resolved_audit_jsonl)
        db_n = Database.for_settings(cfg_n)

        def done() -> None:
            db_n.dispose()
            stream.configure(None)

        return db_n, cfg_n, done

    yield Prepared(fresh, ["sato", "suzuki", "takaha", "kato", "ito", "sec", "sec2", *EXTRA],
                   residents)
    if backend != "sqlite":
        with admin.connect() as conn:
            for name in [*made, tpl]:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(sql), params).mappings())


class Acts(RuleBasedStateMachine):
    """The console's acts by anyone, with the promises as invariants."""

    prepared: Prepared

    def __init__(self) -> None:
        super().__init__()
        self.db, self.settings, self._done = self.prepared.fresh()
        self.who: dict[str, Identity] = {}
        self.refused = 0
        self.rounds = 0

    def teardown(self) -> None:
        seen = _rows(self.db, "SELECT outcome, COUNT(*) AS n FROM audit_event GROUP BY outcome")
        links = _rows(self.db, "SELECT COUNT(*) AS n FROM my_number_link")[0]["n"]
        confirmed = _rows(self.db, "SELECT COUNT(*) AS n FROM rights_change "
                                   "WHERE verdict <> ''")[0]["n"]
        TALLY["links"] += links
        TALLY["verdicts"] += confirmed
        for row in seen:
            TALLY[row["outcome"]] += row["n"]
        self._done()

    # --- who acts -------------------------------------------------------------------

    def _as(self, login: str) -> Identity | None:
        if login not in self.who:
            try:
                self.who[login] = sign_in(self.db, self.settings, login, PASSWORD, "192.0.2.7")
            except JukiError:  # disabled, locked: they cannot act at all
                return None
        return self.who[login]

    def _try(self, act: Callable[[], Any]) -> None:
        try:
            act()
        except JukiError:
            self.refused += 1

    def _proposal(self, pick: int, *states: str) -> dict[str, Any] | None:
        """Mostly a proposal in one of ``states`` (the acts' usual case), now and then any."""
        rows = _rows(self.db, "SELECT id, version, status, kind FROM link_proposal ORDER BY id")
        usual = [r for r in rows if r["status"] in states] if pick % 5 else rows
        rows = usual or rows
        return rows[pick % len(rows)] if rows else None

    def _line(self, pick: int, state: str) -> dict[str, Any] | None:
        """Mostly a rights change in ``state`` (newest first), now and then any."""
        rows = _rows(self.db, "SELECT id, state FROM rights_change ORDER BY id DESC")
        usual = [r for r in rows if r["state"] == state] if pick % 5 else rows
        rows = usual or rows
        return rows[pick % len(rows)] if rows else None

    # Anyone may try anything; each act mostly draws people who may do it, so that acts
    # succeed often enough to reach the states where the promises could break.
    people = st.sampled_from(["sato", "suzuki", "takaha", "kato", "ito", "sec", "sec2",
                              "both", "rev2", "dv"])
    proposers = st.sampled_from(["sato", "suzuki", "both", "both", "takaha", "dv"])
    reviewers = st.sampled_from(["takaha", "rev2", "both", "both", "sato", "sec"])
    admins = st.sampled_from(["kato", "ito", "kato", "sato", "sec"])
    confirmers = st.sampled_from(["sec", "sec2", "takaha", "kato", "sato", "both"])
    picks = st.integers(min_value=0, max_value=50)

    # --- linkage ----------------------------------------------------------------------

    @rule(who=proposers, r=st.integers(0, RESIDENTS - 1), n=st.integers(0, len(NUMBERS) - 1),
          draft=st.booleans(), differ=st.booleans())
    def propose(self, who: str, r: int, n: int, draft: bool, differ: bool) -> None:
        ident = self._as(who)
        if ident is None:
            return
        app = matching_application(name="山田 次郎") if differ else matching_application()
        self._try(lambda: propose(
            self.db, self.settings, ident, self.prepared.residents[r], number=NUMBERS[n],
            source="窓口", reference="R8-窓口-1", number_check="個人番号カード",
            identity_checks=["個人番号カード"], application=app, submit=not draft,
        ))

    @rule(who=proposers, pick=picks, note=st.sampled_from(["", "再確認済み", "番号訂正"]),
          n=st.none() | st.integers(0, len(NUMBERS) - 1))
    def amend(self, who: str, pick: int, note: str, n: int | None) -> None:
        ident, p = self._as(who), self._proposal(pick, "draft", "pending")
        if ident is None or p is None:
            return
        self._try(lambda: amend(self.db, self.settings, ident, p["id"], version=p["version"],
                                note=note, number=None if n is None else NUMBERS[n]))

    @rule(who=proposers, pick=picks)
    def submit(self, who: str, pick: int) -> None:
        ident, p = self._as(who), self._proposal(pick, "draft")
        if ident is None or p is None:
            return
        self._try(lambda: submit(self.db, self.settings, ident, p["id"], version=p["version"]))

    @rule(who=reviewers, pick=picks, stale=st.booleans(), comment=st.sampled_from(["", "確認"]))
    def approve(self, who: str, pick: int, stale: bool, comment: str) -> None:
        ident, p = self._as(who), self._proposal(pick, "pending")
        if ident is None or p is None:
            return
        version = p["version"] - 1 if stale else p["version"]
        self._try(lambda: approve(self.db, ident, p["id"], version=version, comment=comment,
                                  settings=self.settings))

    @rule(who=reviewers, pick=picks, comment=st.sampled_from(["", "書類不備"]))
    def reject(self, who: str, pick: int, comment: str) -> None:
        ident, p = self._as(who), self._proposal(pick, "pending")
        if ident is None or p is None:
            return
        self._try(lambda: reject(self.db, ident, p["id"], version=p["version"],
                                 comment=comment))

    @rule(who=proposers, pick=picks)
    def withdraw(self, who: str, pick: int) -> None:
        ident, p = self._as(who), self._proposal(pick, "draft", "pending")
        if ident is None or p is None:
            return
        self._try(lambda: withdraw(self.db, ident, p["id"], version=p["version"]))

    @rule(who=proposers, pick=picks)
    def unlink(self, who: str, pick: int) -> None:
        ident = self._as(who)
        links = _rows(self.db, "SELECT id FROM my_number_link ORDER BY id")
        if ident is None or not links:
            return
        link = links[pick % len(links)]["id"]
        self._try(lambda: propose_unlink(self.db, self.settings, ident, link,
                                         reason="番号の誤り"))

    # --- access rights ------------------------------------------------------------------

    @rule(who=admins,
          subject=st.sampled_from(["1001", "1002", "1003", "1003", "2001", "3001", "4001"]),
          post=st.sampled_from([0, 1, 2, 3, 4, 4, 4, len(POSTS)]), by_cli=st.booleans())
    def change_round(self, who: str, subject: str, post: int, by_cli: bool) -> None:
        ident = None if by_cli else self._as(who)
        if not by_cli and ident is None:
            return
        now_ = _rows(self.db, "SELECT name, department, post FROM staff WHERE staff_no = :n",
                     n=subject)[0]
        if post == len(POSTS):
            row = f"{today_in_japan().isoformat()},{subject},{now_['name']},退職," \
                  f"{now_['department']},,{now_['post']},"
        else:
            dept, title = POSTS[post]
            row = f"{today_in_japan().isoformat()},{subject},{now_['name']},転入," \
                  f"{now_['department']},{dept},{now_['post']},{title}"
        self.rounds += 1
        data = (HEADER + row + "\n").encode()
        self._try(lambda: import_round(self.db, self.settings, ident or ADMIN,
                                       name=f"idou-{self.rounds}.csv", data=data))

    @rule(who=admins, pick=picks)
    def apply(self, who: str, pick: int) -> None:
        ident, line = self._as(who), self._line(pick, "pending")
        if ident is None or line is None:
            return
        self._try(lambda: apply_change(self.db, ident, line["id"], settings=self.settings))

    @rule(who=confirmers, pick=picks, dispute=st.booleans())
    def confirm(self, who: str, pick: int, dispute: bool) -> None:
        ident, line = self._as(who), self._line(pick, "applied")
        if ident is None or line is None:
            return
        self._try(lambda: confirm_change(
            self.db, ident, line["id"], "disputed" if dispute else "confirmed",
            "日付が違う" if dispute else ""))

    # --- the forbidden cases, drawn on purpose: the person closest to the act tries it ---

    def _login_of(self, user_id: int | None) -> str | None:
        rows = _rows(self.db, "SELECT login FROM app_user WHERE id = :u", u=user_id or 0)
        return rows[0]["login"] if rows else None

    @rule(pick=picks)
    def approve_own(self, pick: int) -> None:
        p = self._proposal(pick, "pending")
        if p is None:
            return
        owner = _rows(self.db, "SELECT proposer_id FROM link_proposal WHERE id = :i", i=p["id"])
        login = self._login_of(owner[0]["proposer_id"])
        ident = self._as(login) if login else None
        if ident is not None:
            self._try(lambda: approve(self.db, ident, p["id"], version=p["version"],
                                      comment="確認", settings=self.settings))

    @rule(pick=picks, applier=st.booleans())
    def confirm_own(self, pick: int, applier: bool) -> None:
        line = self._line(pick, "applied")
        if line is None:
            return
        row = _rows(self.db, """SELECT c.applied_user, s.user_id AS subject FROM rights_change c
                                LEFT JOIN staff s ON s.staff_no = c.staff_no WHERE c.id = :i""",
                    i=line["id"])[0]
        login = self._login_of(row["applied_user"] if applier else row["subject"])
        ident = self._as(login) if login else None
        if ident is not None:
            self._try(lambda: confirm_change(self.db, ident, line["id"], "confirmed"))

    # Rare acts: drawn like the others, done one time in ten.
    @rule(who=people, n=st.integers(0, 9))
    def disable(self, who: str, n: int) -> None:
        if n == 7:
            self._try(lambda: disable_user(self.db, ADMIN, who))

    @rule(n=st.integers(0, 9))
    def rotate(self, n: int) -> None:
        if n == 7:
            self._try(lambda: rotate_key(self.db, ADMIN))

    # --- the promises ---------------------------------------------------------------------

    @invariant()
    def every_active_link_was_approved_by_others(self) -> None:
        required = self.settings.linkage_approvals
        links = _rows(self.db, "SELECT id, source FROM my_number_link WHERE status = 'active'")
        for link in links:
            if link["source"] == "初期移行":
                continue
            found = _rows(self.db, """
                SELECT p.id, p.proposer_id, p.version,
                       (SELECT COUNT(DISTINCT r.reviewer_id) FROM link_review r
                         WHERE r.proposal_id = p.id AND r.version = p.version
                           AND r.verdict = 'approve' AND r.reviewer_id <> p.proposer_id)
                       AS approvals
                  FROM link_proposal p
                 WHERE p.link_id = :l AND p.kind = 'link' AND p.status = 'approved'""",
                          l=link["id"])
            assert found, f"link {link['id']} has no approved proposal"
            assert found[0]["approvals"] >= required, f"link {link['id']}: {found[0]}"

    @invariant()
    def no_change_is_confirmed_by_its_applier_or_subject(self) -> None:
        rows = _rows(self.db, """
            SELECT c.id, c.applied_user, c.applied_by, c.confirmed_user, c.confirmed_by,
                   s.user_id AS subject
              FROM rights_change c LEFT JOIN staff s ON s.staff_no = c.staff_no
             WHERE c.verdict <> ''""")
        for r in rows:
            assert r["confirmed_by"] != r["applied_by"], r
            assert r["confirmed_user"] is None or r["confirmed_user"] not in (
                r["applied_user"], r["subject"]), r

    @invariant()
    def every_state_change_has_its_event_and_the_chain_verifies(self) -> None:
        events = _rows(self.db, "SELECT action, target, outcome, details FROM audit_event")
        ok = [(e["action"], e["target"], json.loads(e["details"] or "{}"))
              for e in events if e["outcome"] == "success"]
        decided = {(a, d.get("proposal")) for a, _t, d in ok if d.get("decided")}
        for p in _rows(self.db, "SELECT id, status FROM link_proposal "
                                "WHERE status IN ('approved', 'rejected')"):
            action = "linkage.approve" if p["status"] == "approved" else "linkage.reject"
            assert (action, p["id"]) in decided, p
        linked = sum(1 for a, _t, d in ok if a == "linkage.approve" and d.get("effect") == "linked")
        links = _rows(self.db, "SELECT COUNT(*) AS n FROM my_number_link "
                               "WHERE source <> '初期移行'")[0]["n"]
        assert linked == links
        applied = {d.get("line") for a, _t, d in ok if a.startswith("access.")
                   and a not in ("access.confirm", "access.dispute")}
        verdicts = {t for a, t, _d in ok if a in ("access.confirm", "access.dispute")}
        for line in _rows(self.db, "SELECT id, state, verdict FROM rights_change"):
            if line["state"] == "applied":
                assert line["id"] in applied, line
            if line["verdict"]:
                assert f"line:{line['id']}" in verdicts, line
        result = verify(self.db)
        assert result.ok, result.reason


# Thousands of steps on SQLite, fewer on PostgreSQL (each example copies a database).
RUNS = {"sqlite": (100, 60), "postgresql": (20, 40)}


@pytest.mark.slow
def test_random_acts_never_break_the_promises(backend: str, prepared: Prepared) -> None:
    examples, steps = RUNS[backend]
    TALLY.clear()  # this backend's own examples: the other's must not count for it
    Acts.prepared = prepared
    run_state_machine_as_test(Acts, settings=hsettings(
        max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    ))
    print(f"{examples} examples x {steps} steps: {dict(TALLY)}")
    assert TALLY["links"] and TALLY["verdicts"], "the machine never linked or confirmed"
