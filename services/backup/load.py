"""A payload into an empty database: the one way ``juki db restore`` and the drill load.

- **SQLite**: the online backup API again, from the payload into the target file, page
  by page under SQLite's own locks (never a file copied over a database a process may
  have open).
- **PostgreSQL**: ``pg_restore --single-transaction --exit-on-error`` (all or nothing),
  without the dump's owners and grants (``--no-owner --no-privileges``): the tables
  belong to the account that restores, as ``juki db init`` would have made them.

PostgreSQL names every object with its schema in a dump, and ``pg_restore`` cannot
rename one. The target schema is the one the target URL resolves (``current_schema()``,
from its search_path). The same name as the dump's: the schema entry is left out of the
restore list, so the existing empty schema (and its grants) receives the objects. Another
name: the dump's schema is created by the restore and then renamed to the target's,
which is dropped first (it was empty); this needs the dump's name to be free in that
database — in the same database as the schema it came from, it is not, and the restore
is refused: restore into another database (as the drill does).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from sqlalchemy import text

from core.db import Database
from core.errors import BadInput
from services.backup import pgtools
from services.backup.errors import NotEmpty, ToolFailed
from services.backup.manifest import Manifest
from services.backup.progress import Say
from services.backup.workdir import private_file

_NO_SCHEMA = ("接続先のスキーマがありません。database_url の search_path が指すスキーマを"
              "作成してください (空のまま)。")


def _pg_schema(db: Database) -> str:
    with db.engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    if schema is None:
        raise ToolFailed(_NO_SCHEMA)
    return str(schema)


def objects_in(db: Database) -> int:
    """How many tables, views, sequences, indexes (and, on PostgreSQL, functions) the
    database's schema holds: 0 is an empty database."""
    with db.engine.connect() as conn:
        if db.is_sqlite:
            return int(conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").scalar_one())
        if conn.exec_driver_sql("SELECT current_schema()").scalar() is None:
            raise ToolFailed(_NO_SCHEMA)
        return int(conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid)"
            " + (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid)"
            " FROM pg_namespace n WHERE n.nspname = current_schema()").scalar_one())


_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def check_compatible(db: Database, manifest: Manifest) -> None:
    """Refuse a backup of the other backend, or of a schema newer than this code."""
    from services.schema import known_revision

    mine = "sqlite" if db.is_sqlite else "postgresql"
    if manifest.backend != mine:
        raise BadInput(f"このバックアップは {_NAMES[manifest.backend]} のものです。"
                       f"{_NAMES[mine]} のデータベースには戻せません。")
    revision = manifest.facts.schema_revision
    if revision is not None and not known_revision(revision):
        raise BadInput(f"このバックアップのスキーマ (リビジョン {revision}) はこの juki より"
                       "新しいものです。バックアップを作った版の juki で戻してください。")


def load(db: Database, manifest: Manifest, payload: Path, say: Say) -> None:
    """Put ``payload`` into ``db``, which must be empty (``NotEmpty`` otherwise)."""
    if objects_in(db):
        raise NotEmpty("復元先のデータベースは空ではありません。復元は空のデータベースにだけ"
                       "行えます (今あるデータを上書きしないため)。")
    if db.is_sqlite:
        _sqlite(db, payload, say)
    else:
        _postgresql(db, manifest, payload, say)
    db.dispose()  # pooled connections made before the load see the new schema afresh


def _sqlite(db: Database, payload: Path, say: Say) -> None:
    target = Path(str(db.url.database))
    db.dispose()
    say(f"SQLite のオンラインバックアップで {target.name} に書き込んでいます")
    src = sqlite3.connect(payload)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise ToolFailed(f"SQLite への復元に失敗しました: {exc}") from None
    finally:
        src.close()


_SCHEMA_ENTRY = re.compile(r"^\d+; \d+ \d+ SCHEMA - (?P<name>\S+) ")


def _postgresql(db: Database, manifest: Manifest, payload: Path, say: Say) -> None:
    tool = pgtools.binary("pg_restore")
    uri, env = pgtools.conninfo(db.url)
    dumped, target = manifest.schema, _pg_schema(db)
    with db.engine.connect() as conn:
        taken = conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"),
                             {"s": dumped}).first() is not None
    if dumped != target and taken:
        raise NotEmpty(f"バックアップのスキーマ {dumped} がこのデータベースに既にあります。"
                       f"スキーマ {target} へは、{dumped} のない別のデータベースでしか戻せません。")
    toc = pgtools.run([tool, "--list", str(payload)], env, "pg_restore の目次の読み取り")
    keep = [line for line in toc.splitlines()
            if not (taken and (m := _SCHEMA_ENTRY.match(line)) and m["name"] == dumped)]
    listing = private_file(payload.with_name(payload.name + ".list"))
    listing.write_text("\n".join(keep) + "\n", encoding="utf-8")
    say(f"pg_restore でスキーマ {target} に復元しています")
    pgtools.run([tool, "--no-owner", "--no-privileges", "--single-transaction",
                 "--exit-on-error", f"--use-list={listing}", f"--dbname={uri}", str(payload)],
                env, "pg_restore による復元")
    if dumped != target:
        quote = db.engine.dialect.identifier_preparer.quote
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {quote(target)}")  # empty: checked above
            conn.exec_driver_sql(f"ALTER SCHEMA {quote(dumped)} RENAME TO {quote(target)}")
