"""``juki audit watch``: the alert scanner as a real process beside the console's events."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from auth.signin import sign_in
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from logs.audit import events_after
from tests.conftest import Juki
from tests.factories import PASSWORD, account

# The office is open all day, every day, in these tests: the after-hours rule is tested on
# its own (tests/services/test_alerts.py), and would otherwise fire by the clock.
ALWAYS_OPEN = {"JUKI_ALERT_WORK_HOURS": "00:00-24:00",
               "JUKI_ALERT_WORK_DAYS": "mon,tue,wed,thu,fri,sat,sun",
               "JUKI_ALERT_CLOSED_DAYS": ""}


def _three_failures_then_success(db: Database, settings: Settings) -> None:
    for _ in range(3):
        with pytest.raises(Refused):
            sign_in(db, settings, "sato", "not-the-password")
    sign_in(db, settings, "sato", PASSWORD)


def test_watch_once_raises_each_alert_once(db: Database, settings: Settings, juki: Juki) -> None:
    juki = Juki(env=dict(juki.env, **ALWAYS_OPEN), cwd=juki.cwd)
    account(db, settings, "sato", ["clerk"], name="佐藤", department="")
    done = juki("audit", "watch", "--once")
    assert done.returncode == 0 and "[警告]" not in done.stdout
    _three_failures_then_success(db, settings)
    done = juki("audit", "watch", "--once")
    assert done.returncode == 0, done.stderr
    assert "[警告] sato のサインインが 3 回失敗した後に成功しました。" in done.stdout
    again = juki("audit", "watch", "--once")
    assert again.returncode == 0 and "[警告]" not in again.stdout
    alerts = [e for e in events_after(db, 0, 10_000) if e["action"].startswith("alert.")]
    assert [(a["action"], a["actor"], a["outcome"]) for a in alerts] == [
        ("alert.failed_then_success", "system:alerts", "alert")]


def test_watch_follows_new_events_as_they_happen(db: Database, settings: Settings,
                                                 juki: Juki) -> None:
    account(db, settings, "sato", ["clerk"], name="佐藤", department="")
    env = dict(juki.env, JUKI_ALERT_SCAN_SECONDS="0.2", **ALWAYS_OPEN)
    proc = subprocess.Popen([sys.executable, "-m", "console.cli", "audit", "watch"], env=env,
                            cwd=juki.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        _three_failures_then_success(db, settings)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(e["action"] == "alert.failed_then_success"
                   for e in events_after(db, 0, 10_000)):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("no alert within 30 s")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "sato のサインインが 3 回失敗した後に成功しました" in out, err
