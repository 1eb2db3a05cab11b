"""Free text at every door: no My Number typed into it is kept in the clear, no hidden
character gets in (issue 18, items 4 and 5; the rule is ``core.freetext``).

The property test types 12-digit numbers, in every way a person writes one, into every
free-text field the services take — reasons, notes, references, comments, the
application's items, search fields, an incident summary, a capture reason, a user's name —
and then reads the bytes of what was kept: the SQLite file (and its WAL) or a ``pg_dump``
of the test schema, ``audit.jsonl``, ``juki audit export`` and the file of a collector fed
by ``juki audit forward``. None of the numbers typed is found there, in any format.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import select

from auth.identity import Identity
from core.clock import today_in_japan
from core.db import Database
from core.errors import BadInput, JukiError
from core.settings import Settings
from logs.audit import events_after, last_seq
from services.assessment import incidents, inspection
from services.capture import save_capture
from services.linkage import check as linkage_check
from services.linkage.acts import amend, propose, propose_unlink, submit, withdraw
from services.linkage.decision import approve, reject
from services.linkage.models import LinkProposal
from services.linkage.reveal import reveal_proposed_number
from services.lookup.record import open_record, reveal_my_number
from services.lookup.search import search
from services.lookup.types import LookupQuery
from services.personnel.apply import apply_change
from services.personnel.confirm import confirm_change
from services.personnel.inventory import campaign_lines, decide, start_campaign
from services.personnel.rounds import import_round, round_lines
from services.personnel.staff import link_account
from tests.conftest import Juki
from tests.factories import (
    ADMIN,
    account,
    full_proposal,
    make_resident,
    matching_application,
    my_number,
)
from tests.services.personnel_setup import DAY, csv_file, registry

FULL = str.maketrans("0123456789", "０１２３４５６７８９")
SEPARATORS = ["", " ", "-", "\u3000", "\uff0d", "\u2212"]
PURPOSE = "住民票の写し等の交付"
_bases = itertools.count(31_000_000_001)


# --- what is typed -------------------------------------------------------------------------


@st.composite
def typed_number(draw: st.DrawFn) -> tuple[str, str]:
    """A 12-digit number as a person might type it, and its digits. Distinctive enough
    (six different digits) that finding it by chance in a file is out of the question."""
    digits = draw(st.text(alphabet="0123456789", min_size=12, max_size=12)
                  .filter(lambda d: len(set(d)) >= 6))
    groups = [digits[:4], digits[4:8], digits[8:]]
    a, b = draw(st.sampled_from(SEPARATORS)), draw(st.sampled_from(SEPARATORS))
    typed = groups[0] + a + groups[1] + b + groups[2]
    return (typed.translate(FULL) if draw(st.booleans()) else typed), digits


words = st.text(alphabet=list("個人番号はですの申請書を確認済み山田太郎、。:（）No. "), max_size=8)


@st.composite
def free_text(draw: st.DrawFn) -> tuple[str, str]:
    typed, digits = draw(typed_number())
    return draw(words) + "「" + typed + "」" + draw(words), digits


_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")
_JOINED = re.compile("(?<=[0-9])[ \\-\u2010-\u2015\u2212\u30fc\uff70](?=[0-9])")


def _readable(data: bytes) -> str:
    """Bytes as text in which a number typed any way reads as its 12 ASCII digits: JSON's
    \\uXXXX escapes undone, full-width folded (NFKC), separators between digits dropped."""
    text = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), data.decode("utf-8", "replace"))
    return _JOINED.sub("", unicodedata.normalize("NFKC", text))


def _leaks(artefacts: dict[str, str], typed: list[str]) -> list[str]:
    found = []
    for digits in typed:
        for name, body in artefacts.items():
            if (at := body.find(digits)) >= 0:
                found.append(f"{digits} in {name}: …{body[max(0, at - 60):at + 20]!r}")
    return found


# --- the office ----------------------------------------------------------------------------


class Office:
    """Staff on the registry (signed in), an inspection under way, and what each example
    needs made fresh (a resident, a proposal)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.people: dict[str, Identity] = registry(db, settings)
        self.clerk, self.rev = self.people["sato"], self.people["takaha"]
        self.sec, self.admin = self.people["sec"], self.people["kato"]
        insp = inspection.start_inspection(db, settings, ADMIN, 2026)
        self.sheet = next(s for s in insp.sheets if s.department == "市民課")
        self.items = [i.code for i in insp.items]
        self.users = itertools.count(1)

    def every_door(self, texts: Iterator[str]) -> None:
        """Each free-text field of each service, given the next text."""
        db, st_, clerk, rev = self.db, self.settings, self.clerk, self.rev
        # A proposal: its reference, note and application items; amended; rejected.
        rid = make_resident(db)
        p = propose(db, st_, clerk, rid, number=my_number(next(_bases)), source="窓口",
                    reference=next(texts), note=next(texts), submit=False,
                    application=matching_application(name=next(texts), kana=next(texts),
                                                     address=next(texts)))
        p = amend(db, st_, clerk, p.id, version=p.version, note=next(texts),
                  reference=next(texts))
        p = amend(db, st_, clerk, p.id, version=p.version, number_check="個人番号カード",
                  identity_checks=["個人番号カード"],
                  application=matching_application())
        p = submit(db, st_, clerk, p.id, version=p.version)
        reject(db, rev, p.id, version=p.version, comment=next(texts))
        # A link approved with a comment; its number revealed, its record opened, both
        # with a reason; reconfirmed with a comment.
        rid = make_resident(db)
        p = full_proposal(db, st_, clerk, rid, my_number(next(_bases)))
        link = approve(db, rev, p.id, version=p.version, comment=next(texts),
                       settings=st_).link_id
        assert link is not None
        reveal_my_number(db, st_, rev, rid, purpose=PURPOSE, reason=next(texts))
        open_record(db, st_, rev, rid, purpose=PURPOSE, reason=next(texts))
        linkage_check.reconfirm(db, rev, link, comment=next(texts))
        # An unlink: its reason and reference; the reviewer reads its number with a
        # reason; the proposer withdraws it with a reason.
        u = propose_unlink(db, st_, clerk, link, reason=next(texts), reference=next(texts))
        reveal_proposed_number(db, st_, rev, u.id, reason=next(texts))
        withdraw(db, clerk, u.id, version=u.version, reason=next(texts))
        # A search: 氏名 and 住所 (recorded even when refused as too broad).
        for query in (LookupQuery(PURPOSE, name=next(texts)),
                      LookupQuery(PURPOSE, name="山田 太郎", address=next(texts))):
            try:
                search(db, st_, rev, query)
            except JukiError:
                pass
        # An incident, a screen capture, a new account, an inspection answer.
        incidents.add_incident(db, self.sec, occurred_on=today_in_japan(),
                               summary=next(texts), serious=False)
        save_capture(db, st_, self.sec, "<svg/>", next(texts))
        account(db, st_, f"user{next(self.users)}", ["clerk"], name=next(texts),
                department=next(texts))
        inspection.answer(db, rev, self.sheet.id, self.items[0], "実施", next(texts))

    def once(self, typed: str) -> None:
        """The doors that take a text once only: a sign-off, a 棚卸し decision, a rights
        change confirmed."""
        db, st_ = self.db, self.settings
        for code in self.items:
            inspection.answer(db, self.rev, self.sheet.id, code, "実施", typed)
        inspection.sign_off(db, self.sec, self.sheet.id, typed)
        camp = start_campaign(db, st_, self.admin, deadline=today_in_japan() + timedelta(7))
        line = next(x for x in campaign_lines(db, self.admin, camp.id) if x.login == "sato")
        decide(db, self.sec, line.id, "keep", typed)
        done = import_round(db, st_, ADMIN, name="idou.csv", today=DAY, data=csv_file(
            "2026-04-01,4001,山田 花子,転入,総務課,市民課,主事,係員"))
        account(db, st_, "yamada", ["auditor"], name="山田 花子", department="総務課")
        link_account(db, ADMIN, "4001", "yamada")
        grant = next(x for x in round_lines(db, done.round_id) if x.action == "grant")
        apply_change(db, self.admin, grant.id, today=DAY)
        confirm_change(db, self.sec, grant.id, "disputed", typed)


