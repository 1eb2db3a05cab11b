"""``juki audit export``: a period of the trail as JSON lines or CSV, run as the real
program. Bounds are ISO (office time when no offset is given); bad bounds exit 2 naming
the field and write nothing; each export is itself recorded with its range and count.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from core.actor import Actor
from core.clock import now, parse_iso
from core.db import Database
from logs.audit import GENESIS, HASHED, canonical_details, event_hash, events_after, record_alone
from logs.export import JST

CLERK = Actor(login="tanaka", user_id=7, session_id="s-1", client_addr="203.0.113.7")


def _seed(db: Database) -> list[dict]:
    record_alone(db, CLERK, "register.lookup", target="resident:1", details={"氏名": "髙橋 𠮷男"})
    record_alone(db, CLERK, "register.lookup", target="=HYPERLINK(\"http://x\")")
    record_alone(db, CLERK, "linkage.propose", target="resident:3\x1b[31m", purpose="紐付け")
    record_alone(db, CLERK, "linkage.review", target="resident:4", outcome="refused")
    record_alone(db, CLERK, "user.list")
    return events_after(db, 0)


def _jst(ts: str) -> str:
    """An event's stored UTC time written as office time with its offset."""
    return parse_iso(ts).astimezone(JST).isoformat()


def _exports(db: Database) -> list[dict]:
    return [e for e in events_after(db, 0, 10_000) if e["action"] == "audit.export"]


def test_jsonl_export_holds_every_field_and_verifies_outside(
    db: Database, juki: Callable
) -> None:
    stored = _seed(db)
    today = now().astimezone(JST).date()
    done = juki("audit", "export", "--from", str(today - timedelta(days=1)),
                "--to", str(today), "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["details"] == {"氏名": "髙橋 𠮷男"}
    # Everything an outside verifier needs: re-encode details, chain the hashes.
    prev = GENESIS
    for line, ev in zip(lines, stored, strict=True):
        values = {**line, "details": canonical_details(line["details"])}
        assert values == ev
        assert event_hash(prev, tuple(values[k] for k in HASHED)) == line["hash"]
        prev = line["hash"]
    assert "5 件" in done.stderr
    (recorded,) = _exports(db)
    details = json.loads(recorded["details"])
    assert details["count"] == 5 and details["format"] == "jsonl" and details["output"] == "-"
    assert details["sha256"] == hashlib.sha256(done.stdout.encode("utf-8")).hexdigest()
    # JST midnight of the day before is 15:00 UTC two days before.
    assert details["from"] == f"{today - timedelta(days=2)}T15:00:00.000000Z"
    assert recorded["actor"].startswith("os:")


def test_bounds_are_instants_and_both_ends_are_included(db: Database, juki: Callable) -> None:
    stored = _seed(db)
    done = juki("audit", "export", "--from", _jst(stored[1]["ts"]),
                "--to", _jst(stored[3]["ts"]))
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["seq"] for x in done.stdout.splitlines()] == [2, 3, 4]
    # UTC with Z, both bounds the same instant: that one event (the first export, #6,
    # is later).
    utc = juki("audit", "export", "--from", stored[4]["ts"], "--to", stored[4]["ts"])
    assert [json.loads(x)["seq"] for x in utc.stdout.splitlines()] == [5]
    past = juki("audit", "export", "--from", "2001-01-01", "--to", "2001-12-31")
    assert past.returncode == 0 and past.stdout == ""
    assert [json.loads(e["details"])["count"] for e in _exports(db)] == [3, 1, 0]


def test_csv_export_is_excel_text_and_never_a_formula(
    db: Database, juki: Callable, tmp_path: Path
) -> None:
    stored = _seed(db)
    target = tmp_path / "trail.csv"
    done = juki("audit", "export", "--from", "2000-01-01", "--to", "2999-12-31",
                "--format", "csv", "--output", str(target))
    assert done.returncode == 0, done.stderr
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    assert target.stat().st_mode & 0o777 == 0o600
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["seq", "ts", "actor"] and rows[0][-1] == "hash"
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    by_seq = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert by_seq["2"]["target"] == "'=HYPERLINK(\"http://x\")"
    assert "\x1b" not in by_seq["3"]["target"]
    assert by_seq["1"]["details"] == stored[0]["details"]
    assert by_seq["5"]["hash"] == stored[4]["hash"]
    sha = hashlib.sha256(data).hexdigest()
    assert sha in done.stdout and str(target) in done.stdout
    (recorded,) = _exports(db)
    assert json.loads(recorded["details"])["sha256"] == sha


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--from", "2026-13-01", "--to", "2026-12-31"), "--from"),
        (("--from", "2026-04-01", "--to", "昨日"), "--to"),
        (("--from", "2026-04-02", "--to", "2026-04-01"), "--to"),
        (("--from", "", "--to", "2026-04-01"), "--from"),
    ],
)
def test_bad_bounds_exit_2_naming_the_field_and_write_nothing(
    db: Database, juki: Callable, tmp_path: Path, args: tuple[str, ...], field: str
) -> None:
    _seed(db)
    target = tmp_path / "never.csv"
    done = juki("audit", "export", *args, "--format", "csv", "--output", str(target))
    assert done.returncode == 2, done.stdout + done.stderr
    assert field in done.stderr and "Traceback" not in done.stderr
    assert not target.exists()
    assert _exports(db) == []


def test_an_output_in_a_missing_directory_is_bad_input(
    db: Database, juki: Callable, tmp_path: Path
) -> None:
    done = juki("audit", "export", "--from", "2026-04-01", "--to", "2026-04-30",
                "--output", str(tmp_path / "nowhere" / "x.jsonl"))
    assert done.returncode == 2 and "--output" in done.stderr
    assert _exports(db) == []
