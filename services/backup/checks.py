"""What a restored database must show before anyone relies on it (docs/backup.md).

Each check answers with a ``Check``: its name, whether it held, one line saying what was
found. ``restored`` is what every restore runs (the chain, the head, the counts and the
schema revision against the manifest); the drill adds the anchors, a lookup, a sealed
number opened with the key, and the live trail's word that this file is one it made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, select, text

from core.db import Database, columns
from core.sealed import SealingError, sealer_of
from core.settings import Settings
from logs import audit
from logs.anchor import BadAnchorFile, read_anchors
from services.backup.manifest import Manifest, read_facts


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    said: str


def restored(db: Database, manifest: Manifest) -> list[Check]:
    """The chain walked whole, and the head, the counts and the revision the manifest's."""
    checks: list[Check] = []
    chain = audit.verify(db)
    checks.append(Check("連鎖", chain.ok, f"{chain.count:,} 件、正常" if chain.ok
                        else chain.reason))
    with db.engine.connect() as conn:
        facts = read_facts(conn)
    want = manifest.facts
    same_head = (facts.head_seq, facts.head_hash) == (want.head_seq, want.head_hash)
    checks.append(Check("末尾", same_head,
                        f"#{facts.head_seq} {facts.head_hash[:16]}… (目録と一致)" if same_head
                        else f"#{facts.head_seq} {facts.head_hash[:16]}… が目録の "
                             f"#{want.head_seq} {want.head_hash[:16]}… と一致しません"))
    differ = sorted(t for t in set(facts.counts) | set(want.counts)
                    if facts.counts.get(t) != want.counts.get(t))
    checks.append(Check("件数", not differ,
                        f"{len(facts.counts)} 表、{sum(facts.counts.values()):,} 行 (目録と一致)"
                        if not differ else "目録と違う表: " + ", ".join(
                            f"{t} {facts.counts.get(t)} ≠ {want.counts.get(t)}"
                            for t in differ[:5])))
    same_rev = facts.schema_revision == want.schema_revision
    checks.append(Check("スキーマ", same_rev, f"リビジョン {facts.schema_revision}"
                        + ("" if same_rev else f" (目録は {want.schema_revision})")))
    return checks


def number_opens(db: Database, manifest: Manifest, *, missing_ok: bool = False) -> Check:
    """The key file opens this database's numbers: its check value is the manifest's and
    one stored number opens. ``missing_ok``: a key file not there yet is a note, not a
    failure (a restore on a new host, the key to come from its own backup)."""
    want = manifest.facts.key_check
    if want is None:
        return Check("個人番号", True,
                     "鍵の検査値がありません (個人番号を保存する前のデータベース)")
    sealer = sealer_of(db.engine.dialect)
    if missing_ok and (sealer.key_file is None or not sealer.key_file.exists()):
        return Check("個人番号", True, f"暗号鍵ファイル {sealer.key_file} がありません。"
                     "データベースとは別に保管した鍵を戻してください (検査値 "
                     f"{want[:12]}…)")
    try:
        if sealer.check_value() != want:
            return Check("個人番号", False, "暗号鍵の検査値が目録と一致しません (別の鍵です)")
        with db.engine.connect() as conn:
            sample = conn.execute(text(
                "SELECT number FROM my_number_link WHERE number <> '' LIMIT 1")).scalar()
        if sample is None:
            return Check("個人番号", True, "暗号鍵の検査値が一致しました (保存された番号なし)")
        opened = sealer.open(str(sample))
    except SealingError as exc:
        return Check("個人番号", False, exc.message)
    ok = len(opened) == 12 and opened.isdigit()
    return Check("個人番号", ok, "暗号鍵の検査値が一致し、保存された番号を開けました" if ok
                 else "保存された番号を開けましたが、12桁の番号ではありません")


def anchors(db: Database, manifest: Manifest, path: Path | None) -> Check:
    """Every anchor up to the backup's head still names the restored event's hash; the
    later ones are the tail the backup does not hold (for ``juki audit recover``)."""
    if path is None or not path.exists():
        return Check("アンカー", True, "アンカーファイルがありません (照合なし)")
    try:
        found = list(read_anchors(path))
    except BadAnchorFile as exc:
        return Check("アンカー", False, str(exc))
    head = manifest.facts.head_seq
    upto = [a for a in found if 0 < a.seq <= head]
    later = sum(1 for a in found if a.seq > head)
    query = text("SELECT seq, hash FROM audit_event WHERE seq IN :s").bindparams(
        bindparam("s", expanding=True))
    stored: dict[int, str] = {}
    seqs = sorted({a.seq for a in upto})
    with db.engine.connect() as conn:
        for i in range(0, len(seqs), 500):
            rows = conn.execute(query, {"s": seqs[i:i + 500]})
            stored.update((int(r[0]), str(r[1])) for r in rows)
    bad = [a for a in upto if stored.get(a.seq) != a.hash]
    if bad:
        return Check("アンカー", False, f"事象 #{bad[0].seq} がアンカー ({path.name} {bad[0].line} "
                     "行目) と一致しません")
    return Check("アンカー", True, f"{len(upto):,} 件と一致 (バックアップより後のアンカー "
                 f"{later:,} 件)")


def lookup(db: Database, settings: Settings) -> Check:
    """A clerk's lookup (whole name and birth date, through the lookup's own statement)
    finds a resident of the restored register; nothing is recorded (the copy is
    scratch)."""
    from services.lookup.breadth import Breadth
    from services.lookup.query import parse_query, purposes
    from services.lookup.ranking import fetched
    from services.lookup.statement import planned_per_search
    from services.lookup.types import LookupQuery
    from services.register.models import STATUS_RESIDENT, Resident

    r = columns(Resident)
    with db.engine.connect() as conn:
        row = conn.execute(select(r.id, r.family_name, r.given_name, r.birth_date).where(
            r.status == STATUS_RESIDENT, r.is_foreign.is_(False)).order_by(r.id.desc())
            .limit(1)).first()
        if row is None:
            return Check("照会", True, "住民がいません (照会なし)")
        parsed = parse_query(LookupQuery(purpose=purposes(settings)[0],
                                         name=f"{row.family_name} {row.given_name}",
                                         birth=row.birth_date.isoformat()))
        with planned_per_search(conn):
            rows = fetched(conn, parsed, settings.lookup_max_results + 1,
                           Breadth.of(settings), may_see=True)
    found = any(hit.id == row.id for hit in rows)
    return Check("照会", found, f"氏名と生年月日で住民 #{row.id} を照会できました ({len(rows)} 件)"
                 if found else f"住民 #{row.id} が照会で見つかりません")


def vouched(live: Database, file_sha256: str) -> Check:
    """The live trail holds the ``db.backup`` event that made this very file (its
    SHA-256): the file is one this system wrote, not one made for its public key by
    someone else."""
    needle = f'%"file_sha256":{json.dumps(file_sha256)}%'
    with live.engine.connect() as conn:
        seq = conn.execute(text(
            "SELECT seq FROM audit_event WHERE action = 'db.backup' AND outcome = 'success'"
            " AND details LIKE :n ORDER BY seq LIMIT 1"), {"n": needle}).scalar()
    if seq is None:
        return Check("出所", False, "このファイルを作った db.backup の記録が操作ログにありません "
                     "(別のシステムのファイルか、差し替えられたファイル)")
    return Check("出所", True, f"操作ログ #{seq} (db.backup) の SHA-256 と一致")
