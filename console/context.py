"""Wiring: settings → database → audit stream and anchors, built once per process.

The database handle is built on first use, not at start: importing SQLAlchemy and
SQLModel costs about a quarter of a second, and the sign-in screen should paint before
that (the app touches ``ctx.db`` from a worker once the form is up; bench/startup).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from auth.ssh_pubkey import presented_fingerprints
from core.settings import Settings, load_settings

if TYPE_CHECKING:
    from core.db import Database


class Context:
    def __init__(
        self, settings: Settings, db: Database | None = None, *,
        ssh_keys: tuple[str, ...] = (), door_login: str | None = None,
    ) -> None:
        self.settings = settings
        self._db = db
        self._lock = threading.Lock()
        self.ssh_keys = ssh_keys
        """Fingerprints of the SSH keys sshd says opened this connection (sign-in binding)."""
        self.door_login = door_login
        """The account the SSH door let this connection's key open (``juki connect --key``):
        the sign-in screen shows it fixed and asks only the password. None: typed."""

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> Context:
        # Read at start: sshd removes the SSH_USER_AUTH file when the connection ends.
        return cls(settings or load_settings(), ssh_keys=presented_fingerprints(os.environ))

    @property
    def db(self) -> Database:
        if self._db is None:
            with self._lock:
                if self._db is None:
                    # on use (start-up time): SQLAlchemy loads after the first paint
                    from core.db import Database
                    from logs import anchor, stream

                    jsonl = self.settings.resolved_audit_jsonl
                    stream.configure(jsonl)
                    # Each committed event is witnessed outside the database before the
                    # act returns: by its JSON-lines line, or else by an anchor per commit.
                    anchor.configure(
                        self.settings.resolved_audit_anchor,
                        self.settings.audit_anchor_every_events,
                        self.settings.audit_anchor_every_seconds,
                        each_commit=jsonl is None,
                        key_file=self.settings.resolved_audit_signing_key_file,
                    )
                    self._db = Database.for_settings(
                        self.settings, busy_timeout_ms=self.settings.sqlite_busy_timeout_ms,
                    )
        return self._db
