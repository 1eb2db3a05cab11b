"""Sign-in, lockout, unlock and session expiry, each proved by its effect and its event.

Every refusal is a ``Refused`` with a Japanese message, and still leaves its event.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select

from auth.accounts import add_user, disable_user
from auth.identity import Identity
from auth.models import ConsoleSession, User
from auth.signin import (
    REFUSED,
    SessionState,
    check_session,
    lock,
    sign_in,
    sign_out,
    unlock,
)
from core.actor import Actor, ssh_client_address
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from logs.audit import events_after, last_seq, verify

PASSWORD = "asa-no-kaze-ga-fuku"
ADMIN = Actor(login="os:admin")
CLIENT = ssh_client_address({"SSH_CONNECTION": "203.0.113.9 52114 10.0.0.5 22"})


@pytest.fixture
def clerk(db: Database, settings: Settings) -> str:
    add_user(db, settings, ADMIN, login="tanaka", name="田中 一郎", roles=["clerk"],
             password=PASSWORD, department="市民課")
    return "tanaka"


def _events_since(db: Database, seq: int) -> list[dict]:
    return events_after(db, seq, 10_000)


def _actions(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["action"], e["outcome"]) for e in events]


def _user(db: Database, login: str) -> User:
    with db.read() as s:
        user = s.exec(select(User).where(User.login == login)).one()
        return user


def test_client_address_comes_from_ssh_connection() -> None:
    assert CLIENT == "203.0.113.9"
    assert ssh_client_address({"SSH_CONNECTION": "2001:db8::7 40000 2001:db8::1 22"}) == (
        "2001:db8::7"
    )
    assert ssh_client_address({}) == ""
    assert Actor.cli({"SSH_CONNECTION": "198.51.100.2 1 2 22"}).client_addr == "198.51.100.2"


def test_success_opens_a_session_and_records_it(
    db: Database, settings: Settings, clerk: str
) -> None:
    before = last_seq(db)
    ident = sign_in(db, settings, clerk, PASSWORD, CLIENT)
    assert (ident.login, ident.name, ident.roles) == ("tanaka", "田中 一郎", ("clerk",))
    with db.read() as s:
        cs = s.get(ConsoleSession, ident.session_id)
        assert cs is not None
        assert (cs.user_id, cs.client_addr, cs.ended_at, cs.locked) == (
            ident.user_id, CLIENT, None, False,
        )
    events = _events_since(db, before)
    assert _actions(events) == [("signin.success", "success")]
    assert (events[0]["client_addr"], events[0]["session_id"], events[0]["target"]) == (
        CLIENT, ident.session_id, "tanaka",
    )
    assert _user(db, clerk).last_signin_at is not None
    assert check_session(db, settings, ident) is SessionState.ACTIVE


def test_a_sign_in_hashes_nothing_once_the_dummy_is_made(
    db: Database, settings: Settings, clerk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dummy hash (verified against for an unknown login) is made once per process:
    a sign-in then costs one argon2 verification, not a hash as well (it was made on
    every sign-in, twice the CPU of each one)."""
    import auth.signin

    made: list[str] = []
    real = auth.signin.hash_password

    def counted(password: str, profile: str) -> str:
        made.append(profile)
        return real(password, profile)

    monkeypatch.setattr(auth.signin, "hash_password", counted)
    dummy = auth.signin.dummy_hash(settings.argon2_profile)
    sign_in(db, settings, clerk, PASSWORD, CLIENT)
    with pytest.raises(Refused):
        sign_in(db, settings, "nobody", PASSWORD, CLIENT)
    assert auth.signin.dummy_hash(settings.argon2_profile) == dummy
    assert made.count(settings.argon2_profile) <= 1  # the first dummy_hash call, if any


def test_wrong_password_is_a_recorded_failure(
    db: Database, settings: Settings, clerk: str
) -> None:
    before = last_seq(db)
    with pytest.raises(Refused) as wrong:
        sign_in(db, settings, clerk, PASSWORD + "x", CLIENT)
    events = _events_since(db, before)
    assert _actions(events) == [("signin.failure", "failure")]
    assert json.loads(events[0]["details"]) == {"reason": "wrong_password"}
    assert events[0]["client_addr"] == CLIENT
    assert _user(db, clerk).failed_count == 1
    with db.read() as s:
        assert s.exec(select(ConsoleSession)).all() == []

    # An unknown login reads exactly like a wrong password, and is recorded too.
    with pytest.raises(Refused) as unknown:
        sign_in(db, settings, "nobody", PASSWORD, CLIENT)
    assert unknown.value.message == wrong.value.message
    last = _events_since(db, before)[-1]
    assert (last["action"], last["target"], json.loads(last["details"])["reason"]) == (
        "signin.failure", "nobody", "unknown_login",
    )


