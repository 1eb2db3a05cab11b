"""The database handle: one engine, read and write sessions, SQLite and PostgreSQL alike.

SQLite runs in WAL mode with foreign keys and a busy timeout. Write transactions on
SQLite begin IMMEDIATE so that two writers queue on the lock instead of failing with
SQLITE_BUSY_SNAPSHOT halfway through; reads stay deferred and never block writers.

The SQLite file is made here, mode 0600 whatever the umask, before SQLite opens it:
SQLite gives its -wal and -shm files the database file's mode.

A database that cannot do an act now — PostgreSQL down, restarting or cut off, a disk
with no space left — reaches the caller as ``core.errors.DatabaseUnreachable`` or
``DiskFull`` with a Japanese message, not as the driver's error (``_faults``;
docs/architecture.md §12): the console says it and carries on, a command exits 1. So
does a trail held after a restore (``TrailHeld``: the trigger of migration 0016 refused
the event; docs/architecture.md §11).
"""

from __future__ import annotations

import select
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    CursorResult,
    Engine,
    Result,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, StatementError
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlmodel import Session, SQLModel

from core.errors import DatabaseUnreachable, DiskFull, JukiError, StorageFault, TrailHeld
from core.files import PRIVATE, create_file, keep_mode
from core.sealed import WRONG_KEY, Sealer, SealingError, attach

if TYPE_CHECKING:
    from core.settings import Settings


class Database:
    """``key_file``: the key that seals My Numbers at rest (``core.sealed``); read on the
    first number written or read, so a database without one works until then.
    ``signing_key_file``: where the key that signs the trail's anchors is kept
    (``logs.signing``; made by ``juki db init``); this class only carries the path."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30000, echo: bool = False,
                 key_file: Path | None = None, signing_key_file: Path | None = None) -> None:
        self.url = make_url(url)
        self.signing_key_file = signing_key_file
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                _sqlite_files(Path(self.url.database))
            self.engine: Engine = create_engine(
                self.url,
                echo=echo,
                connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            )
            _sqlite_setup(self.engine, busy_timeout_ms)
        elif self.dialect == "postgresql":
            if self.url.drivername == "postgresql":
                self.url = self.url.set(drivername="postgresql+psycopg")
            # A server that does not answer (a host gone, not a port closed) is said
            # within seconds instead of holding the act until the kernel gives up.
            wait = {} if "connect_timeout" in self.url.query else {
                "connect_timeout": CONNECT_TIMEOUT_SECONDS}
            self.engine = create_engine(self.url, echo=echo, connect_args=wait)
            _postgresql_liveness(self.engine)
        else:
            raise ValueError(f"未対応のデータベースです: {self.dialect}")
        self.where = (f"{Path(self.url.database).parent}" if self.is_sqlite and
                      self.url.database and self.url.database != ":memory:"
                      else "データベースサーバー")
        """Where the database writes, as the disk-full message names it."""
        _faults(self.engine, self)
        attach(self.engine.dialect, Sealer(key_file, verify=self.verify_key))
        self._writer = self.engine.execution_options(juki_begin="IMMEDIATE")

    @classmethod
    def for_settings(cls, settings: Settings, *, busy_timeout_ms: int = 30000,
                     echo: bool = False) -> Database:
        """The configured database, with the configured keys (My Numbers, anchors)."""
        return cls(settings.resolved_database_url, busy_timeout_ms=busy_timeout_ms, echo=echo,
                   key_file=settings.resolved_identifier_key_file,
                   signing_key_file=settings.resolved_audit_signing_key_file)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; nothing it does is committed."""
        with _unwrapped(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self, *, numbers: bool = False) -> Iterator[Session]:
        """A session whose work commits together on success and rolls back on error.

        ``numbers``: this transaction seals or compares My Numbers. On PostgreSQL it first
        takes a share lock on the key's check row, so a key rotation (``services.rekey``,
        which locks that row first) runs wholly before or wholly after it: a number is
        never sealed under the old key and stored after the rotation committed. (SQLite
        needs nothing: its write transactions already run one at a time.)"""
        with _unwrapped(), Session(self._writer, expire_on_commit=False) as session:
            try:
                if numbers and not self.is_sqlite:
                    session.connection().exec_driver_sql(
                        "SELECT id FROM identifier_key FOR SHARE")
                yield session
                session.flush()  # a failure here is certain: nothing was committed
            except BaseException:
                _rollback(session.rollback)
                raise
            _commit(session.commit, session.rollback)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in a write transaction, for work that needs no ORM.

        Begins like ``write()`` (IMMEDIATE on SQLite), commits at the end, rolls back on error.
        """
        with _unwrapped(), self._writer.connect() as conn:
            txn = conn.begin()
            try:
                yield conn
            except BaseException:
                _rollback(txn.rollback)
                raise
            _commit(txn.commit, txn.rollback)

    def dispose(self) -> None:
        self.engine.dispose()

    def stored_key_check(self) -> str | None:
        """The check value of the My Number key that ``juki db init`` stored; None before
        there is one (no row yet, or a database from before the table).

        On a connection of its own, so it may run in the middle of another transaction
        (a read; WAL lets it through on SQLite)."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(
                    text("SELECT check_value FROM identifier_key WHERE id = 1")).scalar()
        except DBAPIError:
            return None

    def verify_key(self, check: str, path: Path) -> None:
        """Refuse a key whose check value is not the one stored (run once, when the key is
        first loaded); a database without a stored one lets it through."""
        stored = self.stored_key_check()
        if stored is not None and stored != check:
            raise SealingError(WRONG_KEY.format(path=path))


