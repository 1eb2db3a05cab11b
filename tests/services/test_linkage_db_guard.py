"""Four eyes at the database: an active My Number link exists only as the consequence of
a proposal approved by enough people other than its proposer, or as a link marked
初期移行 (the register taken over), whatever the application's database account sends.

Raw SQL on SQLite and PostgreSQL. Rows the application's account cannot write (a
proposal "approved" by its proposer alone) are planted as the schema's owner could, with
the triggers lifted for that one transaction (``as_schema_owner``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.actor import Actor
from core.db import Database
from core.sealed import sealer_of
from core.settings import Settings
from services.linkage.acts import propose_unlink
from services.linkage.check import check_links
from services.linkage.decision import approve, reject
from services.register.models import MyNumberLink
from services.schema import _config, ensure_key_file, init_schema
from tests.factories import full_proposal, make_resident, matching_application, my_number, staff
from tests.services.linkage_setup import as_schema_owner

AT = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)


def _values(db: Database, rid: int, number: str, **over: Any) -> dict[str, Any]:
    values = {"r": rid, "n": sealer_of(db.engine.dialect).seal(number), "l4": number[-4:],
              "t": AT, "src": "申請", "st": "active"}
    values.update(over)
    return values


def _insert(db: Database, values: dict[str, Any], *, with_proposal: bool = False) -> int:
    """INSERT a link by hand as the application's account; returns its id."""
    cols = "resident_id, number, last4, linked_at, source, status, revoke_reason"
    vals = ":r, :n, :l4, :t, :src, :st, ''"
    if with_proposal:
        cols, vals = cols + ", proposal_id", vals + ", :p"
    with db.write() as s:
        s.execute(text(f"INSERT INTO my_number_link ({cols}) VALUES ({vals})"), values)
        return s.execute(text("SELECT max(id) FROM my_number_link")).scalar_one()


def _propose(db: Database, settings: Settings, who: Any, rid: int, number: str) -> Any:
    """A submitted proposal whose application matches the resident (named by id)."""
    with db.read() as s:
        given = s.execute(text("SELECT given_name FROM resident WHERE id = :r"),
                          {"r": rid}).scalar_one()
    return full_proposal(db, settings, who, rid, number,
                         application=matching_application(name=f"山田 {given}"))


def _links(db: Database, rid: int) -> list[tuple[str, int | None]]:
    with db.read() as s:
        return [(r.status, r.proposal_id) for r in s.execute(text(
            "SELECT status, proposal_id FROM my_number_link WHERE resident_id = :r ORDER BY id"
        ), {"r": rid})]


def _count_links(db: Database) -> int:
    with db.read() as s:
        return s.execute(text("SELECT count(*) FROM my_number_link")).scalar_one()


@pytest.mark.parametrize("source", ["申請", "住基ネット照会", "窓口"])
def test_an_active_link_without_a_proposal_is_refused(db: Database, source: str) -> None:
    rid = make_resident(db)
    number = my_number(51000000001)
    with pytest.raises(IntegrityError, match="four eyes"):
        _insert(db, _values(db, rid, number, src=source))
    # Through the ORM, as a script with the application's settings would write it.
    with pytest.raises(IntegrityError, match="four eyes"), db.write() as s:
        s.add(MyNumberLink(resident_id=rid, number=number, last4=number[-4:], linked_at=AT,
                           source=source))
    assert _count_links(db) == 0


def test_an_initial_migration_link_is_accepted(db: Database) -> None:
    rid, other = make_resident(db), make_resident(db, given="次郎")
    _insert(db, _values(db, rid, my_number(52000000002), src="初期移行"))
    # A link already revoked (history carried over) needs no proposal either.
    _insert(db, _values(db, other, my_number(52000000003), st="revoked"))
    assert _links(db, rid) == [("active", None)]
    assert _links(db, other) == [("revoked", None)]


def _approved_by_hand(db: Database, proposal_id: int, reviewer_id: int, login: str) -> None:
    """An approving review by someone other than the proposer and the decision, written
    unguarded (as the schema's owner could), without the link the service would add."""
    with as_schema_owner(db) as conn:
        conn.execute(text(
            "INSERT INTO link_review (proposal_id, reviewer_id, reviewer_login, verdict,"
            " comment, version, created_at) VALUES (:p, :u, :login, 'approve', '', 1, :t)"
        ), {"p": proposal_id, "u": reviewer_id, "login": login, "t": AT})
        conn.execute(text("UPDATE link_proposal SET status = 'approved', decided_at = :t"
                          " WHERE id = :p"), {"p": proposal_id, "t": AT})


