"""The SSH door (services.door): which key may enter today, the line sshd gets, the trail.

Accounts, keys, the staff registry and personnel changes go through their own doors
(add_user, add_keys, import_staff, import_round, apply_due), so the door sees the rows
the office would have. Keys are fresh ed25519 keys; the expected fingerprint is worked
out here from the key blob, as ``ssh-keygen -lf`` does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auth.accounts import disable_user
from auth.ssh_keys import add_keys, remove_key
from core.clock import today_in_japan
from core.db import Database
from core.settings import Settings, SettingsError
from logs.audit import events_after, last_seq
from services.door import admitted_login, authorized_line, door_login
from services.personnel.apply import apply_due
from services.personnel.rounds import import_round
from services.personnel.staff import import_staff
from tests.factories import ADMIN, account

ME = pwd.getpwuid(os.getuid()).pw_name
STAFF_HEADER = "職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日,ログイン名\n"


def new_key() -> tuple[str, str]:
    """(type, base64) of a fresh ed25519 public key."""
    line = Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    key_type, b64 = line.split()[:2]
    return key_type, b64


def fingerprint(b64: str) -> str:
    digest = hashlib.sha256(base64.b64decode(b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def bound(db: Database, settings: Settings, login: str) -> tuple[str, str]:
    """An account ``login`` with one fresh key bound to it."""
    account(db, settings, login)
    key_type, b64 = new_key()
    add_keys(db, ADMIN, login, f"{key_type} {b64} {login}@pc\n", f"{login}.pub")
    return key_type, b64


def door_events(db: Database, since: int) -> list[dict]:  # type: ignore[type-arg]
    found = [e for e in events_after(db, since, 10_000) if e["action"] == "ssh.door"]
    for e in found:
        e["details"] = json.loads(e["details"])
    return found


def test_a_bound_key_of_an_enabled_account_gets_its_line(
    db: Database, settings: Settings,
) -> None:
    key_type, b64 = bound(db, settings, "sato")
    fp = fingerprint(b64)
    since = last_seq(db)
    line = authorized_line(db, settings, ME, key_type, b64)
    assert line == (f'restrict,pty,command="{settings.ssh_connect_command} --key {fp}"'
                    f" ssh-ed25519 {b64}")
    assert door_login(db, fp) == "sato"
    assert door_events(db, since) == []  # an admitted key leaves no event (sign-in will)


def test_an_unknown_key_gets_nothing_and_is_not_recorded(
    db: Database, settings: Settings,
) -> None:
    bound(db, settings, "sato")
    key_type, b64 = new_key()
    since = last_seq(db)
    assert authorized_line(db, settings, ME, key_type, b64) == ""
    assert door_events(db, since) == []


def test_a_disabled_account_gets_nothing_and_the_refusal_is_recorded_once_a_minute(
    db: Database, settings: Settings,
) -> None:
    key_type, b64 = bound(db, settings, "sato")
    assert authorized_line(db, settings, ME, key_type, b64) != ""
    disable_user(db, ADMIN, "sato")
    since = last_seq(db)
    assert authorized_line(db, settings, ME, key_type, b64) == ""
    # Asked again at once (a public key is no secret: anyone may offer it): no new event.
    assert authorized_line(db, settings, ME, key_type, b64) == ""
    events = door_events(db, since)
    assert [(e["actor"], e["target"], e["outcome"], e["details"]) for e in events] == [
        ("sato", "sato", "refused",
         {"reason": "disabled", "fingerprint": fingerprint(b64), "at": "sshd"}),
    ]
    # At the console's start a refusal is always recorded.
    assert door_login(db, fingerprint(b64)) is None
    assert [e["details"]["at"] for e in door_events(db, since)] == ["sshd", "console"]


def test_a_leaver_is_refused_once_apply_due_has_run(db: Database, settings: Settings) -> None:
    key_type, b64 = bound(db, settings, "sato")
    import_staff(db, ADMIN, name="staff.csv", data=(
        STAFF_HEADER + "1001,佐藤 一郎,サトウ イチロウ,市民課,係員,正規,,在職,2026-01-10,sato\n"
    ).encode())
    leaving = today_in_japan() + timedelta(days=1)
    import_round(db, settings, ADMIN, name="idou.csv", data=(
        "発令日,職員番号,氏名,異動区分,旧所属,新所属,旧職,新職\n"
        f"{leaving},1001,佐藤 一郎,退職,市民課,,係員,\n"
    ).encode())
    assert authorized_line(db, settings, ME, key_type, b64) != ""  # still in post today
    apply_due(db, settings, ADMIN, today=leaving)
    since = last_seq(db)
    assert authorized_line(db, settings, ME, key_type, b64) == ""
    assert [e["details"]["reason"] for e in door_events(db, since)] == ["disabled"]


@pytest.mark.parametrize("employment", ["委託先", "会計年度任用"])
def test_a_contract_ends_at_the_end_of_its_last_day(
    db: Database, settings: Settings, employment: str,
) -> None:
    today = today_in_japan()
    yesterday = today - timedelta(days=1)
    keys = {login: bound(db, settings, login) for login in ("ended", "lastday", "regular")}
    import_staff(db, ADMIN, name="staff.csv", data=(
        STAFF_HEADER
        + f"5001,委託 一,イタク,市民課,係員,{employment},{yesterday},在職,2026-01-10,ended\n"
        + f"5002,委託 二,イタク,市民課,係員,{employment},{today},在職,2026-01-10,lastday\n"
        # A contract_end on a regular post is no contract: it does not bar the key.
        + f"5003,正規 三,セイキ,市民課,係員,正規,{yesterday},在職,2026-01-10,regular\n"
    ).encode())
    since = last_seq(db)
    lines = {login: authorized_line(db, settings, ME, *key) for login, key in keys.items()}
    assert lines["ended"] == ""
    assert lines["lastday"].endswith(keys["lastday"][1]) and lines["regular"] != ""
    assert [(e["target"], e["details"]["reason"]) for e in door_events(db, since)] == [
        ("ended", "contract_ended")]
    # The rule itself, on a given office day: the contract's last day is the last one in.
    fp = fingerprint(keys["lastday"][1])
    with db.read() as s:
        assert admitted_login(s, fp, today) == "lastday"
        assert admitted_login(s, fp, today + timedelta(days=1)) is None
        assert admitted_login(s, fingerprint(keys["ended"][1]), date(2000, 1, 1)) == "ended"


def test_only_the_service_account_gets_a_line_and_only_for_a_real_key(
    db: Database, settings: Settings,
) -> None:
    key_type, b64 = bound(db, settings, "sato")
    since = last_seq(db)
    other = "nobody" if ME != "nobody" else "root"
    assert authorized_line(db, settings, other, key_type, b64) == ""
    assert authorized_line(db, settings, "", key_type, b64) == ""
    assert authorized_line(db, settings, ME, "ssh-rsa", b64) == ""  # type and blob differ
    assert authorized_line(db, settings, ME, key_type, b64 + "\n") == ""
    assert authorized_line(db, settings, ME, key_type, b64[:-8]) == ""
    assert authorized_line(db, settings, ME, key_type, "not base64!") == ""
    assert authorized_line(db, settings, ME, key_type, b64) != ""
    assert door_events(db, since) == []


def test_a_key_unbound_after_sshd_let_it_in_is_refused_at_the_console(
    db: Database, settings: Settings,
) -> None:
    _key_type, b64 = bound(db, settings, "sato")
    fp = fingerprint(b64)
    assert door_login(db, fp) == "sato"
    remove_key(db, ADMIN, "sato", fp)
    since = last_seq(db)
    assert door_login(db, fp) is None
    assert [(e["actor"], e["target"], e["details"]) for e in door_events(db, since)] == [
        (fp, "", {"reason": "unbound", "fingerprint": fp, "at": "console"})]


def test_a_forced_command_that_would_break_the_line_is_a_settings_error(
    db: Database, settings: Settings,
) -> None:
    key_type, b64 = bound(db, settings, "sato")
    for bad in ('/opt/juki/deploy/juki-console" --x', "", "/opt/a\\b", "/opt/ju\nki",
                "/opt/ju\x1bki"):
        with pytest.raises(SettingsError, match="ssh_connect_command"):
            authorized_line(db, settings.with_(ssh_connect_command=bad), ME, key_type, b64)
    spaced = settings.with_(ssh_connect_command="/opt/juki/deploy/juki-console --conf /e/j")
    assert authorized_line(db, spaced, ME, key_type, b64).startswith(
        'restrict,pty,command="/opt/juki/deploy/juki-console --conf /e/j --key SHA256:')
