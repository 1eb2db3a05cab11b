"""``juki audit forward`` and ``juki audit watch`` as real processes across a PostgreSQL
stop and start: neither exits, each says the outage and the return in Japanese on
stderr, and the events written after the return are forwarded and judged
(docs/architecture.md §12).

The server is the test's own (``private_pg``), stopped with ``pg_ctl`` for a few seconds
— long enough for both to meet it; ``bench`` or a manual run can hold it for 30.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.actor import Actor
from core.db import BACK, WAITING, Database
from core.settings import Settings
from logs.audit import last_seq, record_alone
from tests.conftest import Juki
from tests.console.test_cli_audit_watch import ALWAYS_OPEN, _three_failures_then_success
from tests.factories import account
from tests.logs.test_audit_forward import Collector, _assert_exactly_once_in_order, _forward_env
from tests.pgserver import PrivateServer
from tests.procs import launch, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def db_url(private_pg_url: str) -> str:
    """``db``, ``settings`` and ``juki`` on the private server."""
    return private_pg_url


@pytest.fixture
def collector(juki_env: dict[str, str], tmp_path: Path) -> Iterator[Collector]:
    """``juki audit collector`` on loopback (it holds no database: it stays up)."""
    out = tmp_path / "collected.jsonl"
    col = Collector(*launch(["audit", "collector", "--port", "0", "--out", str(out)],
                            env=juki_env, cwd=tmp_path, name="collector"), out=out)
    yield col
    col.stop()


def _start(args: list[str], env: dict[str, str], cwd: Path,
           name: str) -> tuple[subprocess.Popen[bytes], Path]:
    err = cwd / f"{name}.err"
    with open(err, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "console.cli", *args],
                                stdout=subprocess.DEVNULL, stderr=fh,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    return proc, err


def _said(err: Path) -> str:
    return err.read_text("utf-8")


def _cursor(db: Database) -> int:
    with db.read() as s:
        return int(s.connection().execute(
            text("SELECT seq FROM alert_cursor WHERE id = 1")).scalar() or 0)


def test_forward_and_watch_wait_for_the_database_and_go_on(
    db: Database, settings: Settings, juki: Juki, private_pg: PrivateServer,
    collector: Collector, tmp_path: Path,
) -> None:
    account(db, settings, "sato", ["clerk"], name="佐藤", department="")
    col = collector
    env = _forward_env(juki.env, col.url, JUKI_ALERT_SCAN_SECONDS="0.2", **ALWAYS_OPEN)
    forward, forward_err = _start(["audit", "forward"], env, tmp_path, "forward")
    watch, watch_err = _start(["audit", "watch"], env, tmp_path, "watch")
    try:
        for i in range(5):
            record_alone(db, Actor(login="writer"), "test.write", target=f"before:{i}")
        wait_for(lambda: col.acked() >= last_seq(db), 60, "the events before the stop")
        wait_for(lambda: _cursor(db) >= last_seq(db), 60, "the watch to judge them")

        private_pg.stop()
        wait_for(lambda: WAITING in _said(forward_err) and WAITING in _said(watch_err), 60,
                 "both to say the database is away")
        time.sleep(private_pg.outage_left())  # JUKI_TEST_OUTAGE_SECONDS=30: the issue's
        assert forward.poll() is None and watch.poll() is None  # waiting, not gone
        private_pg.start()

        _three_failures_then_success(db, settings)  # written after the return: an alert
        wait_for(lambda: BACK in _said(forward_err) and BACK in _said(watch_err), 60,
                 "both to say the database is back")
        wait_for(lambda: any(ev["action"] == "alert.failed_then_success"
                             for ev in col.stored()), 60, "the alert to be forwarded")
        end = last_seq(db)
        wait_for(lambda: col.acked() >= end and _cursor(db) >= end, 60, "the rest")
        assert forward.poll() is None and watch.poll() is None
    finally:
        for proc in (forward, watch):
            proc.terminate()
            proc.wait(30)
    _assert_exactly_once_in_order(col.stored(), db)
    for err in (forward_err, watch_err):
        said = _said(err)
        assert "Traceback" not in said and "予期しない" not in said, said
