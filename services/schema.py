"""Create or upgrade the schema with Alembic; running it twice changes nothing.

The migrations live in ``services/migrations/versions``. A new table or column is a new
revision there (``python -m services.schema revision "what changed"`` writes one by
comparing the models with a database at head).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlmodel import SQLModel

from core.db import Database
from logs.trail import ensure_signing_key

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SEALED_FROM = "0011"  # the revision from which My Numbers are stored sealed


def metadata() -> MetaData:
    """Every table of every layer, imported so the metadata is whole."""
    import auth.models  # noqa: F401
    import logs.audit
    import logs.trail  # noqa: F401
    import services.alerts.models
    import services.assessment.models
    import services.linkage.models
    import services.personnel.inventory_models
    import services.personnel.models
    import services.register.import_models
    import services.register.models
    import services.transfer.models  # noqa: F401

    return SQLModel.metadata


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this code's migrations (a backup from a newer juki
    holds tables this code does not know)."""
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _a_stored_number(db: Database) -> str | None:
    """One sealed My Number as stored (link or proposal), or None when there is none."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return conn.execute(text(
            "SELECT number FROM my_number_link WHERE number <> '' UNION ALL "
            "SELECT number FROM link_proposal WHERE number <> '' LIMIT 1")).scalar()


def ensure_key_file(db: Database) -> bool:
    """Create the database's My Number key file when it has none and holds no sealed
    number yet (a new database, or one from before numbers were sealed). Returns True
    when a key was written. A database holding sealed numbers whose key is gone is
    refused: a new key would not open them (the old one must come back from backup)."""
    from core.sealed import SealingError, create_key_file, sealer_of

    path = sealer_of(db.engine.dialect).key_file
    if path is None or path.exists():
        return False
    before = current_revision(db)
    if before is not None and before >= SEALED_FROM:
        if _a_stored_number(db) is not None:
            raise SealingError(
                f"個人番号の暗号鍵ファイル {path} がありません。このデータベースの個人番号は"
                "その鍵でしか開けません。バックアップから戻してください。")
    return create_key_file(path)


def ensure_key_check(db: Database) -> bool:
    """Store the key's check value (``core.sealed``) when the database has none; True
    when written. A key whose value differs from the stored one is refused, and so is a
    first check value for a key that does not open the numbers already stored (a
    database upgraded from before the check)."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from core.clock import now
    from core.sealed import WRONG_KEY, SealingError, sealer_of

    sealer = sealer_of(db.engine.dialect)
    if sealer.key_file is None:
        return False
    stored = db.stored_key_check()
    if stored is None:
        sample = _a_stored_number(db)
        if sample is not None:
            try:
                sealer.open(sample)
            except SealingError:
                raise SealingError(WRONG_KEY.format(path=sealer.key_file)) from None
        try:
            with db.transaction() as conn:
                conn.execute(text("INSERT INTO identifier_key (id, check_value, created_at) "
                                  "VALUES (1, :v, :t)"), {"v": sealer.check_value(), "t": now()})
            return True
        except IntegrityError:  # another init stored one first: compare with it
            stored = db.stored_key_check()
    if stored != sealer.check_value():
        raise SealingError(WRONG_KEY.format(path=sealer.key_file))
    return False


def init_schema(db: Database) -> bool:
    """Make the My Number key when needed, upgrade to the newest revision, then store
    or compare the key's check value, and make the audit signing key when needed and
    record its fingerprint in the trail's row (``logs.trail``, docs/architecture.md §10).
    Returns True when any migration was applied."""
    ensure_key_file(db)
    before = current_revision(db)
    applied = before != head_revision()
    if applied:
        cfg = _config()
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    ensure_key_check(db)
    ensure_signing_key(db)
    return applied


def _revision(message: str) -> None:
    """Autogenerate a revision against a scratch SQLite database at head."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/scratch.sqlite3", key_file=Path(tmp) / "scratch.key")
        if head_revision() is not None:
            init_schema(db)
        cfg = _config()
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message=message, autogenerate=True)
        db.dispose()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "revision":
        _revision(sys.argv[2])
    else:
        print('usage: python -m services.schema revision "message"', file=sys.stderr)
        sys.exit(2)