@contextmanager
def _unwrapped() -> Iterator[None]:
    """A JukiError raised while SQLAlchemy prepared a statement (a My Number column with
    no usable key) reaches the caller as itself, with its Japanese message, not wrapped
    in SQLAlchemy's StatementError; so does a fault of the database that a statement run
    on the driver's own cursor met (``logs.audit._append``), which ``_faults`` never saw."""
    try:
        yield
    except StatementError as exc:
        if isinstance(exc.orig, JukiError):
            raise exc.orig from None
        found = fault(exc.orig) if isinstance(exc.orig, BaseException) else None
        if found is not None:
            raise found from exc
        raise


def _rollback(rollback: Callable[[], None]) -> None:
    """Roll back after an error; on a connection the server already cut there is nothing
    left to roll back (the server did), and the error that got us here is the one to say."""
    try:
        rollback()
    except StorageFault:
        pass


def _commit(commit: Callable[[], None], rollback: Callable[[], None]) -> None:
    """Commit, or roll back and raise. A connection cut while the COMMIT was on its way
    leaves the act's fate unknown (the server may have committed it): the message says so."""
    try:
        commit()
    except DatabaseUnreachable as exc:
        _rollback(rollback)
        raise DatabaseUnreachable(IN_DOUBT, WAITING) from exc
    except BaseException:
        _rollback(rollback)
        raise


CONNECT_TIMEOUT_SECONDS = 10
UNREACHABLE = ("データベースに接続できません。この操作は行われていません。"
               "データベースが戻ってから、もう一度操作してください。")
IN_DOUBT = ("データベースとの接続が確定の途中で切れました。この操作が記録されたかどうかは、"
            "データベースが戻ってから確かめてください。")
DISK_FULL = ("ディスクの空きがありません ({where})。この操作は行われていません。"
             "システム管理者に連絡してください。")
WAITING = "データベースに接続できません。再接続を待っています…"
WAITING_FOR_SPACE = "ディスクの空きがありません ({where})。空きができるのを待っています…"
BACK = "データベースが戻りました。"
HELD = ("データベースは復元の後で、操作ログの回復を待っています。"
        "`juki audit recover --from <収集先の写し>` が済むまで記録を伴う操作はできません。"
        "この操作は行われていません。")
WAITING_FOR_RECOVERY = ("データベースは復元の後で、操作ログの回復 (juki audit recover) を"
                        "待っています…")
HELD_MARK = "audit trail held after a restore"
"""The text of the trigger's error (migration 0016) that ``fault`` recognises."""