def test_a_link_must_name_an_approved_link_proposal_for_its_resident_and_number(
    db: Database, settings: Settings
) -> None:
    people = staff(db, settings, ["clerk", "rev1", "rev2"])
    a, b, c, d = (make_resident(db, given=g) for g in ("一郎", "二郎", "三郎", "四郎"))
    na, nb, nc, nd = (my_number(53000000000 + i) for i in range(4))
    waiting = _propose(db, settings, people["clerk"], a, na)
    done = _propose(db, settings, people["clerk"], b, nb)
    link_b = approve(db, people["rev1"], done.id, version=done.version).link_id
    refused = _propose(db, settings, people["clerk"], c, nc)
    reject(db, people["rev1"], refused.id, version=refused.version, comment="書類不備")
    unlink = propose_unlink(db, settings, people["clerk"], link_b or 0, reason="取り違え")
    approve(db, people["rev2"], unlink.id, version=unlink.version)
    assert _links(db, b) == [("revoked", done.id)]
    loose = _propose(db, settings, people["clerk"], d, nd)
    _approved_by_hand(db, loose.id, people["rev1"].user_id or 0, "rev1")
    for what, values in [
        ("a pending proposal", _values(db, a, na, p=waiting.id)),
        ("a pending proposal, marked 初期移行", _values(db, a, na, p=waiting.id, src="初期移行")),
        ("a rejected proposal", _values(db, c, nc, p=refused.id)),
        ("an approved unlink", _values(db, b, nb, p=unlink.id)),
        ("an approved proposal already used", _values(db, b, nb, p=done.id)),
        ("another resident's approved proposal", _values(db, c, nd, p=loose.id)),
        ("another number than the approved one", _values(db, d, nc, p=loose.id)),
        ("no such proposal", _values(db, d, nd, p=999_999)),
    ]:
        with pytest.raises(IntegrityError):
            _insert(db, values, with_proposal=True)
            pytest.fail(f"accepted: a link naming {what}")
    assert [_links(db, r) for r in (a, c, d)] == [[], [], []]
    # The approved proposal's own resident and number: the database asks no more.
    _insert(db, _values(db, d, nd, p=loose.id), with_proposal=True)
    assert _links(db, d) == [("active", loose.id)]


@pytest.mark.parametrize("required", [1, 2])
def test_a_proposal_approved_by_too_few_others_makes_no_link(
    db: Database, settings: Settings, required: int
) -> None:
    """Someone who could write link_proposal and link_review unguarded once (a restored
    dump, a hand edit) still cannot turn that into an active link."""
    people = staff(db, settings, ["both", "rev1"])
    rid = make_resident(db)
    number = my_number(54000000004)
    view = _propose(db, settings, people["both"], rid, number)
    with as_schema_owner(db) as conn:
        conn.execute(text(
            "INSERT INTO link_review (proposal_id, reviewer_id, reviewer_login, verdict,"
            " comment, version, created_at) VALUES (:p, :u, :login, 'approve', '', :v, :t)"
        ), {"p": view.id, "u": people["both"].user_id, "login": "both", "v": view.version,
            "t": AT})
        if required == 2:  # one other reviewer of two required
            conn.execute(text(
                "INSERT INTO link_review (proposal_id, reviewer_id, reviewer_login, verdict,"
                " comment, version, created_at) VALUES (:p, :u, 'rev1', 'approve', '', :v, :t)"
            ), {"p": view.id, "u": people["rev1"].user_id, "v": view.version, "t": AT})
        conn.execute(text(
            "UPDATE link_proposal SET status = 'approved', required_approvals = :n,"
            " decided_at = :t WHERE id = :p"), {"p": view.id, "n": required, "t": AT})
    with pytest.raises(IntegrityError, match="four eyes"):
        _insert(db, _values(db, rid, number, p=view.id), with_proposal=True)
    assert _links(db, rid) == []


def test_no_update_makes_a_link_active_or_moves_its_proposal(
    db: Database, settings: Settings
) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    a, b, c = make_resident(db), make_resident(db, given="次郎"), make_resident(db, given="三郎")
    na, nb, nc = my_number(55000000005), my_number(55000000006), my_number(55000000007)
    first = _propose(db, settings, people["clerk"], a, na)
    link_a = approve(db, people["rev1"], first.id, version=first.version).link_id
    second = _propose(db, settings, people["clerk"], b, nb)
    link_b = approve(db, people["rev1"], second.id, version=second.version).link_id
    revoked = _insert(db, _values(db, c, nc, st="revoked"))
    for sql, params in [
        ("UPDATE my_number_link SET status = 'active' WHERE id = :l", {"l": revoked}),
        ("UPDATE my_number_link SET status = 'active', proposal_id = :p WHERE id = :l",
         {"l": revoked, "p": first.id}),
        ("UPDATE my_number_link SET proposal_id = NULL WHERE id = :l", {"l": link_a}),
        ("UPDATE my_number_link SET proposal_id = :p WHERE id = :l",
         {"l": link_a, "p": second.id}),
        ("UPDATE my_number_link SET source = '初期移行', proposal_id = NULL WHERE id = :l",
         {"l": link_a}),
        # revoking is an unlink's effect, decided by its own reviewers
        ("UPDATE my_number_link SET status = 'revoked', revoked_at = :t WHERE id = :l",
         {"l": link_a, "t": AT}),
        ("UPDATE link_proposal SET link_id = :l WHERE id = :p", {"l": link_b, "p": first.id}),
        ("UPDATE link_proposal SET link_id = NULL WHERE id = :p", {"p": first.id}),
    ]:
        with pytest.raises(IntegrityError), db.write() as s:
            s.execute(text(sql), params)
            pytest.fail(f"accepted: {sql}")
    assert _links(db, a) == [("active", first.id)]
    assert _links(db, c) == [("revoked", None)]


