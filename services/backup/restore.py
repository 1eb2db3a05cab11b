"""``juki db restore FILE --identity F``: a backup into an empty database, checked.

The file is decrypted into the private folder and checked (identity, manifest, SHA-256)
before anything is written; the target must be empty (a non-empty one is refused, and
the refusal recorded in the trail it holds); the payload is loaded all or nothing; then
the restored database is checked against the manifest: the chain walked whole, the head,
the counts, the schema revision, and whether this host's key file opens its numbers.

The restore leaves no event in the restored trail: it must end where the backup ended,
so that ``juki audit recover`` can append the events made after the backup from the
collector's copy, each checked against the chain (an event of ours at that seq would
fork it). Its record — success or refusal — goes to the JSON-lines copy as a ``db.restore``
note (``logs.stream.emit_note``), outside the database.

Once loaded, the restored database is held (``logs.hold``): its trail refuses every new
event — a console's sign-in, ``juki user list``, a forwarder restarted by systemd —
until ``juki audit recover`` lifts it, so no event can take a lost one's number
(docs/architecture.md §11). Always, not only when verify finds a lost tail: whether the
backup was the newest state is for ``recover`` to establish against the witnesses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from core.actor import Actor
from core.db import Database
from core.errors import BadInput, JukiError, TrailHeld
from core.settings import Settings
from logs import hold, stream
from logs.audit import record_alone
from services.backup import container
from services.backup.checks import Check, number_opens, restored
from services.backup.errors import NotEmpty, reason_of
from services.backup.load import check_compatible, load, objects_in
from services.backup.manifest import Manifest
from services.backup.progress import Say
from services.backup.workdir import private_folder

ACTION = "db.restore"


@dataclass(frozen=True)
class Restored:
    file: Path
    manifest: Manifest
    checks: list[Check]
    key: Check
    seconds: float
    held: bool  # the hold set (False: a schema before migration 0016 has none)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and self.key.ok


def need_identity(identity: Path | None) -> Path:
    if identity is None:
        raise BadInput("--identity: バックアップを開く age の秘密鍵ファイルを指定してください "
                       "(このサーバーには置かない鍵です)。")
    return identity


def need_file(path: Path) -> Path:
    if not path.is_file():
        raise BadInput(f"FILE: バックアップ {path} がありません。")
    return path


def restore(db: Database, settings: Settings, actor: Actor, file: Path,
            identity: Path | None, say: Say = lambda _line: None) -> Restored:
    """Restore ``file`` into the empty ``db`` and check it (see the module docstring)."""
    started = time.perf_counter()
    try:
        identities = container.identities_of(need_identity(identity))
        need_file(file)
        if objects_in(db):
            raise NotEmpty("復元先のデータベースは空ではありません。復元は空のデータベースにだけ"
                           "行えます (今あるデータを上書きしないため)。")
        with private_folder(settings.resolved_data_dir) as work:
            manifest, payload = container.read(file, identities, work, say,
                                               identity or Path("-"))
            check_compatible(db, manifest)
            load(db, manifest, payload, say)
        held = hold.hold(db)  # before anything else may record: see the module docstring
        say("復元したデータベースを確かめています")
        checks = restored(db, manifest)
        key = number_opens(db, manifest, missing_ok=True)
    except JukiError as exc:
        _refused(db, actor, file, exc)
        raise
    done = Restored(file, manifest, checks, key, time.perf_counter() - started, held)
    stream.emit_note(ACTION, {
        "actor": actor.login, "client_addr": actor.client_addr, "outcome": "success",
        "file": str(file), "head_seq": manifest.facts.head_seq,
        "head_hash": manifest.facts.head_hash, "created_at": manifest.created_at,
        "ok": done.ok, "held": held, "failed": [c.name for c in (*checks, key) if not c.ok],
    })
    return done


def _refused(db: Database, actor: Actor, file: Path, exc: JukiError) -> None:
    """The refusal as a note in the JSON-lines copy, and as an event in the target's own
    trail when it has one (a database that was not empty)."""
    details = {"reason": reason_of(exc), "file": str(file), "message": exc.message}
    stream.emit_note(ACTION, {"actor": actor.login, "client_addr": actor.client_addr,
                              "outcome": "refused", **details})
    if isinstance(exc, NotEmpty):
        try:
            record_alone(db, actor, ACTION, target="database", outcome="refused",
                         severity="high", details=details)
        except (SQLAlchemyError, RuntimeError, TrailHeld):  # no trail to take it: the note
            pass