# PostgreSQL's SQLSTATEs for a server that is going, gone or not yet back: class 08
# (connection exception) and these; 53100 is its disk full.
_GONE = frozenset({"57P01", "57P02", "57P03", "53300"})


def fault(exc: BaseException, where: str = "データベースサーバー") -> StorageFault | None:
    """The user's error for a driver error that means the database cannot do the act
    now — unreachable, or out of disk space — or None for any other error."""
    if isinstance(exc, sqlite3.Error):
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL:
            return _disk_full(where)
        if isinstance(exc, sqlite3.IntegrityError) and HELD_MARK in str(exc):
            return TrailHeld(HELD, WAITING_FOR_RECOVERY)
        return None
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate
    if state == "55000" and HELD_MARK in str(exc):
        return TrailHeld(HELD, WAITING_FOR_RECOVERY)
    if state == "53100":
        return _disk_full(where)
    if isinstance(exc, psycopg.OperationalError) and (
            state is None or state.startswith("08") or state in _GONE):
        return DatabaseUnreachable(UNREACHABLE, WAITING)
    return None


def _disk_full(where: str) -> DiskFull:
    return DiskFull(DISK_FULL.format(where=where), WAITING_FOR_SPACE.format(where=where))


def _faults(engine: Engine, db: Database) -> None:
    """Every statement, connect and commit the engine runs: the driver's error for a
    database that cannot act now is raised as the user's (``fault``). A connection the
    server cut is dropped from the pool, so the next act opens a new one."""
    @event.listens_for(engine, "handle_error")
    def _translate(ctx: Any) -> None:
        found = fault(ctx.original_exception, db.where)
        if found is None:
            return
        if isinstance(found, DatabaseUnreachable) and ctx.connection is not None:
            ctx.is_disconnect = True
        raise found


def table(model: type[SQLModel]) -> Table:
    """A table model's Core table, typed (SQLModel leaves ``__table__`` undeclared), for
    the statements that go below the ORM: bulk writes, joins by column, raw selects."""
    found = inspect(model).local_table
    if not isinstance(found, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return found


def columns(model: type[SQLModel]) -> ReadOnlyColumnCollection[str, Column[Any]]:
    """A table model's columns, typed: ``columns(User).login`` is the Core column."""
    return table(model).c


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE run through ``Session.execute`` matched: the session
    types its result as a plain Result, though it is a CursorResult at run time."""
    if not isinstance(result, CursorResult):
        raise TypeError("not the result of an UPDATE or DELETE")
    return result.rowcount


def _sqlite_files(path: Path) -> None:
    """Make the database file 0600 before SQLite would make it with the umask's mode; one
    of ours left wider (and its -wal, -shm) is narrowed when a command opens it (the
    console refuses to start on it instead: ``core.private_files``)."""
    if not create_file(path, PRIVATE):
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            keep_mode(name, PRIVATE)


def _postgresql_liveness(engine: Engine) -> None:
    """Drop a pooled connection the server has ended before an act gets it — without a
    round trip.

    A server that ends a backend (a restart, a failover, pg_terminate_backend) sends its
    last message and closes the socket, which then reads as ready. An idle pooled
    connection has nothing else to read (no LISTEN here), so a socket that is readable
    at checkout, or a connection psycopg already knows is closed, is handed back as a
    disconnect and the pool opens a new one. SQLAlchemy's ``pool_pre_ping`` would ask
    the server ``SELECT 1`` instead: one round trip on every act (of a search's six;
    bench/lookup). A connection that dies mid-act still fails that act, as with a ping.
    """
    @event.listens_for(engine, "checkout")
    def _alive(dbapi_conn: Any, _record: object, _proxy: object) -> None:
        if dbapi_conn.closed or dbapi_conn.broken:
            raise DisconnectionError("the server closed this connection")
        poller = select.poll()  # not select(): a descriptor may be above 1024
        poller.register(dbapi_conn.fileno(), select.POLLIN)
        if poller.poll(0):
            raise DisconnectionError("the server ended this connection")


def _sqlite_setup(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("juki_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