# --- where it could be kept ------------------------------------------------------------------


def _schema(url: str) -> str:
    found = re.search(r"search_path%3D(\w+)", url)
    assert found, url
    return found.group(1)


def _database_bytes(db: Database, settings: Settings, backend: str) -> dict[str, str]:
    url = settings.resolved_database_url
    if backend == "sqlite":
        with db.write() as s:  # let the WAL reach the file too (both are read)
            s.execute(text("SELECT 1"))
        path = Path(url.removeprefix("sqlite:///"))
        return {p.name: _readable(p.read_bytes())
                for p in path.parent.glob(path.name + "*") if p.is_file()}
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", _schema(url), "test"],
        capture_output=True, check=True, timeout=120,
    )
    return {"pg_dump": _readable(dump.stdout)}


def _jsonl(settings: Settings) -> dict[str, str]:
    return {"audit.jsonl": _readable(Path(settings.resolved_audit_jsonl).read_bytes())}


@pytest.fixture
def forwarded(juki: Juki, juki_env: dict[str, str], tmp_path: Path
              ) -> Iterator[Callable[[], str]]:
    """``juki audit collector`` running; calling the result forwards the trail to it with
    ``juki audit forward --once`` and returns the collector's file."""
    out = tmp_path / "collected.jsonl"
    collector = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "audit", "collector", "--port", "0",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        text=True, env=juki_env, cwd=tmp_path,
    )
    assert collector.stdout is not None
    line = collector.stdout.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert url, line

    def forward() -> str:
        env = {**juki_env, "JUKI_AUDIT_FORWARD_URL": url.group()}
        done = subprocess.run([sys.executable, "-m", "console.cli", "audit", "forward",
                               "--once"], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return _readable(out.read_bytes())

    yield forward
    collector.terminate()
    collector.wait(15)


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_no_my_number_typed_into_free_text_is_kept_anywhere(
    db: Database, settings: Settings, backend: str, juki: Juki,
    forwarded: Callable[[], str],
) -> None:
    office = Office(db, settings)
    typed: list[str] = []
    jsonl = Path(settings.resolved_audit_jsonl)

    @hsettings(max_examples=20, deadline=None, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                      HealthCheck.too_slow])
    @given(st.lists(free_text(), min_size=23, max_size=23))
    def example(texts: list[tuple[str, str]]) -> None:
        digits = [d for _, d in texts]
        typed.extend(digits)
        seq, written = last_seq(db), jsonl.stat().st_size
        office.every_door(iter(t for t, _ in texts))
        # What this example added to the trail and its copy (the files as a whole are
        # read once, below, for every number typed in every example).
        added = {"audit_event": _readable(json.dumps(events_after(db, seq, 10_000)).encode()),
                 "audit.jsonl": _readable(jsonl.read_bytes()[written:])}
        assert _leaks(added, digits) == []

    example()
    once = ["123456789018", "１２３４ ５６７８ ９０１８", "2468-1357-9753", "8642\u30009753－1246"]
    office.once("確認済み " + " / ".join(once))
    typed += [re.sub(r"\D", "", unicodedata.normalize("NFKC", t)) for t in once]
    exported = juki("audit", "export", "--from", "2000-01-01", "--to", "2100-01-01")
    assert exported.returncode == 0, exported.stderr
    everywhere = {
        **_database_bytes(db, settings, backend), **_jsonl(settings),
        "juki audit export": _readable(exported.stdout.encode()),
        "collector": forwarded(),
    }
    assert _leaks(everywhere, typed) == []
    # The texts were kept, masked: the trail holds the last four digits of each.
    trail = everywhere["juki audit export"]
    assert all(f"**** **** {d[-4:]}" in trail for d in typed[-4:])