def test_five_failures_lock_and_the_right_password_is_then_refused(
    db: Database, settings: Settings, clerk: str
) -> None:
    before = last_seq(db)
    messages = []
    for _ in range(settings.lockout_threshold):
        with pytest.raises(Refused) as refused:
            sign_in(db, settings, clerk, "wrong-password-000", CLIENT)
        messages.append(refused.value.message)
    assert messages == [REFUSED] * settings.lockout_threshold  # the lock is not told
    events = _events_since(db, before)
    assert _actions(events).count(("signin.failure", "failure")) == 5
    lockouts = [e for e in events if e["action"] == "signin.lockout"]
    assert len(lockouts) == 1 and lockouts[0]["severity"] == "warning"
    assert _user(db, clerk).locked_until is not None

    mark = last_seq(db)
    with pytest.raises(Refused) as locked:
        sign_in(db, settings, clerk, PASSWORD, CLIENT)
    assert locked.value.message == REFUSED
    sixth = _events_since(db, mark)
    assert _actions(sixth) == [("signin.failure", "refused")]
    assert json.loads(sixth[0]["details"]) == {"reason": "locked"}
    assert verify(db).ok


def test_the_lock_ends_when_its_time_is_up(db: Database, settings: Settings, clerk: str) -> None:
    short = settings.with_(lockout_minutes=0.01)  # 0.6 seconds
    for _ in range(short.lockout_threshold):
        with pytest.raises(Refused):
            sign_in(db, short, clerk, "wrong-password-000", CLIENT)
    mark = last_seq(db)
    with pytest.raises(Refused):
        sign_in(db, short, clerk, PASSWORD, CLIENT)
    assert json.loads(_events_since(db, mark)[0]["details"]) == {"reason": "locked"}
    time.sleep(1.0)
    ident = sign_in(db, short, clerk, PASSWORD, CLIENT)
    assert ident.login == clerk
    user = _user(db, clerk)
    assert (user.failed_count, user.locked_until) == (0, None)


def test_disabled_account_is_refused(db: Database, settings: Settings, clerk: str) -> None:
    disable_user(db, ADMIN, clerk)
    before = last_seq(db)
    with pytest.raises(Refused, match=REFUSED):
        sign_in(db, settings, clerk, PASSWORD, CLIENT)
    events = _events_since(db, before)
    assert _actions(events) == [("signin.failure", "refused")]
    assert json.loads(events[0]["details"]) == {"reason": "disabled"}


def test_a_hash_from_another_profile_is_upgraded_on_sign_in(
    db: Database, settings: Settings, clerk: str
) -> None:
    old = _user(db, clerk).password_hash  # made with the cheap "test" profile
    assert "m=65536" not in old
    default = settings.with_(argon2_profile="rfc9106_low_memory")
    sign_in(db, default, clerk, PASSWORD, CLIENT)
    new = _user(db, clerk).password_hash
    assert new != old and new.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    # Still the same password, now under the new parameters; no further rehash.
    sign_in(db, default, clerk, PASSWORD, CLIENT)
    assert _user(db, clerk).password_hash == new


def test_unlock_wrong_then_right(db: Database, settings: Settings, clerk: str) -> None:
    ident = sign_in(db, settings, clerk, PASSWORD, CLIENT)
    lock(db, ident, "ctrl+l")
    with db.read() as s:
        assert s.get(ConsoleSession, ident.session_id).locked  # type: ignore[union-attr]
    before = last_seq(db)
    with pytest.raises(Refused):
        unlock(db, settings, ident, "not-the-password")
    assert _actions(_events_since(db, before)) == [("session.unlock", "failure")]
    assert _user(db, clerk).failed_count == 1

    mark = last_seq(db)
    unlock(db, settings, ident, PASSWORD)
    assert _actions(_events_since(db, mark)) == [("session.unlock", "success")]
    with db.read() as s:
        cs = s.get(ConsoleSession, ident.session_id)
        assert cs is not None and not cs.locked
    assert _user(db, clerk).failed_count == 0


def test_unlock_failures_count_toward_lockout_and_end_the_session(
    db: Database, settings: Settings, clerk: str
) -> None:
    ident = sign_in(db, settings, clerk, PASSWORD, CLIENT)
    lock(db, ident)
    for _ in range(settings.lockout_threshold):
        with pytest.raises(Refused):
            unlock(db, settings, ident, "not-the-password")
    assert check_session(db, settings, ident) is SessionState.ENDED
    with pytest.raises(Refused):
        unlock(db, settings, ident, PASSWORD)


def test_a_session_past_its_limit_is_ended_and_recorded(
    db: Database, settings: Settings, clerk: str
) -> None:
    brief = settings.with_(session_max_hours=0.0001)  # 0.36 seconds
    ident = sign_in(db, brief, clerk, PASSWORD, CLIENT)
    assert check_session(db, brief, ident) is SessionState.ACTIVE
    time.sleep(0.6)
    before = last_seq(db)
    assert check_session(db, brief, ident) is SessionState.EXPIRED
    events = _events_since(db, before)
    assert _actions(events) == [("session.expire", "success")]
    assert events[0]["session_id"] == ident.session_id
    with db.read() as s:
        cs = s.get(ConsoleSession, ident.session_id)
        assert cs is not None and cs.end_reason == "expired" and cs.ended_at is not None
    # Ended once: asking again records nothing more.
    assert check_session(db, brief, ident) is SessionState.ENDED
    assert last_seq(db) == before + 1


