"""Wiring: settings → database → audit stream, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from core.db import Database
from core.settings import Settings, load_settings
from logs import stream


@dataclass
class Context:
    settings: Settings
    db: Database

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> Context:
        settings = settings or load_settings()
        db = Database(
            settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        stream.configure(settings.resolved_audit_jsonl)
        return cls(settings=settings, db=db)
