"""Register data in: a full load (全件) and the day's changes (異動分) from the register system.

``import_register`` reads and checks the whole file first (``services.register.layout``),
then, for a daily file, checks every row against the register as it stands and as the
earlier rows of the file leave it (a 転居 needs a resident, a 出生 a new 住民票コード …).
Any bad row refuses the file: BadInput naming each bad line and column, nothing applied,
the refusal recorded. A good file is applied in ONE write transaction together with its
``register.import`` audit event, so a crash or a kill -9 halfway leaves the register as it
was before (and the audit chain whole).

Twice the same: the file's SHA-256 is kept in ``register_import``; the same file again
changes nothing (recorded as such). Each applied daily change keeps its natural key in
``register_import_change``, so a change repeated in a later, overlapping file is skipped.

Removed residents stay: 転出・死亡・消除 set 状態 消除 and 消除日, never delete a row.
Every resident row written gets its search keys from ``services.register.keys``.

Linkage drift: every daily row that changes a resident with an active My Number link is
handed, in the import's transaction, to the hooks of ``services.register.hooks`` (the
register imports no other service); ``services.linkage`` registers the one that flags a
link whose 4 items (氏名・生年月日・性別・住所) changed — listed in the result and the audit
event — and records a baseline fingerprint from the items BEFORE the change when the link
had none (初期移行), so ``juki linkage check`` reports the change. Daily rows never link
numbers: a 個人番号 in a daily row is only compared (a different number than the linked
one is reported); links go through the linkage workflow. A full load brings the numbers
in as 初期移行 links, as the demo seed does.

A full load goes into an empty register only; a register that has residents takes daily
files (a second full load would have to reconcile, which this does not do).

One concern, applying a checked register file (reading and checking the file is
``services.register.layout``): the full load and the daily changes share the act, the
already-applied check, the event, the 異動履歴 summaries and the batched writes, and
differ only in how rows become residents.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, text

from core.actor import Actor
from core.clock import now
from core.db import Database, table
from logs.audit import record_alone
from services import gate
from services.register.hooks import LinkedChange, flagged_links
from services.register.import_models import (
    MODE_CHANGES,
    MODE_FULL,
    RegisterImport,
    RegisterImportChange,
)
from services.register.keys import resident_keys
from services.register.layout import (
    PROGRESS_EVERY,
    REMOVING,
    BadFile,
    Problem,
    Progress,
    RegisterFile,
    Row,
    read_register,
)

# The names the importer and the seeder both write (a pair of import lists).
from services.register.models import (
    HEAD,
    LINK_ACTIVE,
    STATUS_REMOVED,
    STATUS_RESIDENT,
    Household,
    MyNumberLink,
    Resident,
    ResidentChange,
)
from services.register.mynumber import mask_my_number

BATCH = 5000
CHUNK = 900  # values in one IN (...) list
ACTION = "register.import"

_R: Any = table(Resident)
_H: Any = table(Household)
_C: Any = table(ResidentChange)
_L: Any = table(MyNumberLink)
_I: Any = table(RegisterImport)
_IC: Any = table(RegisterImportChange)

# Columns a daily row may overwrite (when the file has the column); the status columns
# follow from 変更区分, the keys from resident_keys.
_WRITABLE = (
    "relationship", "family_name", "given_name", "family_kana", "given_kana", "birth_date",
    "sex", "town", "chome", "banchi", "go", "katagaki", "became_resident_on",
    "address_set_on", "notified_on", "previous_address", "honseki", "honseki_head",
    "is_foreign", "nationality", "residence_status", "stay_expires_on", "residence_card_no",
    "alias", "alias_kana", "dv_support",
)
_LABELS = {
    "family_name": "氏", "given_name": "名", "family_kana": "氏カナ", "given_kana": "名カナ",
    "birth_date": "生年月日", "sex": "性別", "address": "住所", "relationship": "続柄",
    "honseki": "本籍", "honseki_head": "筆頭者", "nationality": "国籍・地域",
    "residence_status": "在留資格", "stay_expires_on": "在留期間の満了日",
    "residence_card_no": "在留カード等の番号", "alias": "通称", "alias_kana": "通称カナ",
    "dv_support": "支援措置",
}


@dataclass(frozen=True)
class ImportResult:
    mode: str  # full / changes
    file_name: str
    sha256: str
    rows: int
    counts: dict[str, int]  # full: 住民・消除・世帯・個人番号; changes: 変更区分 → applied
    skipped: int = 0  # daily changes applied before (by natural key)
    already: bool = False  # this very file was applied before: nothing changed
    linked_changed: tuple[int, ...] = ()  # links whose resident's 4 items changed
    number_differs: tuple[str, ...] = ()  # "N行目 **** **** 1234" (daily rows only)
    encoding: str = ""
    delimiter: str = ""

    def summary(self) -> list[str]:
        """Japanese lines for the operator."""
        if self.already:
            return [f"このファイル (SHA-256 {self.sha256[:16]}…) は取込済みです。"
                    "住民記録は変わっていません。"]
        kind = "全件" if self.mode == MODE_FULL else "異動分"
        counts = "、".join(f"{k} {v:,}" for k, v in self.counts.items() if v) or "なし"
        out = [f"住民記録 ({kind}) {self.rows:,} 行を取り込みました: {counts}"]
        if self.skipped:
            out.append(f"取込済みの異動 {self.skipped:,} 件は飛ばしました。")
        if self.linked_changed:
            out.append(
                f"個人番号が紐付いた住民の4情報 (氏名・生年月日・性別・住所) が"
                f" {len(self.linked_changed):,} 件変わりました。"
                "juki linkage check で確認し、確認者が再確認してください。"
            )
        if self.number_differs:
            out.append(f"紐付け済みの個人番号と異なる番号の行があります (紐付けは変えていません):"
                       f" {'、'.join(self.number_differs[:20])}")
        out.append(f"SHA-256: {self.sha256}")
        return out


def import_register(
    db: Database, actor: Actor, data: bytes, *, name: str, full: bool,
    progress: Progress | None = None,
) -> ImportResult:
    """Check the whole file, then apply it in one transaction with one audit event."""
    mode = MODE_FULL if full else MODE_CHANGES
    try:
        parsed = read_register(data, full=full, progress=progress)
    except BadFile as exc:
        _refuse(db, actor, name, mode, exc.sha256, exc.problems)
        raise
    try:
        with gate.act(db, actor, ACTION, perm=None, what="住民記録の取込", target="register",
                      numbers=True, record_bad_input=False) as a:
            result = _apply(a, parsed, name, full, progress)
    except BadFile as exc:  # recorded by where its problems are, not by its message
        _refuse(db, actor, name, mode, parsed.sha256, exc.problems)
        raise
    if full:
        _analyze(db)
    return result


def _apply(a: gate.Act, parsed: RegisterFile, name: str, full: bool,
           progress: Progress | None) -> ImportResult:
    """The import inside its act: the same file again changes nothing; else the load or
    the day's changes, the ``register_import`` row and the ``register.import`` event."""
    mode = MODE_FULL if full else MODE_CHANGES
    actor = a.actor
    conn = a.s.connection()
    if conn.dialect.name == "postgresql":
        # imports take turns (SQLite's BEGIN IMMEDIATE already does this), so a
        # second one checks its rows against what the first one applied
        conn.execute(text("LOCK TABLE register_import IN SHARE ROW EXCLUSIVE MODE"))
    prior = conn.execute(select(_I.c.id, _I.c.imported_at).where(
        _I.c.sha256 == parsed.sha256)).first()
    if prior is not None:
        result = ImportResult(mode, name, parsed.sha256, len(parsed.rows), {},
                              already=True, encoding=parsed.encoding,
                              delimiter=_delim(parsed.delimiter))
        a.record(target=f"file:{name}", details={
            "sha256": parsed.sha256, "mode": mode, "rows": len(parsed.rows),
            "already_applied": True, "first_import": prior.id,
        })
        return result
    entry = RegisterImport(sha256=parsed.sha256, mode=mode, file_name=name[:255],
                           rows=len(parsed.rows), imported_at=now(),
                           imported_by=actor.login)
    a.s.add(entry)
    a.s.flush()
    assert entry.id is not None
    if full:
        result = _load_full(conn, parsed, name, progress)
    else:
        result = _apply_changes(conn, parsed, name, actor, entry.id, progress)
    entry.counts = json.dumps(result.counts, ensure_ascii=False, sort_keys=True)
    a.s.add(entry)
    a.record(target=f"file:{name}", details={
        "sha256": parsed.sha256, "mode": mode, "rows": len(parsed.rows),
        "counts": result.counts, "skipped": result.skipped,
        "encoding": parsed.encoding, "delimiter": result.delimiter,
        "linked_changed": len(result.linked_changed),
        "flagged_links": list(result.linked_changed[:200]),
        "number_differs": len(result.number_differs),
    })
    return result


