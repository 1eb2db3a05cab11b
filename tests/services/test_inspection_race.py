"""Eight reviewers sign off one sheet at the same moment, each in a process of its own.

Each child signs in for real, reports ready, waits for a shared start file, then calls
``sign_off`` once. Exactly one sign-off stands; the others are refused (「既に…承認済み」),
each refusal recorded, the audit chain intact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from auth.accounts import add_user
from auth.signin import sign_in
from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import events_after, verify
from services.assessment import inspection

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "asa-no-kaze-ga-fuku"
N = 8

CHILD = r"""
import json, os, sys, time
from core.db import Database
from core.errors import JukiError
from core.settings import Settings
from auth.signin import sign_in
from services.assessment.inspection import sign_off

url, login, password, sheet, go = sys.argv[1:6]
settings = Settings(database_url=url, audit_jsonl="-", argon2_profile="test")
db = Database(url)
ident = sign_in(db, settings, login, password, "192.0.2.30")
print("ready", flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit(3)
    time.sleep(0.001)
try:
    v = sign_off(db, ident, int(sheet))
    out = {"login": login, "ok": True, "signed_by": v.signed_by}
except JukiError as exc:
    out = {"login": login, "ok": False, "error": type(exc).__name__, "message": exc.message}
print(json.dumps(out, ensure_ascii=False), flush=True)
"""


def test_eight_sign_offs_at_once_one_stands(db: Database, settings: Settings,
                                             tmp_path: Path) -> None:
    admin = Actor(login="os:admin")
    add_user(db, settings, admin, login="rev", name="回答者", roles=["reviewer"],
             password=PASSWORD, department="市民課")
    for i in range(N):
        add_user(db, settings, admin, login=f"sec{i}", name=f"確認者{i}",
                 roles=["security_officer"], password=PASSWORD, department="総務課")
    insp = inspection.start_inspection(db, settings, admin, 2026, departments=["市民課"])
    sheet = insp.sheets[0].id
    rev = sign_in(db, settings, "rev", PASSWORD, "192.0.2.30")
    for item in insp.items:
        inspection.answer(db, rev, sheet, item.code, "実施", "記録あり")

    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUKI_")}
    env["PYTHONPATH"] = str(ROOT)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, settings.resolved_database_url, f"sec{i}",
             PASSWORD, str(sheet), str(go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        for i in range(N)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "ready", child.stderr.read() if child.stderr else ""
        go.write_text("go")
        results = []
        for child in children:
            out, err = child.communicate(timeout=180)
            assert child.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()

    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1, results
    assert all(r["error"] == "Refused" and "承認済み" in r["message"] for r in losers), losers
    final = inspection.get_sheet(db, admin, sheet)
    assert final.signed_by == winners[0]["login"]
    signed = [e for e in events_after(db, 0, 100_000) if e["action"] == "inspection.sign_off"]
    assert sorted(e["outcome"] for e in signed) == ["refused"] * (N - 1) + ["success"]
    assert all(json.loads(e["details"])["reason"] == "already_signed"
               for e in signed if e["outcome"] == "refused")
    assert verify(db).ok
