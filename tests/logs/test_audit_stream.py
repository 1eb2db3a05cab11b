"""The JSON-lines copy of the trail (``audit_jsonl``), as a SIEM reads it.

Controls in a value (ESC, BEL, C1 such as NEL and CSI, bidi overrides, zero-width and
line-separator characters) are written as ``\\uXXXX``: a reader splitting on any line
break still gets one event a line, a terminal paging the file is not driven by it, and
``json.loads`` gives back the exact text.
"""

from __future__ import annotations

import json

from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import events_after, record_alone

CLERK = Actor(login="tanaka", user_id=7, session_id="s-1", client_addr="203.0.113.7")
NASTY = "\x1b]0;pwned\x07\x9b2J\x85\u2028\u2029\u202e\u200b\ufeff山田\U000e0100"
RAW = frozenset("\x1b\x07\x9b\x85\u2028\u2029\u202e\u200b\ufeff")


def test_the_json_lines_copy_escapes_controls_and_keeps_the_exact_text(
    db: Database, settings: Settings
) -> None:
    record_alone(db, CLERK, "register.lookup", target=f"resident:1 {NASTY}",
                 details={"氏名": NASTY, "表示": "髙橋 𠮷男"})
    copy = settings.resolved_audit_jsonl.read_text("utf-8")
    assert not RAW & set(copy)
    assert "髙橋 𠮷男" in copy
    lines = [json.loads(line) for line in copy.splitlines()]
    [ev] = [ln for ln in lines if ln.get("event") == "register.lookup"]
    assert ev["details"] == {"氏名": NASTY, "表示": "髙橋 𠮷男"}
    assert ev["target"] == f"resident:1 {NASTY}"
    assert ev["hash"] == events_after(db, 0)[-1]["hash"]
