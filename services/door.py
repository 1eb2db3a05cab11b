"""The SSH door: may this key enter today? One rule, for sshd and for the console's start.

sshd asks ``juki ssh authorized-keys`` (its AuthorizedKeysCommand) about every key a client
offers; ``authorized_line`` answers with one authorized_keys line, or nothing. The line
lets the key in only to the forced command (``restrict,pty,command=…``), which names the
key's fingerprint, so the console opens the key's account and no other. A console started
with that fingerprint checks the same rule again (``door_login``): an account may become
barred between sshd's question and the console's start.

A key may enter when it is bound to an account (``auth.ssh_keys``), the account is not
disabled (a leaver's account is disabled by apply-due), and the staff record linked to the
account is not a contract (委託先, 会計年度任用) whose contract_end is before today's office
day (JST). A refused bound key is recorded (``ssh.door``, refused: the reason, the
fingerprint and where, ``sshd`` or ``console``; the key's login as actor and target, as a
refused sign-in names the login typed). An unknown key is not recorded at sshd: sshd logs
it, and an internet scan must not flood the trail. sshd asks about a key before the
client proves it holds the private half, and a public key is no secret, so the same
refusal at sshd is recorded at most once a minute per account.
"""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel import Session

from auth.models import User, UserSshKey
from auth.ssh_pubkey import KEY_TYPES, KeyLineError, parse_key
from core.actor import Actor
from core.clock import iso, now, today_in_japan
from core.db import Database, columns, table
from core.settings import Settings, SettingsError
from logs.audit import AuditEvent, record_alone
from services.personnel.models import CONTRACT_TYPES, Staff

ACTION = "ssh.door"
REFUSED_AT_START = (
    "この SSH 鍵ではコンソールを開けません (鍵が登録されていないか、アカウントが利用停止または"
    "契約期間の終了後です)。管理者に連絡してください。"
)
"""What a console started with a refused key says (it does not name the account)."""
THROTTLE = timedelta(minutes=1)
"""At sshd, one refusal of an account's key is recorded per this window."""

MAX_KEY = 16384  # characters of base64: far above any real public key
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_U, _K, _S, _A = (columns(t) for t in (User, UserSshKey, Staff, AuditEvent))


@dataclass(frozen=True)
class Knock:
    """A bound key at the door: whose it is, and why it may not enter (None: it may)."""

    login: str
    refusal: str | None  # "disabled" | "contract_ended"


def knock(s: Session, fingerprint: str, today: date) -> Knock | None:
    """The rule on one read: None when the key is bound to no account."""
    row = s.connection().execute(
        select(_U.login, _U.disabled, _S.employment, _S.contract_end)
        .select_from(table(UserSshKey)
                     .join(table(User), _U.id == _K.user_id)
                     .outerjoin(table(Staff), _S.user_id == _U.id))
        .where(_K.fingerprint == fingerprint)
    ).first()
    if row is None:
        return None
    if row.disabled:
        return Knock(row.login, "disabled")
    end = row.contract_end
    if row.employment in CONTRACT_TYPES and end is not None and end < today:
        return Knock(row.login, "contract_ended")
    return Knock(row.login, None)


def admitted_login(s: Session, fingerprint: str, today: date) -> str | None:
    """The login ``fingerprint``'s key opens on ``today`` (an office day, JST), or None."""
    found = knock(s, fingerprint, today)
    return found.login if found is not None and found.refusal is None else None


def door_login(db: Database, fingerprint: str) -> str | None:
    """``admitted_login`` today, for a console started with a forced key; a refusal is
    recorded (``ssh.door``, ``at: console``), an unbound key too (sshd let it in, so its
    binding went since; the fingerprint is the actor). The caller shows
    ``REFUSED_AT_START`` and exits."""
    return _decide(db, fingerprint, "console")


def authorized_line(
    db: Database, settings: Settings, os_user: str, key_type: str, key_b64: str,
) -> str:
    """sshd's answer for the key ``key_type key_b64`` offered to OS user ``os_user``:
    the authorized_keys line, or '' (the key may not enter).

    Only the service account — the OS user this runs as — gets a line: a key opens the
    console, never another OS account. A key that does not parse gets ''. A bad
    ``ssh_connect_command`` raises ``SettingsError`` (the line could not be written)."""
    command = connect_command(settings)
    if os_user != service_account():
        return ""
    fingerprint = fingerprint_of_offer(key_type, key_b64)
    if fingerprint is None:
        return ""
    if _decide(db, fingerprint, "sshd") is None:
        return ""
    return f'restrict,pty,command="{command} --key {fingerprint}" {key_type} {key_b64}'


def service_account() -> str:
    """The OS user this process runs as: the one account sshd may open with a key line."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no passwd entry owns no service account
        return ""


def fingerprint_of_offer(key_type: str, key_b64: str) -> str | None:
    """The fingerprint of the key sshd passed (%t, %k), or None when it is not a key."""
    if key_type not in KEY_TYPES or len(key_b64) > MAX_KEY or not _B64.fullmatch(key_b64):
        return None
    try:
        return parse_key(f"{key_type} {key_b64}").fingerprint
    except KeyLineError:
        return None


def connect_command(settings: Settings) -> str:
    """``ssh_connect_command``, checked: it goes inside a double-quoted option."""
    command = settings.ssh_connect_command.strip()
    if not command or any(c in command for c in '"\\') or not command.isprintable():
        raise SettingsError(
            f"設定 ssh_connect_command の値 {settings.ssh_connect_command!r} は使えません"
            " (空、または \" \\ 制御文字を含んでいます)。"
        )
    return command


def _decide(db: Database, fingerprint: str, at: str) -> str | None:
    """The login, or None; a refusal is recorded (see the module docstring)."""
    with db.read() as s:
        found = knock(s, fingerprint, today_in_japan())  # the office day (JST)
        if found is not None and found.refusal is None:
            return found.login
        if found is None and at == "sshd":
            return None  # an unknown key at sshd: not recorded
        if found is not None and at == "sshd" and _recently_refused(s, found.login):
            return None
    login = found.login if found is not None else ""
    record_alone(
        db, Actor(login=login or fingerprint), ACTION, target=login, outcome="refused",
        severity="warning", details={
            "reason": found.refusal if found is not None else "unbound",
            "fingerprint": fingerprint, "at": at,
        },
    )
    return None


def _recently_refused(s: Session, login: str) -> bool:
    since = iso(now() - THROTTLE)
    return s.connection().execute(
        select(_A.seq).where(_A.action == ACTION, _A.target == login, _A.ts >= since)
        .limit(1)
    ).first() is not None


__all__ = [
    "ACTION", "REFUSED_AT_START", "Knock", "admitted_login", "authorized_line",
    "connect_command", "door_login", "fingerprint_of_offer", "knock", "service_account",
]
