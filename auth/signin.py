"""Sign-in, lock, unlock, sign-out and session expiry — each recorded in the trail.

A refusal still commits its bookkeeping (failure count, lockout, audit event) before it
is raised, so an attacker cannot erase their attempts by making the act fail.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, select

from auth.accounts import roles_of
from auth.identity import Identity
from auth.models import ConsoleSession, User
from auth.passwords import hash_password, needs_rehash, verify_password
from auth.ssh_keys import binding_refusal, refusal_details
from core.actor import Actor
from core.clock import aware, now
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from logs.audit import record

WRONG = "ログイン名またはパスワードが違います。"
REFUSED = "ログイン名またはパスワードが違うか、アカウントがロックまたは無効になっています。"
"""Every refused sign-in but a key refusal: whether the login exists is not told."""


class SessionState(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    REVOKED = "revoked"  # ended because the account's rights changed (a leaver, a mover)
    EXPIRED = "expired"
    DISABLED = "disabled"


def dummy_hash(profile: str) -> str:
    """The hash verified against when the login is unknown, so timing does not reveal
    accounts. Made once per process (an argon2 hash costs as much as a sign-in); the
    console server makes it before it forks, so no console pays for it."""
    made = _DUMMY.get(profile)
    if made is None:
        made = _DUMMY[profile] = hash_password(secrets.token_hex(16), profile)
    return made


_DUMMY: dict[str, str] = {}


def _actor_for(login: str, client_addr: str) -> Actor:
    return Actor(login=login, client_addr=client_addr)


def _register_failure(s: Session, settings: Settings, user: User, client_addr: str) -> str:
    """Count a failed password; lock the account at the threshold. Returns the message."""
    current = now()
    user.failed_count += 1
    actor = _actor_for(user.login, client_addr)
    message = WRONG
    if user.failed_count >= settings.lockout_threshold:
        user.locked_until = current + timedelta(minutes=settings.lockout_minutes)
        record(
            s, actor, "signin.lockout", target=user.login, outcome="alert", severity="warning",
            details={"failures": user.failed_count, "minutes": settings.lockout_minutes},
        )
        user.failed_count = 0
        message = (
            f"{settings.lockout_threshold}回続けて失敗したため、アカウントを"
            f"{settings.lockout_minutes:g}分間ロックしました。"
        )
    s.add(user)
    return message


def _check_password(
    db: Database, settings: Settings, user_id: int | None, password: str
) -> tuple[bool, str | None]:
    """Verify outside any transaction (argon2 takes ~0.1 s; no write lock is held).

    Returns (password ok, a new hash when the parameters changed).
    """
    profile = settings.argon2_profile
    stored = None
    if user_id is not None:
        with db.read() as s:
            user = s.get(User, user_id)
            stored = user.password_hash if user is not None else None
    if stored is None:
        verify_password(dummy_hash(profile), password, profile)  # same timing as a miss
        return False, None
    ok = verify_password(stored, password, profile)
    rehash = hash_password(password, profile) if ok and needs_rehash(stored, profile) else None
    return ok, rehash


def _is_locked(user: User, current: datetime) -> bool:
    return bool(user.locked_until and aware(user.locked_until) > current)


def _barred(user: User | None, current: datetime) -> str | None:
    """Why ``user`` may not sign in whatever the password (the trail's reason), or None."""
    if user is None:
        return "unknown_login"
    if user.disabled:
        return "disabled"
    return "locked" if _is_locked(user, current) else None


def sign_in(
    db: Database, settings: Settings, login: str, password: str, client_addr: str = "",
    *, ssh_keys: Sequence[str] = (),
) -> Identity:
    """Check the password and open a console session, or raise ``Refused``.

    An unknown login, a locked or disabled account and a wrong password get the same
    answer (``REFUSED``, also on the failure that locks) after the same work — one argon2
    verify, against the dummy hash when the account may not sign in — so neither the
    words nor the time of the answer say whether a login exists. The trail keeps the
    reason (unknown_login, locked, disabled, wrong_password) and the lockout.

    The password is checked before the write transaction; the decision is then taken
    on the account as it is inside the transaction (row-locked on PostgreSQL), so a
    lock or a disable that landed meanwhile wins.

    ``ssh_keys``: fingerprints of the SSH keys that authenticated the connection
    (``auth.ssh_pubkey.presented_fingerprints``). A key bound to another account is
    refused without looking at the password (``auth.ssh_keys``, ``ssh_key_binding``).
    """
    ssh_keys = tuple(ssh_keys)
    profile = settings.argon2_profile
    dummy = dummy_hash(profile)  # made first: the first sign-in costs the same for anyone
    with db.read() as s:
        found = s.exec(select(User).where(User.login == login)).first()
        user_id = found.id if found is not None else None
        barred = _barred(found, now())
        if barred is None and binding_refusal(s, settings, login, ssh_keys) is not None:
            barred = "ssh_key_refused"
        stored = found.password_hash if found is not None and barred is None else dummy
    ok = verify_password(stored, password, profile) and barred is None
    rehash = hash_password(password, profile) if ok and needs_rehash(stored, profile) else None

    refusal: str | None = None
    identity: Identity | None = None
    with db.write() as s:
        current = now()
        user = s.get(User, user_id, with_for_update=True) if user_id is not None else None
        actor = _actor_for(login, client_addr)
        key_refusal = binding_refusal(s, settings, login, ssh_keys)
        if key_refusal is not None:
            record(s, actor, "signin.failure", target=login, outcome="refused",
                   severity="warning", details=refusal_details(key_refusal, ssh_keys))
            refusal = key_refusal.message
        elif user is None:
            record(s, actor, "signin.failure", target=login, outcome="failure",
                   details={"reason": "unknown_login"})
            refusal = REFUSED
        elif user.disabled:
            record(s, actor, "signin.failure", target=login, outcome="refused",
                   details={"reason": "disabled"})
            refusal = REFUSED
        elif _is_locked(user, current) or barred is not None:
            # barred: the account could not sign in when the password was to be checked
            # (and can since); the password was not looked at, so no failure counts.
            record(s, actor, "signin.failure", target=login, outcome="refused",
                   details={"reason": "locked" if _is_locked(user, current) else barred})
            refusal = REFUSED
        elif not ok:
            record(s, actor, "signin.failure", target=login, outcome="failure",
                   details={"reason": "wrong_password"})
            _register_failure(s, settings, user, client_addr)  # its lockout words are unlock's
            refusal = REFUSED
        else:
            if rehash is not None:
                user.password_hash = rehash
            user.failed_count = 0
            user.locked_until = None
            user.last_signin_at = current
            s.add(user)
            sid = secrets.token_hex(16)
            s.add(ConsoleSession(
                id=sid, user_id=user.id or 0, client_addr=client_addr,
                started_at=current, last_auth_at=current,
            ))
            identity = Identity(
                user_id=user.id or 0, login=user.login, name=user.name,
                department=user.department, roles=roles_of(s, user.id or 0),
                session_id=sid, client_addr=client_addr, started_at=current,
            )
            record(s, identity.actor, "signin.success", target=login,
                   details={"ssh_key": ssh_keys[0]} if ssh_keys else {})
    if refusal is not None:
        raise Refused(refusal)
    assert identity is not None
    return identity


def lock(db: Database, ident: Identity, reason: str = "idle") -> None:
    """The screen locked (idle or ctrl+l); the session stays open."""
    with db.write() as s:
        cs = s.get(ConsoleSession, ident.session_id)
        if cs is not None:
            cs.locked = True
            s.add(cs)
        record(s, ident.actor, "session.lock", target=ident.login, details={"reason": reason})


def unlock(db: Database, settings: Settings, ident: Identity, password: str) -> None:
    """Ask the password again; failures count toward the account lockout."""
    ok, _ = _check_password(db, settings, ident.user_id, password)
    refusal: str | None = None
    with db.write() as s:
        user = s.get(User, ident.user_id, with_for_update=True)
        cs = s.get(ConsoleSession, ident.session_id)
        if user is None or cs is None or cs.ended_at is not None:
            refusal = "このセッションは終了しています。もう一度サインインしてください。"
            record(s, ident.actor, "session.unlock", outcome="refused",
                   details={"reason": "session_ended"})
        elif user.disabled:
            refusal = "このアカウントは無効にされています。"
            record(s, ident.actor, "session.unlock", outcome="refused",
                   details={"reason": "disabled"})
            _end(s, cs, ident, "disabled")
        elif not ok:
            record(s, ident.actor, "session.unlock", outcome="failure",
                   details={"reason": "wrong_password"})
            refusal = _register_failure(s, settings, user, ident.client_addr)
            if user.locked_until is not None and aware(user.locked_until) > now():
                _end(s, cs, ident, "lockout")
        else:
            current = now()
            user.failed_count = 0
            cs.locked = False
            cs.last_auth_at = current
            s.add_all([user, cs])
            record(s, ident.actor, "session.unlock", target=ident.login)
    if refusal is not None:
        raise Refused(refusal)


def _end(s: Session, cs: ConsoleSession, ident: Identity, reason: str) -> None:
    cs.ended_at = now()
    cs.end_reason = reason
    s.add(cs)
    action = "session.expire" if reason == "expired" else "session.end"
    if reason == "signout":
        action = "signout"
    record(s, ident.actor, action, target=ident.login, details={"reason": reason})


def sign_out(db: Database, ident: Identity, reason: str = "signout") -> None:
    """End the session once: a second call (a hang-up recorded early, then the exit path)
    finds it ended under the row lock and records nothing more."""
    with db.write() as s:
        cs = s.get(ConsoleSession, ident.session_id, with_for_update=True)
        if cs is not None and cs.ended_at is None:
            _end(s, cs, ident, reason)


def check_session(db: Database, settings: Settings, ident: Identity) -> SessionState:
    """Is the session still good? Ends it (and records why) when its time is up."""
    current = now()
    with db.read() as s:
        cs = s.get(ConsoleSession, ident.session_id)
        user = s.get(User, ident.user_id)
        if cs is None or cs.ended_at is not None:
            if cs is not None and cs.end_reason == "revoked":
                return SessionState.REVOKED
            return SessionState.ENDED
        expired = aware(cs.started_at) + timedelta(hours=settings.session_max_hours) <= current
        disabled = user is None or user.disabled
    if expired or disabled:
        reason = "expired" if expired else "disabled"
        with db.write() as s:
            cs = s.get(ConsoleSession, ident.session_id)
            if cs is not None and cs.ended_at is None:
                _end(s, cs, ident, reason)
        return SessionState.EXPIRED if expired else SessionState.DISABLED
    return SessionState.ACTIVE