def _delim(d: str) -> str:
    return "tab" if d == "\t" else "comma"


def _refuse(db: Database, actor: Actor, name: str, mode: str, sha: str,
            problems: list[Problem]) -> None:
    """A refused file is recorded too: where the problems are, not the values."""
    record_alone(db, actor, ACTION, target=f"file:{name}", outcome="refused",
                 severity="warning", details={
                     "sha256": sha, "mode": mode, "problems": len(problems),
                     "where": [f"{p.line}:{p.column}" for p in problems[:50]],
                 })


def _analyze(db: Database) -> None:
    with db.transaction() as conn:
        for table in ("household", "resident", "resident_change", "my_number_link"):
            conn.execute(text(f"ANALYZE {table}"))


def _next_id(conn: Connection, table: Any) -> int:
    return (conn.execute(select(func.max(table.c.id))).scalar_one() or 0) + 1


def _move_sequences(conn: Connection, tables: Iterable[str]) -> None:
    if conn.dialect.name != "postgresql":
        return
    for name in tables:
        conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
            f" (SELECT COALESCE(max(id), 0) + 1 FROM {name}), false)"
        ))


def _household_row(hid: int, no: str, head_id: int | None, v: dict[str, Any]) -> dict[str, Any]:
    return {"id": hid, "household_no": no, "head_resident_id": head_id, "town": v["town"],
            "chome": v["chome"], "banchi": v["banchi"], "go": v["go"],
            "katagaki": v["katagaki"], "address": v["address"]}


