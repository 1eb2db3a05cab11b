"""A private PostgreSQL server for the tests that stop and start it.

The machine's shared server (127.0.0.1:5432) serves every other test and helper, so a
test that takes the database away runs its own: ``initdb`` into a temporary folder, one
server on a free loopback port with trust authentication, one database ``juki``. The
folder belongs to the ``postgres`` account when the tests run as root (the server refuses
to run as root) and to the test's own account otherwise.

``stop()`` ends the server (``fast``: the backends are told and the connections close;
``immediate``: a crash, recovered from the WAL at the next start); ``start()`` brings it
back on the same port. ``schema_url()`` is a URL with a fresh schema on its search path,
as ``tests.conftest.db_url`` gives on the shared server.

The tests keep an outage as short as it needs to be (a few seconds). For a manual run
of the issue's 30 s, ``JUKI_TEST_OUTAGE_SECONDS=30`` holds the server down at least that
long where a test asks ``outage_left()``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PrivateServer:
    """One PostgreSQL server of the test's own; see the module docstring."""

    folder: Path
    bindir: Path
    port: int = field(default_factory=_free_port)
    running: bool = False
    stopped_at: float = 0.0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/juki"

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_owner, str(self.bindir / tool), *args],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {done.stdout}{done.stderr}")
        return done

    def init(self) -> None:
        self._run("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "juki")

    def start(self) -> None:
        """Start the server (after a crash, it replays its WAL first) and wait for it."""
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
                   " -c fsync=off -c max_connections=40")
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"),
                  "-o", options, "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast``: connections are ended and closed; ``immediate``: the server dies."""
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "-t", "60",
                  "stop")
        self.running = False
        self.stopped_at = time.monotonic()

    def outage_left(self) -> float:
        """Seconds to stay down for ``JUKI_TEST_OUTAGE_SECONDS`` (0 in a normal run)."""
        hold = float(os.environ.get("JUKI_TEST_OUTAGE_SECONDS", "0") or 0)
        return max(0.0, self.stopped_at + hold - time.monotonic())

    def schema_url(self) -> str:
        """A URL whose search path is a new schema of its own."""
        schema = "t_" + uuid.uuid4().hex[:16]
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        finally:
            admin.dispose()
        return f"{self.url}?options=-csearch_path%3D{schema}"


def private_server() -> PrivateServer:
    """A new server, started; skips the test where PostgreSQL's programs are missing."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's initdb is not installed")
    folder = Path(tempfile.mkdtemp(prefix="juki-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    server = PrivateServer(folder, bindir)
    server.init()
    return server


def remove(server: PrivateServer) -> None:
    """Stop the server if it runs and delete its folder."""
    try:
        if server.running:
            server.stop("immediate")
    finally:
        shutil.rmtree(server.folder, ignore_errors=True)
