"""A pooled PostgreSQL connection the server dropped is noticed before an act uses it.

The server ends a backend (a restart, an administrator's pg_terminate_backend, a
failover): the next act must run on a fresh connection, not fail on the dead one. Real
server, real backend termination.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from core.db import Database
from tests.conftest import PG_BASE


def test_an_act_after_the_server_dropped_the_connection_runs(db: Database,
                                                               backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("about PostgreSQL's server-side connection end")
    pooled = Database(db.url.render_as_string(hide_password=False))  # a pool of one
    try:
        with pooled.write() as s:
            pid = s.connection().execute(text("SELECT pg_backend_pid()")).scalar()
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        finally:
            admin.dispose()
        time.sleep(0.2)  # the server's goodbye reaches the pooled socket
        with pooled.write() as s:  # its one pooled connection is the dead one
            again = s.connection().execute(text("SELECT pg_backend_pid()")).scalar()
        assert again != pid
    finally:
        pooled.dispose()
