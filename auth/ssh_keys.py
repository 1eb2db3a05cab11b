"""SSH keys bound to accounts: one person, one key, one account.

An admin binds a key's fingerprint to an account (``juki user key add``); at sign-in
the console passes the fingerprints sshd reports for the connection (``SSH_USER_AUTH``,
read by ``auth.ssh_pubkey``) and ``binding_refusal`` decides with the setting
``ssh_key_binding``:

- ``optional`` (default): a key bound to some account opens only that account; an
  unbound key, or no key (a password login, a local terminal), signs in as before.
- ``required``: the connection must have used a key bound to the login.
- ``off``: keys are not looked at.

The answer does not depend on whether the typed login exists, and a refusal never
names the account the key belongs to. Every refusal is recorded with the fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from auth.models import User, UserSshKey
from auth.ssh_pubkey import KeyLineError, fingerprint_of, parse_key_file
from core.actor import Actor
from core.clock import now
from core.db import Database
from core.errors import BadInput, NotFound, Refused
from core.freetext import mask_my_numbers
from core.settings import Settings
from logs.audit import record, record_alone

MODES = ("required", "optional", "off")
KEY_MISMATCH = "この SSH 鍵では、このアカウントにはサインインできません。"
KEY_MISSING = "SSH 鍵による接続が必要です。登録された鍵で接続してください。"
KEY_UNBOUND = "この SSH 鍵は登録されていません。管理者に鍵の登録を依頼してください。"


@dataclass(frozen=True)
class BoundKey:
    fingerprint: str
    key_type: str
    comment: str
    added_at: datetime


@dataclass(frozen=True)
class KeyRefusal:
    reason: str  # ssh_key_mismatch, ssh_key_missing, ssh_key_unbound, ssh_key_setting
    message: str


def binding_mode(settings: Settings) -> str:
    mode = settings.ssh_key_binding.strip().lower()
    if mode not in MODES:  # fail closed, and say which setting is wrong
        raise Refused(
            f"設定 ssh_key_binding の値 {settings.ssh_key_binding!r} は使えません"
            f" ({', '.join(MODES)} のいずれか)。管理者に連絡してください。"
        )
    return mode


def binding_refusal(
    s: Session, settings: Settings, login: str, fingerprints: Sequence[str]
) -> KeyRefusal | None:
    """None when the keys used (``fingerprints``) allow a sign-in as ``login``."""
    try:
        mode = binding_mode(settings)
    except Refused as exc:
        return KeyRefusal("ssh_key_setting", exc.message)
    if mode == "off":
        return None
    owners: set[str] = set()
    if fingerprints:
        rows = s.exec(
            select(User.login).join(UserSshKey, col(UserSshKey.user_id) == User.id)
            .where(col(UserSshKey.fingerprint).in_(list(fingerprints)))
        ).all()
        owners = set(rows)
    if login in owners:
        return None
    if owners:
        return KeyRefusal("ssh_key_mismatch", KEY_MISMATCH)
    if mode == "optional":
        return None
    if not fingerprints:
        return KeyRefusal("ssh_key_missing", KEY_MISSING)
    return KeyRefusal("ssh_key_unbound", KEY_UNBOUND)


def refusal_details(refusal: KeyRefusal, fingerprints: Sequence[str]) -> dict[str, object]:
    details: dict[str, object] = {"reason": refusal.reason}
    if fingerprints:
        details["fingerprint"] = fingerprints[0]
    if len(fingerprints) > 1:
        details["fingerprints"] = list(fingerprints)
    return details


def _user(s: Session, login: str) -> User | None:
    return s.exec(select(User).where(User.login == login)).first()


def add_keys(db: Database, actor: Actor, login: str, text: str, name: str) -> list[BoundKey]:
    """Bind every key of a public-key file to ``login``; all or nothing.

    A bad line (exit 2) names the file and line. A key already bound — to this account or
    another — is refused (exit 1): one key opens one account.
    """
    try:
        keys = parse_key_file(text, name)
    except KeyLineError as exc:
        record_alone(db, actor, "user.key.add", target=login, outcome="refused",
                     details={"reason": "bad_file", "file": name})
        raise BadInput(str(exc)) from None
    refusal: str | None = None
    added: list[BoundKey] = []
    named: list[str] = []
    try:
        with db.write() as s:
            user = _user(s, login)
            fps = [k.fingerprint for k in keys]
            taken = s.exec(select(UserSshKey.fingerprint, User.login).join(
                User, col(UserSshKey.user_id) == User.id,
            ).where(col(UserSshKey.fingerprint).in_(fps))).all()
            if user is None:
                refusal = "unknown_login"
            elif taken or len(set(fps)) != len(fps):
                refusal = "already_bound"
                where = {fp: owner for fp, owner in taken}
                named = [f"{fp} ({where[fp]})" for fp in fps if fp in where]
            else:
                current = now()
                for k in keys:
                    comment = mask_my_numbers(k.comment[:200])
                    s.add(UserSshKey(user_id=user.id or 0, fingerprint=k.fingerprint,
                                     key_type=k.key_type, comment=comment,
                                     added_at=current))
                    added.append(BoundKey(k.fingerprint, k.key_type, comment, current))
                record(s, actor, "user.key.add", target=login, details={
                    "fingerprints": fps, "file": name,
                })
    except IntegrityError:  # the same key bound by someone else just now
        refusal = "already_bound"
    if refusal == "unknown_login":
        record_alone(db, actor, "user.key.add", target=login, outcome="refused",
                     details={"reason": "unknown login"})
        raise NotFound(f"ログイン名 {login} のアカウントはありません。")
    if refusal == "already_bound":
        record_alone(db, actor, "user.key.add", target=login, outcome="refused",
                     details={"reason": "already_bound",
                              "fingerprints": [k.fingerprint for k in keys]})
        raise Refused("この鍵は既に登録されています (1つの鍵は1つのアカウントにだけ登録できます): "
                      + (", ".join(named) or "同じ鍵がファイルに2回あります"))
    return added


def list_keys(db: Database, login: str) -> list[BoundKey]:
    with db.read() as s:
        user = _user(s, login)
        if user is None:
            raise NotFound(f"ログイン名 {login} のアカウントはありません。")
        rows = s.exec(select(UserSshKey).where(UserSshKey.user_id == user.id)
                      .order_by(col(UserSshKey.added_at), col(UserSshKey.id))).all()
        return [BoundKey(r.fingerprint, r.key_type, r.comment, r.added_at) for r in rows]


def remove_key(db: Database, actor: Actor, login: str, fingerprint: str) -> None:
    with db.write() as s:
        user = _user(s, login)
        row = None
        if user is not None:
            row = s.exec(select(UserSshKey).where(
                UserSshKey.user_id == user.id, UserSshKey.fingerprint == fingerprint,
            )).first()
        if row is not None:
            s.delete(row)
            record(s, actor, "user.key.remove", target=login,
                   details={"fingerprint": fingerprint})
    if row is None:
        record_alone(db, actor, "user.key.remove", target=login, outcome="refused",
                     details={"reason": "not_found", "fingerprint": fingerprint})
        raise NotFound(f"ログイン名 {login} に鍵 {fingerprint} は登録されていません。")


__all__ = [
    "BoundKey", "KeyRefusal", "add_keys", "binding_refusal", "fingerprint_of", "list_keys",
    "refusal_details", "remove_key",
]
