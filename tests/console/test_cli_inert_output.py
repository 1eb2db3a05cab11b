"""What ``juki`` prints from a file or the database reaches the terminal inert.

A name in the accounts table, a header of a register file, a key in a TOML file, a value
in the trail: each can hold terminal escape sequences (ESC, BEL, CSI as the C1 byte
U+009B), bidi overrides or line separators. Plain output passes through
``core.inert.clean`` (console/commands/common.py, the one place every line goes); JSON output and
JSON-lines files escape those characters as ``\\uXXXX`` (``core.inert.dumps``), so the
data stays exact for ``json.loads`` and the chain still verifies from an export.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from core.actor import Actor
from core.clock import now
from core.db import Database
from logs.audit import GENESIS, HASHED, canonical_details, event_hash, events_after, record_alone
from logs.export import JST

NASTY = "\x1b]0;pwned\x07\x1b[2J山田\u202e花子\x9b31m"
# Beyond it, what a JSON line must not carry raw: NEL and U+2028 split lines for
# str.splitlines, zero-width and tag characters hide text.
NASTY_JSON = NASTY + "\x85\u2028\u2029\u200b\ufeff\U000e0041葛\U000e0100城"

# Never raw on a terminal: C0 but tab and newline, DEL, C1, bidi controls.
RAW_FORBIDDEN = frozenset(
    [chr(c) for c in range(0x20) if chr(c) not in "\t\n"] + ["\x7f"]
    + [chr(c) for c in range(0x80, 0xA0)]
    + list("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
JSON_RAW_FORBIDDEN = RAW_FORBIDDEN | frozenset("\u2028\u2029\u200b\ufeff\U000e0041")

CLERK = Actor(login="tanaka", user_id=7, session_id="s-1", client_addr="203.0.113.7")


def _raw(output: str, forbidden: frozenset[str] = RAW_FORBIDDEN) -> list[str]:
    return sorted({f"U+{ord(ch):04X}" for ch in output if ch in forbidden})


def test_user_list_prints_no_control_character_from_the_accounts_table(
    juki: Callable, db: Database
) -> None:
    added = juki("user", "add", "yamada.h", "--name", "山田 花子", "--role", "clerk",
                 input="kawa-no-nagare-wa-taezu\n")
    assert added.returncode == 0, added.stderr
    with db.engine.begin() as conn:  # a name that reached the table by another door
        conn.execute(text("UPDATE app_user SET name = :n, department = :d"),
                     {"n": NASTY, "d": "市民課\x1b[8m\u202e"})
    listed = juki("user", "list")
    assert listed.returncode == 0, listed.stderr
    assert _raw(listed.stdout) == []
    row = next(ln for ln in listed.stdout.splitlines() if ln.startswith("yamada.h\t"))
    assert row.split("\t")[1:3] == ["]0;pwned[2J山田花子31m", "市民課[8m"]


def _register_header(tmp_path: Path) -> list[str]:
    path = tmp_path / "bad.csv"
    path.write_text(f"住民票コード,氏名,{NASTY}\n", encoding="utf-8")
    return ["register", "import", str(path)]


def _policy(tmp_path: Path) -> list[str]:
    path = tmp_path / "policy.toml"
    path.write_text('"\\u001b]0;pwned\\u0007\\u202e\\u009b2J" = 1\n', encoding="utf-8")
    return ["access", "policy-check", str(path)]


def _transfer(tmp_path: Path) -> list[str]:
    path = tmp_path / "transfer.toml"
    path.write_text('"\\u001b]0;pwned\\u0007\\u202e\\u009b2J" = 1\n', encoding="utf-8")
    return ["transfer", "check", str(path)]


def _hr_import(tmp_path: Path) -> list[str]:
    path = tmp_path / "hr.csv"
    row = f"令和8年4月1日,{NASTY[:12]},佐藤 花子,{NASTY[12:]}転出,市民課,税務課,係長,係長"
    path.write_text(f"発令日,職員番号,氏名,異動区分,旧所属,新所属,旧職,新職\n{row}\n",
                    encoding="utf-8")
    return ["hr", "import", str(path)]


@pytest.mark.parametrize("command", [_register_header, _hr_import, _policy, _transfer],
                         ids=["register import", "hr import", "policy-check", "transfer check"])
def test_a_refusal_quoting_a_file_prints_no_control_character(
    juki: Callable, db: Database, tmp_path: Path, command: Callable[[Path], list[str]]
) -> None:
    done = juki(*command(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "pwned" in done.stderr or "]0;" in done.stderr or "見出し" in done.stderr
    assert _raw(done.stdout + done.stderr) == []


def _seed(db: Database) -> list[dict]:
    record_alone(db, CLERK, "register.lookup", target=f"resident:1 {NASTY_JSON}",
                 details={"氏名": NASTY_JSON, NASTY_JSON: [NASTY_JSON]})
    record_alone(db, CLERK, "user.list", details={"氏名": "髙橋 𠮷男"})
    return events_after(db, 0)


def test_audit_tail_json_escapes_controls_and_gives_back_the_exact_text(
    juki: Callable, db: Database
) -> None:
    stored = _seed(db)
    done = juki("audit", "tail", "--json", "-n", "10")
    assert done.returncode == 0, done.stderr
    assert _raw(done.stdout, JSON_RAW_FORBIDDEN) == []
    assert "髙橋 𠮷男" in done.stdout  # Japanese stays readable
    lines = [json.loads(ln) for ln in done.stdout.splitlines()]
    assert [ln["seq"] for ln in lines] == [1, 2]
    assert lines[0]["target"] == f"resident:1 {NASTY_JSON}"
    assert lines[0]["details"] == {"氏名": NASTY_JSON, NASTY_JSON: [NASTY_JSON]}
    assert [{**ln, "details": canonical_details(ln["details"])} for ln in lines] == stored


def test_jsonl_export_escapes_controls_and_still_verifies_from_the_file(
    juki: Callable, db: Database, tmp_path: Path
) -> None:
    stored = _seed(db)
    today = now().astimezone(JST).date()
    period = ["--from", str(today - timedelta(days=1)), "--to", str(today)]
    done = juki("audit", "export", *period, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "export.jsonl"
    to_file = juki("audit", "export", *period, "--format", "jsonl", "--output", str(out))
    assert to_file.returncode == 0, to_file.stderr
    for text_ in (done.stdout, out.read_text("utf-8")):
        assert _raw(text_, JSON_RAW_FORBIDDEN) == []
        lines = [json.loads(ln) for ln in text_.splitlines()][:2]
        assert lines[0]["details"] == {"氏名": NASTY_JSON, NASTY_JSON: [NASTY_JSON]}
        prev = GENESIS
        for line, ev in zip(lines, stored, strict=True):
            values = {**line, "details": canonical_details(line["details"])}
            assert values == ev
            assert event_hash(prev, tuple(values[k] for k in HASHED)) == line["hash"]
            prev = line["hash"]