# --- item 5: the proposal form's fields refuse hidden characters ------------------------------


@pytest.mark.parametrize(("field", "label", "bad"), [
    ("name", "氏名 (申請書)", "山田\u202e郎太"),  # RIGHT-TO-LEFT OVERRIDE: shows 山田太郎
    ("name", "氏名 (申請書)", "山\u200b田 太郎"),  # ZERO WIDTH SPACE
    ("reference", "申請書等の番号", "R7-\x9b0012"),  # C1 CSI
    ("note", "備考", "本人\u2066確認\u2069済み"),  # bidi isolates
    ("note", "備考", "確認\x1b[2J済み"),  # ESC
])
def test_the_proposal_refuses_hidden_characters_naming_the_field(
    db: Database, settings: Settings, field: str, label: str, bad: str
) -> None:
    people = registry(db, settings)
    rid = make_resident(db)
    kw: dict[str, Any] = {"reference": "R7-0012", "note": ""}
    application = matching_application(name=bad) if field == "name" else None
    if field != "name":
        kw[field] = bad
    before = len(events_after(db, 0, 100_000))
    with pytest.raises(BadInput) as caught:
        propose(db, settings, people["sato"], rid, number=my_number(next(_bases)),
                source="窓口", number_check="個人番号カード",
                identity_checks=["個人番号カード"],
                application=application or matching_application(), **kw)
    assert caught.value.message.startswith(f"{label}: ")
    assert f"U+{ord(next(c for c in bad if not c.isprintable())):04X}" in caught.value.message
    with db.read() as s:
        assert s.exec(select(LinkProposal)).all() == []
    [refusal] = events_after(db, before, 100)
    assert (refusal["action"], refusal["outcome"]) == ("linkage.propose", "refused")
    assert json.loads(refusal["details"])["message"] == caught.value.message


