"""``juki db backup``: snapshot, manifest, encrypt, write, record (docs/backup.md).

Not a ``gate.act``: a backup of gigabytes must not hold a write transaction (on SQLite
that is the one writer lock every console waits on). It reads a snapshot and, once the
file is in place, records ``db.backup`` in a transaction of its own (``record_alone``),
naming the file, its SHA-256 (so a drill can tell this file from one someone else made
for the same public key), the head and counts it holds and its recipients. A refusal (no
recipient, a bad one, an output that may not be written) and a failure (``pg_dump``, a
full disk) are recorded the same way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from core.actor import Actor
from core.clock import now
from core.db import Database
from core.errors import JukiError
from core.files import BadOutput, make_dirs, output_file, write_output
from core.settings import Settings
from logs.audit import record_alone
from logs.outputs import refuse_bad_output
from services.backup import container
from services.backup.dump import dump, payload_name
from services.backup.errors import reason_of
from services.backup.manifest import Manifest
from services.backup.progress import Say, size, ticking
from services.backup.workdir import private_folder

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

ACTION = "db.backup"
SUFFIX = ".age"
SUMMARY_SUFFIX = ".json"


@dataclass(frozen=True)
class Made:
    """A backup written: where, its manifest, the file's size and SHA-256, how long."""

    path: Path
    summary_path: Path
    manifest: Manifest
    file_bytes: int
    file_sha256: str
    seconds: float
    event_seq: int


def default_path(settings: Settings) -> Path:
    """``<backup_dir>/juki-20260401T093000Z.age`` (UTC, sorts by time)."""
    return settings.resolved_backup_dir / f"juki-{now().strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


def summary_path(path: Path) -> Path:
    """The readable summary beside a backup: ``FILE.json``."""
    return path.with_name(path.name + SUMMARY_SUFFIX)


def digest(path: Path, say: Say) -> tuple[str, int]:
    """(SHA-256, size) of a file, read once in chunks."""
    sha, done = hashlib.sha256(), 0
    total = path.stat().st_size
    with ticking(say, "SHA-256", lambda: done, total), open(path, "rb") as fh:
        while chunk := fh.read(container.CHUNK):
            sha.update(chunk)
            done += len(chunk)
    return sha.hexdigest(), done


SYNC_EVERY = 64 << 20


class _Hashing(io.RawIOBase):
    """The output file, hashed and counted as the encrypted bytes go through, and synced
    every ``SYNC_EVERY`` bytes: a file of gigabytes is never left dirty in memory whole
    for one fsync at the end, which would make every writer on the host wait while it
    goes out."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.sha = hashlib.sha256()
        self.bytes = 0
        self._unsynced = 0

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        view = memoryview(data)
        self.sha.update(view)
        self.bytes += view.nbytes
        self._fh.write(view)
        self._unsynced += view.nbytes
        if self._unsynced >= SYNC_EVERY:
            self._fh.flush()
            os.fdatasync(self._fh.fileno())
            self._unsynced = 0
        return view.nbytes


def backup(db: Database, settings: Settings, actor: Actor, *, output: Path | None = None,
           recipients: Sequence[str] = (), force: bool = False,
           say: Say = lambda _line: None) -> Made:
    """Write an encrypted backup of ``db`` and record it (``db.backup``)."""
    field = "--recipient" if recipients else "backup_recipients"
    path = output if output is not None else default_path(settings)
    try:
        keys = tuple(recipients) or settings.backup_recipients
        parsed = container.recipients_of(keys, field)
        if output is None:
            make_dirs(settings.resolved_backup_dir)
        refuse_bad_output(db, actor, ACTION, path, force=force)
        refuse_bad_output(db, actor, ACTION, summary_path(path), force=force,
                          field="目録の写し (FILE.json)")
    except BadOutput:
        raise  # recorded by refuse_bad_output when something was there
    except JukiError as exc:
        _record_refusal(db, actor, path, exc)
        raise
    try:
        return _write(db, settings, actor, path, keys, parsed, force, say)
    except JukiError as exc:
        _record_refusal(db, actor, path, exc, outcome="failure")
        raise


def _write(db: Database, settings: Settings, actor: Actor, path: Path, keys: Sequence[str],
           parsed: list[container.x25519.Recipient], force: bool, say: Say) -> Made:
    started = time.perf_counter()
    with private_folder(settings.resolved_data_dir) as work:
        payload = work / payload_name(db)
        snap = dump(db, payload, say, settings.sqlite_busy_timeout_ms)
        sha, nbytes = digest(payload, say)
        manifest = Manifest(
            backend="sqlite" if db.is_sqlite else "postgresql", created_at=snap.taken_at,
            facts=snap.facts, payload_name=payload.name, payload_bytes=nbytes,
            payload_sha256=sha, schema=snap.schema,
            made_by={"tool": snap.tool, "juki": _version()},
        )
        say(f"本体 {size(nbytes)} (SHA-256 {sha[:16]}…)、操作ログ末尾 #{snap.facts.head_seq}")
        with output_file(path, force=force) as fh:
            out = _Hashing(fh)
            container.write(out, manifest, payload, parsed, say)  # type: ignore[arg-type]
    file_sha = out.sha.hexdigest()
    summary = manifest.summary(file=path.name, file_bytes=out.bytes, file_sha256=file_sha,
                               recipients=list(keys))
    write_output(summary_path(path), (json.dumps(summary, ensure_ascii=False, indent=1,
                                                 sort_keys=True) + "\n").encode("utf-8"),
                 force=force, field="目録の写し (FILE.json)")
    took = time.perf_counter() - started
    ev = record_alone(db, actor, ACTION, target="database", details={
        "file": str(path), "file_bytes": out.bytes, "file_sha256": file_sha,
        "payload_sha256": sha, "head_seq": snap.facts.head_seq,
        "head_hash": snap.facts.head_hash, "schema_revision": snap.facts.schema_revision,
        "tables": len(snap.facts.counts), "rows": sum(snap.facts.counts.values()),
        "recipients": list(keys), "seconds": round(took, 1), "snapshot_at": snap.taken_at,
    })
    return Made(path, summary_path(path), manifest, out.bytes, file_sha, took, int(ev["seq"]))


def _record_refusal(db: Database, actor: Actor, path: Path, exc: JukiError,
                    outcome: str = "refused") -> None:
    record_alone(db, actor, ACTION, target="database", outcome=outcome, severity="warning",
                 details={"reason": reason_of(exc), "file": str(path), "message": exc.message})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("juki")
    except PackageNotFoundError:
        return "dev"