def test_the_approval_path_links_both_ways_and_unlinks(
    db: Database, settings: Settings
) -> None:
    settings = settings.with_(linkage_approvals=2)
    people = staff(db, settings, ["clerk", "rev1", "rev2", "rev3"])
    rid = make_resident(db)
    view = full_proposal(db, settings, people["clerk"], rid, my_number(56000000008))
    assert not approve(db, people["rev1"], view.id, version=view.version).decided
    link_id = approve(db, people["rev2"], view.id, version=view.version).link_id
    assert link_id is not None and _links(db, rid) == [("active", view.id)]
    with db.read() as s:
        assert s.execute(text("SELECT link_id FROM link_proposal WHERE id = :p"),
                         {"p": view.id}).scalar_one() == link_id
    unlink = propose_unlink(db, settings, people["clerk"], link_id, reason="取り違え")
    assert not approve(db, people["rev1"], unlink.id, version=unlink.version).decided
    assert approve(db, people["rev3"], unlink.id, version=unlink.version).decided
    assert _links(db, rid) == [("revoked", view.id)]


def _made_at_0012(db: Database, people: dict[str, Any], rid: int, number: str,
                  *, unlinked: bool) -> int:
    """A link made and perhaps unlinked the way the workflow did before revision 0013
    (link first, then the proposal told it): raw SQL; returns the link proposal's id."""
    sealed = sealer_of(db.engine.dialect).seal(number)
    review = ("INSERT INTO link_review (proposal_id, reviewer_id, reviewer_login, verdict,"
              " comment, version, created_at) VALUES (:p, :u, :login, 'approve', '', 1, :t)")
    proposal = (
        "INSERT INTO link_proposal (kind, resident_id, number, last4, link_id, source,"
        " reference, number_check, identity_checks, app_name, app_kana, app_sex, app_address,"
        " note, status, version, required_approvals, proposer_id, proposer_login, created_at,"
        " updated_at) VALUES (:k, :r, :n, :l4, :l, '窓口', '', '', '[]', '', '', '', '', '',"
        " 'pending', 1, 1, :u, 'clerk', :t, :t)")
    last = "SELECT max(id) FROM {}"
    with db.engine.begin() as conn:
        conn.execute(text(proposal), {"k": "link", "r": rid, "n": sealed, "l4": number[-4:],
                                      "l": None, "u": people["clerk"].user_id, "t": AT})
        pid = conn.execute(text(last.format("link_proposal"))).scalar_one()
        conn.execute(text(review), {"p": pid, "u": people["rev1"].user_id, "login": "rev1",
                                    "t": AT})
        conn.execute(text(
            "INSERT INTO my_number_link (resident_id, number, last4, linked_at, source, status,"
            " revoke_reason) VALUES (:r, :n, :l4, :t, '申請', 'active', '')"),
            {"r": rid, "n": sealed, "l4": number[-4:], "t": AT})
        lid = conn.execute(text(last.format("my_number_link"))).scalar_one()
        conn.execute(text("UPDATE link_proposal SET status = 'approved', link_id = :l,"
                          " decided_at = :t WHERE id = :p"), {"p": pid, "l": lid, "t": AT})
        if unlinked:
            conn.execute(text(proposal), {"k": "unlink", "r": rid, "n": "", "l4": "",
                                          "l": lid, "u": people["clerk"].user_id, "t": AT})
            uid = conn.execute(text(last.format("link_proposal"))).scalar_one()
            conn.execute(text(review), {"p": uid, "u": people["rev2"].user_id,
                                        "login": "rev2", "t": AT})
            conn.execute(text("UPDATE my_number_link SET status = 'revoked', revoked_at = :t"
                              " WHERE id = :l"), {"l": lid, "t": AT})
            conn.execute(text("UPDATE link_proposal SET status = 'approved', decided_at = :t"
                              " WHERE id = :p"), {"p": uid, "t": AT})
    return pid


def test_links_made_before_the_guard_name_their_proposal_after_the_upgrade(
    settings: Settings,
) -> None:
    db = Database.for_settings(settings)
    assert ensure_key_file(db)
    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0012")
    try:
        people = staff(db, settings, ["clerk", "rev1", "rev2"])
        kept, gone = make_resident(db), make_resident(db, given="次郎")
        kept_p = _made_at_0012(db, people, kept, my_number(57000000001), unlinked=False)
        gone_p = _made_at_0012(db, people, gone, my_number(57000000002), unlinked=True)
        assert init_schema(db)
        assert _links(db, kept) == [("active", kept_p)]
        assert _links(db, gone) == [("revoked", gone_p)]
        report = check_links(db, Actor(login="os:checker"))
        assert report.ok and report.links == 1, report.findings
    finally:
        db.dispose()