def test_amending_refuses_them_too_and_ivs_is_kept(db: Database, settings: Settings) -> None:
    people = registry(db, settings)
    rid = make_resident(db)
    katsuragi = "葛\U000e0100城 太郎"  # 葛 with its IVS: a name as the register writes it
    p = propose(db, settings, people["sato"], rid, submit=False,
                application=matching_application(name=katsuragi))
    with pytest.raises(BadInput, match=r"^氏名 \(申請書\): "):
        amend(db, settings, people["sato"], p.id, version=p.version,
              application=matching_application(name="葛城\u202e 太郎"))
    with db.read() as s:
        [kept] = s.exec(select(LinkProposal)).all()
        assert kept.app_name == katsuragi and kept.version == p.version


def test_a_search_by_my_number_still_works_and_is_recorded_sealed(
    db: Database, settings: Settings
) -> None:
    people = registry(db, settings)
    rid = make_resident(db)
    number = my_number(next(_bases))
    p = full_proposal(db, settings, people["sato"], rid, number)
    approve(db, people["takaha"], p.id, version=p.version, settings=settings)
    spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
    found = search(db, settings, people["takaha"], LookupQuery(PURPOSE, my_number=spaced))
    assert [h.resident_id for h in found.hits] == [rid]
    # 個人番号 typed into 氏名 instead: masked where it is recorded, the search runs.
    search(db, settings, people["takaha"], LookupQuery(PURPOSE, name=f"山田 {spaced}"))
    trail = "\n".join(e["details"] for e in events_after(db, 0, 100_000))
    assert number not in _readable(trail.encode())
    assert f"**** **** {number[-4:]}" in trail
