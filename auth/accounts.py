"""Named accounts: enrol, list, disable. Every change is recorded with its actor."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from auth.models import User, UserRole
from auth.passwords import hash_password, password_problems
from auth.roles import ROLES, is_role
from core.actor import Actor
from core.clock import aware, now
from core.db import Database
from core.errors import BadInput, NotFound
from core.freetext import field_text
from core.settings import Settings
from logs.audit import record, record_alone

LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    name: str
    department: str
    roles: tuple[str, ...]
    disabled: bool
    locked: bool


def validate_account(
    login: str, name: str, roles: list[str], department: str
) -> tuple[str, str]:
    """The name and department as they may be stored (``core.freetext``), or BadInput."""
    if not LOGIN_RE.match(login):
        raise BadInput(
            "ログイン名: 英小文字・数字・記号 . _ - の2〜64文字で、英数字で始めてください。"
        )
    name = field_text("氏名", name, limit=120, required="1〜120文字で入力してください。")
    department = field_text("所属", department, limit=120)
    if not roles:
        raise BadInput("役割: 少なくとも1つ指定してください。")
    unknown = [r for r in roles if not is_role(r)]
    if unknown:
        names = ", ".join(f"{k} ({v[0]})" for k, v in ROLES.items())
        raise BadInput(f"役割: 不明な役割 {', '.join(unknown)} です。使える役割: {names}")
    return name, department


def add_user(
    db: Database,
    settings: Settings,
    actor: Actor,
    *,
    login: str,
    name: str,
    roles: list[str],
    password: str,
    department: str = "",
) -> Account:
    """Enrol a named account; bad input is refused before anything is written."""
    try:
        name, department = validate_account(login, name, roles, department)
        problems = password_problems(
            password,
            login=login,
            min_length=settings.password_min_length,
            max_length=settings.password_max_length,
        )
        if problems:
            raise BadInput("パスワード: " + " ".join(problems))
        with db.read() as s:
            if s.exec(select(User).where(User.login == login)).first() is not None:
                raise BadInput(f"ログイン名: {login} は既に使われています。")
    except BadInput as exc:
        record_alone(
            db, actor, "user.add", target=login, outcome="refused",
            details={"reason": exc.message},
        )
        raise
    pw_hash = hash_password(password, settings.argon2_profile)
    roles = sorted(set(roles))
    try:
        with db.write() as s:
            user = User(
                login=login, name=name, department=department,
                password_hash=pw_hash, created_at=now(),
            )
            s.add(user)
            s.flush()
            assert user.id is not None
            for role in roles:
                s.add(UserRole(user_id=user.id, role=role))
            record(
                s, actor, "user.add", target=login,
                details={"name": name, "roles": roles, "department": department},
            )
            return Account(user.id, login, name, department, tuple(roles), False, False)
    except IntegrityError as exc:  # the same login enrolled by someone else just now
        message = f"ログイン名: {login} は既に使われています。"
        record_alone(db, actor, "user.add", target=login, outcome="refused",
                     details={"reason": message})
        raise BadInput(message) from exc


def roles_of(session: Session, user_id: int) -> tuple[str, ...]:
    rows = session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).all()
    return tuple(sorted(rows))


def list_users(db: Database) -> list[Account]:
    current = now()
    with db.read() as s:
        users = s.exec(select(User).order_by(User.login)).all()
        return [
            Account(
                u.id or 0, u.login, u.name, u.department, roles_of(s, u.id or 0), u.disabled,
                bool(u.locked_until and aware(u.locked_until) > current),
            )
            for u in users
        ]


def disable_user(db: Database, actor: Actor, login: str) -> None:
    with db.write() as s:
        user = s.exec(select(User).where(User.login == login)).first()
        if user is None:
            missing = True
        else:
            missing = False
            user.disabled = True
            s.add(user)
            record(s, actor, "user.disable", target=login)
    if missing:
        record_alone(
            db, actor, "user.disable", target=login, outcome="refused",
            details={"reason": "unknown login"},
        )
        raise NotFound(f"ログイン名 {login} のアカウントはありません。")

