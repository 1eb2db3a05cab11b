"""Account tables: named users, their roles, and their console sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=120)
    department: str = Field(default="", max_length=120)
    password_hash: str = Field(max_length=255)
    disabled: bool = Field(default=False)
    failed_count: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_signin_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class UserRole(SQLModel, table=True):
    __tablename__ = "app_user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    role: str = Field(max_length=32)


class ConsoleSession(SQLModel, table=True):
    __tablename__ = "console_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    client_addr: str = Field(default="", max_length=64)
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_auth_at: datetime = Field(sa_type=DateTime(timezone=True))
    locked: bool = Field(default=False)
    ended_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    end_reason: str = Field(default="", max_length=32)


class UserSshKey(SQLModel, table=True):
    """An SSH public key bound to one account (auth.ssh_keys); a key opens one account."""

    __tablename__ = "user_ssh_key"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    fingerprint: str = Field(max_length=80, unique=True)
    key_type: str = Field(default="", max_length=64)
    comment: str = Field(default="", max_length=200)
    added_at: datetime = Field(sa_type=DateTime(timezone=True))