def _summaries(kind: str, before: dict[str, Any] | None, after: dict[str, Any],
               hh_before: str, hh_after: str) -> tuple[str, str]:
    """異動履歴's before / after text for one change."""
    addr = after["address"]
    if kind == "出生":
        return "", f"{addr}（出生）"
    if kind == "転入":
        return after["previous_address"], addr
    old = before["address"] if before else ""
    if kind == "転居":
        return old, addr
    if kind == "転出":
        return old, after["moved_to"]
    if kind == "死亡":
        return old, "死亡"
    if kind == "消除":
        return old, "職権消除"
    if kind == "世帯変更":
        rel0 = before["relationship"] if before else ""
        return (f"世帯番号 {hh_before}（{rel0}）",
                f"世帯番号 {hh_after}（{after['relationship']}）")
    pairs = [(label, before.get(k) if before else "", after.get(k))
             for k, label in _LABELS.items() if (before or {}).get(k) != after.get(k)]
    return ("、".join(f"{label}: {b if b not in (None, '') else '（記載なし）'}"
                     for label, b, _ in pairs),
            "、".join(f"{label}: {a if a not in (None, '') else '（記載なし）'}"
                     for label, _, a in pairs))


# --- full load -------------------------------------------------------------------------


def _load_full(conn: Connection, parsed: RegisterFile, name: str,
               progress: Progress | None) -> ImportResult:
    existing = conn.execute(select(func.count()).select_from(_R)).scalar_one()
    if existing:
        raise BadFile([Problem(0, "", (
            f"住民記録が既に {existing:,} 人分あります。全件の取込は空の住民記録にだけ"
            "行えます。日々の異動分は --full を付けずに取り込んでください"))], parsed.sha256)
    rows = parsed.rows
    total = len(rows)
    next_h, next_r = _next_id(conn, _H), _next_id(conn, _R)
    households: dict[str, dict[str, Any]] = {}
    head_of: dict[str, tuple[int, int]] = {}  # 世帯番号 → (rank, resident id)
    residents: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    linked_at = now()
    for i, row in enumerate(rows):
        rid = next_r + i
        v = row.values
        hh = households.get(row.household_no)
        if hh is None:
            hh = households[row.household_no] = _household_row(next_h, row.household_no, None, v)
            next_h += 1
        rank = (0 if v["relationship"] == HEAD and v["status"] == STATUS_RESIDENT
                else 1 if v["relationship"] == HEAD else 2)
        if row.household_no not in head_of or rank < head_of[row.household_no][0]:
            head_of[row.household_no] = (rank, rid)
            if rank < 2:
                hh.update(_household_row(hh["id"], row.household_no, rid, v))
        res = {"id": rid, "household_id": hh["id"], **v}
        if res["status"] == STATUS_RESIDENT:
            res["removed_on"], res["removal_reason"] = None, ""
        res.update(resident_keys(res))
        residents.append(res)
        if row.kind and row.occurred_on is not None:
            before, after = _summaries(row.kind, None, v, "", row.household_no)
            changes.append({"resident_id": rid, "kind": row.kind,
                            "occurred_on": row.occurred_on, "notified_on": row.notified_on,
                            "before_summary": before, "after_summary": after})
        if row.my_number:
            links.append({"resident_id": rid, "number": row.my_number,
                          "last4": row.my_number[-4:], "linked_at": linked_at,
                          "source": "初期移行", "status": LINK_ACTIVE, "revoked_at": None,
                          "revoke_reason": ""})
    for no, (_rank, rid) in head_of.items():
        households[no]["head_resident_id"] = rid
    hh_rows = list(households.values())
    for i in range(0, len(hh_rows), BATCH):
        conn.execute(_H.insert(), hh_rows[i: i + BATCH])
    done = 0
    for i in range(0, total, BATCH):
        conn.execute(_R.insert(), residents[i: i + BATCH])
        before_done, done = done, min(total, i + BATCH)
        if progress and done // PROGRESS_EVERY > before_done // PROGRESS_EVERY:
            progress("書き込み", done, total)
    for batch in (changes, links):
        target = _C if batch is changes else _L
        for i in range(0, len(batch), BATCH):
            conn.execute(target.insert(), batch[i: i + BATCH])
    _move_sequences(conn, ("household", "resident", "resident_change", "my_number_link"))
    removed = sum(1 for r in residents if r["status"] == STATUS_REMOVED)
    counts = {"住民": total - removed, "消除": removed, "世帯": len(hh_rows),
              "個人番号": len(links), "異動履歴": len(changes)}
    return ImportResult(MODE_FULL, name, parsed.sha256, total, counts,
                        encoding=parsed.encoding, delimiter=_delim(parsed.delimiter))


