"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests get a schema of their own (search_path in the URL), dropped afterwards,
so tests never see each other's rows. ``JUKI_TEST_BACKENDS=sqlite`` narrows a local run;
CI runs both. ``JUKI_TEST_POSTGRES_URL`` points at the server (default: 127.0.0.1:5432/test).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from core.db import Database
from core.settings import Settings
from tests.disks import SmallDisk
from tests.pgserver import PrivateServer, private_server, remove
from tests.procs import Loopback, launch, servers

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get(
    "JUKI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    b.strip() for b in os.environ.get("JUKI_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if b.strip()
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def empty_database_url(backend: str, path: Path) -> Iterator[str]:
    """An empty database of its own on ``backend`` (the SQLite file ``path``; a PostgreSQL
    schema, dropped afterwards), for as long as the generator is open."""
    if backend == "sqlite":
        yield f"sqlite:///{path}"
        return
    schema = "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_BASE else "?"
    yield f"{PG_BASE}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    yield from empty_database_url(backend, tmp_path / "juki.sqlite3")


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=str(tmp_path / "var"),
        audit_jsonl=str(tmp_path / "audit.jsonl"),
        argon2_profile="test",
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    from logs import stream
    from services.schema import init_schema

    stream.configure(settings.resolved_audit_jsonl)
    database = Database.for_settings(settings)
    init_schema(database)
    yield database
    database.dispose()
    stream.configure(None)


@dataclass
class Juki:
    """Runs the real ``juki`` command in a subprocess against the test database."""

    env: dict[str, str]
    cwd: Path

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "console.cli", *args],
            input=input, capture_output=True, text=True, env=self.env, cwd=self.cwd,
            timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL,
        )


@pytest.fixture
def juki_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUKI_")}
    env.update(
        JUKI_DATABASE_URL=settings.resolved_database_url,
        JUKI_DATA_DIR=settings.resolved_data_dir.as_posix(),
        JUKI_AUDIT_JSONL=str(settings.resolved_audit_jsonl),
        JUKI_ARGON2_PROFILE="test",
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture
def juki(db: Database, juki_env: dict[str, str], tmp_path: Path) -> Juki:
    return Juki(env=juki_env, cwd=tmp_path)


# --- 住基ネット simulator: `juki jukinet-sim` as a real process on loopback -----------------


@dataclass
class JukinetSim(Loopback):
    """A running ``juki jukinet-sim`` process, on a free loopback port of its choosing."""

    def stats(self) -> dict[str, Any]:
        """GET /_stats: how many queries reached the simulator, and its mode."""
        return self.get("_stats")

    def control(self, **body: Any) -> dict[str, Any]:
        """POST /_control, e.g. ``control(mode="slow", delay=3)``."""
        return self.post("_control", body)


@pytest.fixture
def start_jukinet_sim(
    db: Database, juki_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., JukinetSim]]:
    """Start ``juki jukinet-sim --port 0 [ARGS]`` against the test database; each process
    started is stopped (SIGTERM) at the end of the test."""

    def start(*args: str) -> JukinetSim:
        return JukinetSim(*launch(["jukinet-sim", "--port", "0", *args], env=juki_env,
                                  cwd=tmp_path, name="jukinet-sim"))

    yield from servers(start)


@pytest.fixture
def jukinet_sim(start_jukinet_sim: Callable[..., JukinetSim]) -> JukinetSim:
    """One simulator with default behaviour (mode ok, no delay, no failures)."""
    return start_jukinet_sim()


# --- faults: a PostgreSQL server the test may stop, a disk it may fill ----------------------


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivateServer]:
    """A PostgreSQL server of the tests' own (``tests.pgserver``), for the tests that stop
    and start it: the shared one on 5432 serves everyone else."""
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among JUKI_TEST_BACKENDS")
    server = private_server()
    yield server
    remove(server)


@pytest.fixture
def private_pg_url(private_pg: PrivateServer) -> Iterator[str]:
    """A schema of its own on the private server, which runs when the test starts and is
    started again after it if the test left it stopped."""
    if not private_pg.running:
        private_pg.start()
    yield private_pg.schema_url()
    if not private_pg.running:
        private_pg.start()


@pytest.fixture
def small_disk() -> Iterator[SmallDisk]:
    """A 16 MB tmpfs the test may fill (``tests.disks``); unmounted afterwards."""
    disk = SmallDisk()
    yield disk
    disk.remove()
