"""What the register import has applied: each file once (by SHA-256), each change once.

``register_import`` holds one row per applied file, so the same file given twice changes
nothing the second time; ``register_import_change`` holds the natural key of each
applied change (住民票コード, 変更区分, 異動日, 届出日 and the row's items, hashed), so a
change that arrives again in a later, overlapping file is skipped too. The linkage
drift line (``services.linkage.check.drift_lines``) reads the residents changed here.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Text
from sqlmodel import Field, SQLModel

MODE_FULL = "full"
MODE_CHANGES = "changes"


class RegisterImport(SQLModel, table=True):
    """One applied register file (全件 or 異動分)."""

    __tablename__ = "register_import"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True, index=True)
    mode: str = Field(max_length=8)  # full / changes
    file_name: str = Field(default="", max_length=255)
    rows: int = Field(default=0)
    counts: str = Field(default="{}", sa_type=Text)  # JSON: 変更区分 → rows applied
    imported_at: datetime = Field(sa_type=DateTime(timezone=True))
    imported_by: str = Field(default="", max_length=120)


class RegisterImportChange(SQLModel, table=True):
    """One applied change of a daily file, by its natural key."""

    __tablename__ = "register_import_change"

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="register_import.id", index=True)
    change_key: str = Field(max_length=64, unique=True, index=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    kind: str = Field(max_length=8)
    occurred_on: date = Field(sa_type=Date)
