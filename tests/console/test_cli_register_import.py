"""``juki register import`` as the nightly job runs it: real subprocesses, both backends.

Exit 0 when applied (or applied before), 2 when refused (line and column named, nothing
applied, no traceback); progress on stderr; and a full load killed with SIGKILL halfway
leaves the register as it was, with the audit chain whole.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.db import Database
from logs.audit import events_after
from services.linkage.check import ORIGIN_BASELINE
from services.linkage.models import LinkFingerprint
from services.register.import_models import RegisterImport
from services.register.models import Household, MyNumberLink, Resident, ResidentChange
from tests.conftest import Juki
from tests.services.register_files import daily_changes, encode, full_from_seed, person


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return s.connection().execute(
            select(func.count()).select_from(model.__table__)).scalar_one()


def _register(db: Database) -> tuple[int, ...]:
    return tuple(_count(db, m) for m in (Resident, Household, ResidentChange, MyNumberLink,
                                         RegisterImport))


def _events(db: Database, action: str) -> list[dict[str, Any]]:
    return [e for e in events_after(db, 0, 100_000) if e["action"] == action]


def test_full_load_then_a_day_then_a_refused_file(juki: Juki, db: Database,
                                                  tmp_path: Path) -> None:
    rows, _ = full_from_seed(300, seed=3)
    full = tmp_path / "full.csv"
    full.write_bytes(encode(rows, encoding="cp932"))
    done = juki("register", "import", str(full), "--full")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "全件" in done.stdout and "SHA-256" in done.stdout
    assert _count(db, Resident) == 300
    day = tmp_path / "day.tsv"
    day.write_bytes(encode(daily_changes(rows, 16), delimiter="\t", newline="\n"))
    done = juki("register", "import", str(day))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "転居 2" in done.stdout and "出生 2" in done.stdout
    again = juki("register", "import", str(day))
    assert again.returncode == 0 and "取込済み" in again.stdout
    before = _register(db)
    bad = daily_changes(rows, 16, seed=8)
    bad[9]["異動日"] = "R8.13.1"  # line 11
    bad_path = tmp_path / "bad.csv"
    bad_path.write_bytes(encode(bad))
    done = juki("register", "import", str(bad_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "11行目" in done.stderr and "異動日" in done.stderr and "Traceback" not in done.stderr
    assert _register(db) == before
    outcomes = [e["outcome"] for e in _events(db, "register.import")]
    assert outcomes == ["success", "success", "success", "refused"]
    missing = juki("register", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "FILE" in missing.stderr
    assert juki("audit", "verify").returncode == 0



def test_a_day_that_changes_linked_residents_flags_their_links_through_the_cli(
    juki: Juki, db: Database, tmp_path: Path,
) -> None:
    """The drift reaches linkage through the register's own hook (services.register.hooks),
    which the command registers by importing services.linkage: the summary says how many
    linked residents changed, the event lists them, each gets a baseline fingerprint."""
    rows, _ = full_from_seed(300, seed=3)
    full = tmp_path / "full.csv"
    full.write_bytes(encode(rows))
    assert juki("register", "import", str(full), "--full").returncode == 0
    day = tmp_path / "day.csv"
    day.write_bytes(encode(daily_changes(rows, 16)))
    done = juki("register", "import", str(day))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4情報" in done.stdout and "juki linkage check" in done.stdout
    details = json.loads(_events(db, "register.import")[-1]["details"])
    assert details["linked_changed"] >= 1
    with db.read() as s:
        baselines = s.connection().execute(
            select(LinkFingerprint.link_id).where(  # type: ignore[call-overload]
                LinkFingerprint.origin == ORIGIN_BASELINE)).scalars().all()
    assert sorted(baselines) == sorted(details["flagged_links"])

def test_a_full_load_killed_halfway_leaves_the_register_as_it_was(
    juki: Juki, db: Database, tmp_path: Path,
) -> None:
    path = tmp_path / "big.csv"
    rows, _ = full_from_seed(30_000, seed=11)
    path.write_bytes(encode(rows))
    assert juki("register", "import", str(tmp_path / "x.csv")).returncode == 2  # an event
    before = _register(db)
    events_before = len(events_after(db, 0, 100_000))
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "register", "import", str(path), "--full"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=juki.env, cwd=juki.cwd,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if "書き込み" in line:  # rows are being written inside the transaction
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, seen
    assert any("検査" in s for s in seen) and "10,000 / 30,000" in seen[-1]
    assert _register(db) == before == (0, 0, 0, 0, 0)
    assert len(events_after(db, 0, 100_000)) == events_before
    verified = juki("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # and the load runs through afterwards, once
    done = juki("register", "import", str(path), "--full", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _count(db, Resident) == 30_000
    (ev,) = [e for e in _events(db, "register.import") if e["outcome"] == "success"]
    assert json.loads(ev["details"])["rows"] == 30_000


def test_bad_header_and_unknown_kind_name_the_column(juki: Juki, db: Database,
                                                     tmp_path: Path) -> None:
    row = person("10000000001", 変更区分="引越し", 異動日="2026-04-01")
    path = tmp_path / "day.csv"
    path.write_bytes(encode([row]))
    done = juki("register", "import", str(path))
    assert done.returncode == 2 and "2行目 変更区分" in done.stderr
    path.write_bytes(encode([row], columns=("住民票コード", "氏", "名前")))
    done = juki("register", "import", str(path))
    assert done.returncode == 2 and "1行目 見出し" in done.stderr and "名前" in done.stderr
    assert _count(db, Resident) == 0


def test_two_imports_of_one_file_at_once_apply_it_once(juki: Juki, db: Database,
                                                       tmp_path: Path) -> None:
    rows, _ = full_from_seed(500, seed=4)
    full = tmp_path / "full.csv"
    full.write_bytes(encode(rows))
    assert juki("register", "import", str(full), "--full").returncode == 0
    day = tmp_path / "day.csv"
    day.write_bytes(encode(daily_changes(rows, 120, seed=5)))
    procs = [subprocess.Popen(
        [sys.executable, "-m", "console.cli", "register", "import", str(day)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=juki.env, cwd=juki.cwd) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted("取込済み" in out for out, _ in outs)
    assert said == [False, True], outs
    assert _count(db, ResidentChange) == 120
    assert _count(db, RegisterImport) == 2
    assert juki("audit", "verify").returncode == 0