def test_disabling_ends_a_running_session(
    db: Database, settings: Settings, clerk: str
) -> None:
    ident = sign_in(db, settings, clerk, PASSWORD, CLIENT)
    disable_user(db, ADMIN, clerk)
    assert check_session(db, settings, ident) is SessionState.DISABLED
    assert check_session(db, settings, ident) is SessionState.ENDED


def test_sign_out_ends_the_session(db: Database, settings: Settings, clerk: str) -> None:
    ident: Identity = sign_in(db, settings, clerk, PASSWORD, CLIENT)
    before = last_seq(db)
    sign_out(db, ident)
    assert _actions(_events_since(db, before)) == [("signout", "success")]
    assert check_session(db, settings, ident) is SessionState.ENDED


def _refusal(db: Database, settings: Settings, login: str, password: str) -> tuple[str, str]:
    """(the message shown, the reason the trail keeps) of one refused sign-in."""
    mark = last_seq(db)
    with pytest.raises(Refused) as refused:
        sign_in(db, settings, login, password, CLIENT)
    failures = [e for e in _events_since(db, mark) if e["action"] == "signin.failure"]
    assert len(failures) == 1 and failures[0]["target"] == login
    return refused.value.message, json.loads(failures[0]["details"])["reason"]


def test_unknown_locked_and_disabled_logins_read_like_a_wrong_password(
    db: Database, settings: Settings, clerk: str
) -> None:
    """Nothing on the screen tells an existing login from an unknown one: not the fifth
    failure (the lockout), not a locked or a disabled account. The trail says which."""
    add_user(db, settings, ADMIN, login="suzuki", name="鈴木 花子", roles=["clerk"],
             password=PASSWORD)
    disable_user(db, ADMIN, "suzuki")
    seen: list[tuple[str, str, str]] = []
    for attempt in range(settings.lockout_threshold + 1):
        seen.append(("nobody", *_refusal(db, settings, "nobody", f"wrong-{attempt:02d}-pass")))
    for attempt in range(settings.lockout_threshold):
        seen.append((clerk, *_refusal(db, settings, clerk, f"wrong-{attempt:02d}-pass")))
    assert _user(db, clerk).locked_until is not None
    seen.append((clerk, *_refusal(db, settings, clerk, PASSWORD)))
    seen.append(("suzuki", *_refusal(db, settings, "suzuki", PASSWORD)))

    assert len({message for _, message, _ in seen}) == 1, seen
    assert [(who, reason) for who, _, reason in seen] == (
        [("nobody", "unknown_login")] * (settings.lockout_threshold + 1)
        + [(clerk, "wrong_password")] * settings.lockout_threshold
        + [(clerk, "locked"), ("suzuki", "disabled")]
    )
    lockouts = [e for e in events_after(db, 0, 10_000) if e["action"] == "signin.lockout"]
    assert [e["target"] for e in lockouts] == [clerk]


def test_every_refused_sign_in_costs_one_password_check(
    db: Database, settings: Settings, clerk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown, locked and disabled logins do the argon2 work a wrong password does, so
    the time of the answer does not tell them apart either (no clock is read here)."""
    from argon2 import PasswordHasher

    add_user(db, settings, ADMIN, login="suzuki", name="鈴木 花子", roles=["clerk"],
             password=PASSWORD)
    disable_user(db, ADMIN, "suzuki")
    add_user(db, settings, ADMIN, login="kato", name="加藤 二郎", roles=["clerk"],
             password=PASSWORD)
    for _ in range(settings.lockout_threshold):
        with pytest.raises(Refused):
            sign_in(db, settings, "kato", "wrong-password-000", CLIENT)

    calls: list[str] = []
    verify = PasswordHasher.verify

    def counting(self: PasswordHasher, stored: str, password: str) -> bool:
        calls.append(password)
        return verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    work: dict[str, int] = {}
    for name, login, password in (
        ("wrong password", clerk, "wrong-password-000"),
        ("unknown", "nobody", PASSWORD),
        ("locked", "kato", PASSWORD),
        ("disabled", "suzuki", PASSWORD),
    ):
        calls.clear()
        with pytest.raises(Refused):
            sign_in(db, settings, login, password, CLIENT)
        work[name] = len(calls)
    assert work == {"wrong password": 1, "unknown": 1, "locked": 1, "disabled": 1}


def test_a_cli_operator_through_sudo_is_named_beside_the_service_account() -> None:
    """One service account: ``sudo -u juki juki …`` still names the person in the trail."""
    env = {"USER": "juki", "LOGNAME": "juki", "SUDO_USER": "tanaka"}
    assert Actor.cli(env).login == "os:juki sudo:tanaka"
    assert Actor.cli({"USER": "juki", "LOGNAME": "juki"}).login == "os:juki"
    assert Actor.cli({"USER": "root", "LOGNAME": "root", "SUDO_USER": "root"}).login == "os:root"
