"""``juki db drill``: the newest backup restored into a scratch database and checked, with
the time it took (RTO) and the backup's age (RPO), as evidence for 自己点検.

The scratch database is a file in the private folder (SQLite) or a database created on
the same server and dropped after (PostgreSQL: ``CREATE DATABASE`` needs the CREATEDB
right; a dump names its schema, which in the live database is taken). The restore is the
one ``juki db restore`` runs (``load``); the checks are its checks and four more: the
live anchor file's anchors up to the backup's head, a lookup, a sealed number opened with
this host's key, and the live trail's ``db.backup`` event for this very file. Nothing is
recorded in the scratch copy; the drill is recorded in the live trail as ``db.drill``
(outcome ``failure`` when a check failed; a refusal as ``refused``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from core.actor import Actor
from core.clock import now
from core.db import Database
from core.errors import BadInput, JukiError
from core.settings import Settings
from logs.anchor import head
from logs.audit import record_alone
from services.backup import checks, container
from services.backup.act import SUFFIX, digest
from services.backup.errors import ToolFailed, reason_of
from services.backup.load import check_compatible, load
from services.backup.manifest import Manifest
from services.backup.progress import Say, quiet
from services.backup.restore import need_file, need_identity
from services.backup.workdir import private_folder

ACTION = "db.drill"


@dataclass(frozen=True)
class Drilled:
    file: Path
    manifest: Manifest
    checks: list[checks.Check]
    rto_s: float  # decrypt, load and check, start to end
    rpo_s: float  # the backup's age: now less the snapshot's time
    behind: int  # events the live trail holds past the backup's head
    event_seq: int

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def latest(settings: Settings) -> Path:
    """The newest backup file in ``backup_dir``."""
    folder = settings.resolved_backup_dir
    found = sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime) \
        if folder.is_dir() else []
    if not found:
        raise BadInput(f"--backup: {folder} にバックアップ (*{SUFFIX}) がありません。"
                       "`juki db backup` で作るか、--backup で指定してください。")
    return found[-1]


def drill(live: Database, settings: Settings, actor: Actor, *, file: Path | None,
          identity: Path | None, say: Say = quiet) -> Drilled:
    """Restore ``file`` (or the newest backup) into a scratch database and check it."""
    started = time.perf_counter()
    path = file
    try:
        identities = container.identities_of(need_identity(identity))
        path = need_file(file) if file is not None else latest(settings)
        say(f"復元訓練: {path}")
        file_sha, _ = digest(path, quiet)
        with private_folder(settings.resolved_data_dir) as work:
            manifest, payload = container.read(path, identities, work, say,
                                               identity or Path("-"))
            check_compatible(live, manifest)
            with scratch(live, settings, work, manifest) as copy:
                load(copy, manifest, payload, say)
                say("復元したデータベースを確かめています")
                found = [
                    *checks.restored(copy, manifest),
                    checks.anchors(copy, manifest, settings.resolved_audit_anchor),
                    checks.lookup(copy, settings),
                    checks.number_opens(copy, manifest),
                    checks.vouched(live, file_sha),
                ]
        rto = time.perf_counter() - started
    except JukiError as exc:
        record_alone(live, actor, ACTION, target="database", outcome="refused",
                     severity="warning", details={"reason": reason_of(exc),
                                                  "file": str(path or ""),
                                                  "message": exc.message})
        raise
    rpo = (now() - datetime.fromisoformat(manifest.created_at.replace("Z", "+00:00"))
           ).total_seconds()
    behind = max(0, head(live)[0] - manifest.facts.head_seq)
    ok = all(c.ok for c in found)
    ev = record_alone(live, actor, ACTION, target="database",
                      outcome="success" if ok else "failure",
                      severity="info" if ok else "high", details={
                          "file": str(path), "file_sha256": file_sha,
                          "created_at": manifest.created_at,
                          "head_seq": manifest.facts.head_seq,
                          "rto_seconds": round(rto, 1), "rpo_seconds": round(rpo),
                          "events_after_backup": behind,
                          "checks": {c.name: c.ok for c in found},
                      })
    return Drilled(path, manifest, found, rto, rpo, behind, int(ev["seq"]))


@contextmanager
def scratch(live: Database, settings: Settings, work: Path,
            manifest: Manifest) -> Iterator[Database]:
    """An empty database to restore into, removed after the block."""
    with empty_database(live, settings.resolved_identifier_key_file, work / "drill.sqlite3",
                        manifest.schema) as copy:
        yield copy


@contextmanager
def empty_database(live: Database, key_file: Path, sqlite_file: Path,
                   schema: str) -> Iterator[Database]:
    """An empty database beside ``live``, removed after the block: the SQLite file
    ``sqlite_file`` (its -wal and -shm too: a restored copy can be gigabytes), or a new
    database on the same PostgreSQL server holding an empty ``schema``."""
    if live.is_sqlite:
        copy = Database(f"sqlite:///{sqlite_file}", key_file=key_file)
        try:
            yield copy
        finally:
            copy.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
        return
    name = f"{str(live.url.database or 'juki')[:40]}_scratch_{uuid.uuid4().hex[:10]}"
    quote = live.engine.dialect.identifier_preparer.quote
    admin = live.engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quote(name)}")
    except DBAPIError as exc:
        raise ToolFailed(f"訓練用のデータベースを作れません (CREATEDB の権限が要ります): "
                         f"{str(exc.orig).strip().splitlines()[0]}") from None
    url = live.url.set(database=name).update_query_dict({"options": f"-csearch_path={schema}"})
    copy = Database(url.render_as_string(hide_password=False), key_file=key_file)
    try:
        with copy.engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        yield copy
    finally:
        copy.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")