# --- daily changes ---------------------------------------------------------------------


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(values), CHUNK):
        yield values[i: i + CHUNK]


def _by(conn: Connection, table: Any, column: str, values: Iterable[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in _chunks(sorted(set(values))):
        out += [dict(m) for m in conn.execute(
            select(table).where(table.c[column].in_(part))).mappings()]
    return out


def _check_state(rows: list[Row], known: dict[str, dict[str, Any]]) -> list[Problem]:
    """Each row against the register as the earlier rows leave it."""
    state = {code: r["status"] for code, r in known.items()}
    problems: list[Problem] = []
    for row in rows:
        status = state.get(row.code)
        col = "住民票コード"
        kind = row.kind
        if kind == "出生" and status is not None:
            problems.append(Problem(row.line, col, f"出生ですが、この住民票コード ({row.code}) "
                                    "は既に記録にあります"))
        elif kind == "転入" and status == STATUS_RESIDENT:
            problems.append(Problem(row.line, col, f"転入ですが、住民票コード {row.code} "
                                    "の人は既に住民です"))
        elif kind in ("転居", "転出", "世帯変更", "死亡", "消除") and status != STATUS_RESIDENT:
            what = "記録にありません" if status is None else "既に消除されています"
            problems.append(Problem(row.line, col, f"{kind}ですが、住民票コード {row.code} "
                                    f"の人は{what}"))
        elif kind == "職権修正" and status is None:
            problems.append(Problem(row.line, col, f"職権修正ですが、住民票コード {row.code} "
                                    "の人は記録にありません"))
        else:
            if kind in ("出生", "転入"):
                state[row.code] = STATUS_RESIDENT
            elif kind in REMOVING:
                state[row.code] = STATUS_REMOVED
        if kind in ("出生", "転入") and row.values["became_resident_on"] is None \
                and row.occurred_on is None:
            problems.append(Problem(row.line, "異動日", "入力がありません"))
    return problems


def _apply_changes(conn: Connection, parsed: RegisterFile, name: str, actor: Actor,
                   import_id: int, progress: Progress | None) -> ImportResult:
    all_rows = list(parsed.rows)
    keys = {id(r): r.natural_key() for r in all_rows}
    applied_keys = {k for part in _chunks(list(set(keys.values())))
                    for (k,) in conn.execute(select(_IC.c.change_key).where(
                        _IC.c.change_key.in_(part)))}
    seen: set[str] = set()
    rows: list[Row] = []
    for r in all_rows:
        k = keys[id(r)]
        if k in applied_keys or k in seen:
            continue
        seen.add(k)
        rows.append(r)
    skipped = len(all_rows) - len(rows)
    residents = {r["resident_code"]: r for r in _by(conn, _R, "resident_code",
                                                    [r.code for r in rows])}
    problems = _check_state(rows, residents)
    if problems:
        raise BadFile(problems, parsed.sha256)
    hh_ids = {r["household_id"] for r in residents.values()}
    households = {h["household_no"]: h for h in _by(conn, _H, "household_no",
                                                     [r.household_no for r in rows])}
    households.update({h["household_no"]: h for h in _by(conn, _H, "id", hh_ids)})
    hh_no_of = {h["id"]: no for no, h in households.items()}
    links = {ln["resident_id"]: ln for ln in _by(
        conn, _L, "resident_id", [r["id"] for r in residents.values()])
        if ln["status"] == LINK_ACTIVE}
    next_r, next_h = _next_id(conn, _R), _next_id(conn, _H)
    created = False
    counts: Counter[str] = Counter()
    linked: list[LinkedChange] = []
    differs: list[str] = []
    change_rows: list[dict[str, Any]] = []
    key_rows: list[dict[str, Any]] = []
    heads: dict[int, dict[str, Any]] = {}  # household id → head's values (to move it)
    for n, row in enumerate(rows, 1):
        kind, v = row.kind, row.values
        cur = residents.get(row.code)
        when = row.occurred_on
        assert when is not None
        # the household named on the row
        hh = households.get(row.household_no)
        if hh is None:
            hh = households[row.household_no] = _household_row(next_h, row.household_no,
                                                               None, v)
            hh_no_of[next_h] = row.household_no
            conn.execute(_H.insert(), [hh])
            next_h += 1
            created = True
        if cur is None or (kind == "転入" and cur["status"] == STATUS_REMOVED):
            new: dict[str, Any] = {**(cur or {}), **v}
            new["became_resident_on"] = v["became_resident_on"] or (
                v["birth_date"] if kind == "出生" else when)
            new["address_set_on"] = v["address_set_on"] or (
                v["birth_date"] if kind == "出生" else when)
            new.update(status=STATUS_RESIDENT, removed_on=None, removal_reason="",
                       moved_to="")
            if kind == "出生":
                new["previous_address"] = ""
        else:
            new = dict(cur)
            for col in _WRITABLE:
                if col in row.given:
                    new[col] = v[col]
            new["address"] = v["address"]
            if kind == "転居":
                new["previous_address"] = v["previous_address"] or cur["address"]
                new["address_set_on"] = v["address_set_on"] or when
            if kind in REMOVING:
                new.update(status=STATUS_REMOVED, removed_on=v["removed_on"] or when,
                           removal_reason=REMOVING[kind],
                           moved_to=v["moved_to"] if kind == "転出" else "")
        if "notified_on" in row.given and row.notified_on is not None:
            new["notified_on"] = row.notified_on
        new["household_id"] = hh["id"]
        new.update(resident_keys(new))
        if cur is None:
            new["id"] = next_r
            next_r += 1
            created = True
            conn.execute(_R.insert(), [new])
        else:
            delta = {k: val for k, val in new.items() if cur.get(k) != val and k != "id"}
            if delta:
                conn.execute(_R.update().where(_R.c.id == cur["id"]).values(**delta))
        residents[row.code] = new
        if new["relationship"] == HEAD and new["status"] == STATUS_RESIDENT:
            heads[hh["id"]] = new
        link = links.get(new["id"])
        if cur is not None and link is not None:
            linked.append(LinkedChange(link["id"], new["id"], cur, new))
        if row.my_number and link is not None and link["number"] != row.my_number:
            differs.append(f"{row.line}行目 {mask_my_number(row.my_number)}")
        before, after = _summaries(kind, cur, new,
                                   hh_no_of.get(cur["household_id"], "") if cur else "",
                                   row.household_no)
        change_rows.append({"resident_id": new["id"], "kind": kind, "occurred_on": when,
                            "notified_on": row.notified_on, "before_summary": before,
                            "after_summary": after})
        key_rows.append({"import_id": import_id, "change_key": keys[id(row)],
                         "resident_id": new["id"], "kind": kind, "occurred_on": when})
        counts[kind] += 1
        if progress and n % PROGRESS_EVERY == 0:
            progress("書き込み", n, len(rows))
    for hid, head in heads.items():
        conn.execute(_H.update().where(_H.c.id == hid).values(
            head_resident_id=head["id"], town=head["town"], chome=head["chome"],
            banchi=head["banchi"], go=head["go"], katagaki=head["katagaki"],
            address=head["address"]))
    for batch, target in ((change_rows, _C), (key_rows, _IC)):
        for i in range(0, len(batch), BATCH):
            conn.execute(target.insert(), batch[i: i + BATCH])
    if created:
        _move_sequences(conn, ("household", "resident"))
    drift = flagged_links(conn, actor, linked)  # linkage's baseline and drift, same transaction
    ordered = {k: counts[k] for k in _KIND_ORDER if counts[k]}
    return ImportResult(MODE_CHANGES, name, parsed.sha256, len(all_rows), ordered,
                        skipped=skipped, linked_changed=tuple(drift),
                        number_differs=tuple(differs), encoding=parsed.encoding,
                        delimiter=_delim(parsed.delimiter))


_KIND_ORDER = ("転入", "転居", "転出", "世帯変更", "出生", "死亡", "職権修正", "消除")
