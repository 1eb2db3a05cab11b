"""Transfer state: one row per transfer run and one per batch, so a retry resumes.

A run is planned whole before anything is sent: the residents it carries, split into
batches, each with an idempotency key. A batch turns ``sent`` only when the receiver
acknowledged its key, so a run cut short (the receiver down, the sender killed) is
resumed by sending the batches still ``pending``, under the same keys; a receiver that
dedupes by key therefore stores each batch once. At most one run per destination is
open (a partial unique index); a new one is planned only when none is.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

RUN_OPEN = "open"
RUN_DONE = "done"
RUN_ABANDONED = "abandoned"
BATCH_PENDING = "pending"
BATCH_SENT = "sent"

_OPEN = text("status = 'open'")


class TransferRun(SQLModel, table=True):
    __tablename__ = "transfer_run"
    __table_args__ = (
        Index("uq_transfer_run_open", "destination", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
    )

    id: int | None = Field(default=None, primary_key=True)
    destination: str = Field(max_length=32, index=True)
    destination_name: str = Field(max_length=100)
    endpoint: str = Field(max_length=300)
    items: str = Field(sa_type=Text)  # JSON list, the allowlist when planned
    basis: str = Field(sa_type=Text)  # JSON object item → legal basis
    rule: str = Field(max_length=16)  # since / after_run / all
    since: date | None = Field(default=None, sa_type=Date)
    after_change: int = Field(default=0)  # changes with a higher id were taken (after_run)
    watermark: int = Field(default=0)  # highest resident_change id when planned
    records: int = Field(default=0)
    batches: int = Field(default=0)
    status: str = Field(default=RUN_OPEN, max_length=10, index=True)
    attempts: int = Field(default=0)  # sends of this run (the first and each resume)
    last_error: str = Field(default="", sa_type=Text)
    planned_by: str = Field(max_length=200)
    planned_at: datetime = Field(sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class TransferBatch(SQLModel, table=True):
    __tablename__ = "transfer_batch"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_transfer_batch_run_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="transfer_run.id", index=True)
    seq: int
    key: str = Field(max_length=64, unique=True)  # the idempotency key
    resident_ids: str = Field(sa_type=Text)  # JSON list
    records: int
    status: str = Field(default=BATCH_PENDING, max_length=10)
    attempts: int = Field(default=0)
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
