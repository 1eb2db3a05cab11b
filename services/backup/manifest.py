"""The manifest: what one snapshot held, written into the backup beside its payload.

``read_facts`` reads the same facts from any database — the snapshot being backed up
(inside its transaction), the restored copy — so a restore compares like with like:
the schema revision, the audit head (seq and hash), the rows of every table of the
application's schema, and the My Number key's check value (``identifier_key``; the key
itself never). ``Manifest`` adds the time and the payload's size and SHA-256, and is
read back strictly: a manifest that does not parse is a damaged backup.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection

from services.backup.errors import Damaged

FORMAT = "juki-backup/1"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Facts:
    """What a database holds, as a backup and its restore compare it."""

    schema_revision: str | None
    head_seq: int
    head_hash: str
    counts: dict[str, int]
    key_check: str | None


def _tables(conn: Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        sql = ("SELECT name FROM sqlite_master WHERE type = 'table'"
               " AND name NOT LIKE 'sqlite_%' ORDER BY name")
    else:
        sql = ("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
               " ORDER BY tablename")
    return [str(r[0]) for r in conn.exec_driver_sql(sql)]


def read_facts(conn: Connection) -> Facts:
    """The facts of the database ``conn`` sees, in its current transaction (one snapshot
    when the caller made it REPEATABLE READ, or SQLite's read transaction)."""
    tables = _tables(conn)
    quote = conn.dialect.identifier_preparer.quote
    counts = {t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {quote(t)}").scalar_one())
              for t in tables}

    def one(table: str, sql: str) -> Any:
        return conn.exec_driver_sql(sql).first() if table in tables else None

    revision = one("alembic_version", "SELECT version_num FROM alembic_version")
    head = one("audit_head", "SELECT seq, hash FROM audit_head WHERE id = 1")
    key = one("identifier_key", "SELECT check_value FROM identifier_key WHERE id = 1")
    return Facts(
        schema_revision=str(revision[0]) if revision else None,
        head_seq=int(head[0]) if head else 0,
        head_hash=str(head[1]) if head else "",
        counts=counts,
        key_check=str(key[0]) if key else None,
    )


@dataclass(frozen=True)
class Manifest:
    """One backup's manifest (``manifest.json`` inside the encrypted file)."""

    backend: str  # sqlite | postgresql
    created_at: str  # ISO 8601, UTC: when the snapshot was taken
    facts: Facts
    payload_name: str
    payload_bytes: int
    payload_sha256: str
    schema: str = ""  # PostgreSQL: the schema the payload holds
    made_by: dict[str, str] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> bytes:
        body = {
            "format": self.format,
            "backend": self.backend,
            "created_at": self.created_at,
            "schema": self.schema,
            "schema_revision": self.facts.schema_revision,
            "audit_head": {"seq": self.facts.head_seq, "hash": self.facts.head_hash},
            "counts": self.facts.counts,
            "identifier_key_check": self.facts.key_check,
            "payload": {"name": self.payload_name, "bytes": self.payload_bytes,
                        "sha256": self.payload_sha256},
            "made_by": self.made_by,
        }
        return (json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode()

    def summary(self, **more: Any) -> dict[str, Any]:
        """The readable summary written beside the backup (no personal data: counts,
        the head, hashes), with ``more`` (the file's own SHA-256, recipients)."""
        return {**json.loads(self.to_json()), **more}


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise Damaged(f"バックアップの目録 (manifest) の {key} が正しくありません。"
                      "壊れているか、juki のバックアップではありません。")
    return value


def parse(raw: bytes) -> Manifest:
    """A manifest read back; anything missing or mistyped is ``Damaged``."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise Damaged("バックアップの目録 (manifest) を読めません。壊れているか、"
                      "juki のバックアップではありません。")
    if data.get("format") != FORMAT:
        raise Damaged(f"バックアップの形式 {data.get('format')!r} には対応していません "
                      f"(対応: {FORMAT})。")
    head = _need(data, "audit_head", dict)
    payload = _need(data, "payload", dict)
    counts = _need(data, "counts", dict)
    if not all(isinstance(k, str) and type(v) is int for k, v in counts.items()):
        raise Damaged("バックアップの目録 (manifest) の counts が正しくありません。")
    revision = data.get("schema_revision")
    key = data.get("identifier_key_check")
    backend = _need(data, "backend", str)
    if backend not in ("sqlite", "postgresql"):
        raise Damaged(f"バックアップの目録 (manifest) の backend {backend!r} が正しくありません。")
    return Manifest(
        backend=backend,
        created_at=_need(data, "created_at", str),
        facts=Facts(
            schema_revision=revision if isinstance(revision, str) else None,
            head_seq=_need(head, "seq", int),
            head_hash=_need(head, "hash", str),
            counts=dict(counts),
            key_check=key if isinstance(key, str) else None,
        ),
        payload_name=_need(payload, "name", str),
        payload_bytes=_need(payload, "bytes", int),
        payload_sha256=_need(payload, "sha256", str),
        schema=str(data.get("schema") or ""),
        made_by={str(k): str(v) for k, v in (data.get("made_by") or {}).items()},
    )


def facts_dict(facts: Facts) -> dict[str, Any]:
    return asdict(facts)
