"""``juki audit recover --from FILE``: the lost tail of the trail put back from a copy
kept outside the database (docs/architecture.md §11).

After a database is restored from a backup older than its last events, ``juki audit
verify`` finds anchors and witnesses past the head (``missing``). The events are still
in the collector's file (``logs.collector``: the columns as stored, details as text) or
the JSON-lines copy (``logs.stream``: details as an object, the trail's name, anchors as
``audit.anchor`` records); ``juki audit export`` writes the same shape. This module
puts them back with their original seq, time and hashes, appending to the table (its
triggers allow INSERT only) and moving the head, so verify is clean again.

Nothing is invented: each event is checked before anything is written —

* the chain: its previous hash is the head's (then the event before it), and SHA-256
  over the HASHED fields recomputed (``logs.audit.event_hash``; details re-encoded to
  the canonical text) is its hash; its fields fit their columns;
* the anchors: every signed anchor of this trail (the anchor file's, and those in FILE,
  their signatures checked) and every line of the JSON-lines copy at a recovered seq
  holds the same hash;
* and an event is put back only up to the newest seq an anchor or the JSON-lines copy
  vouches for (the chain carries that proof back to the head): events in FILE past
  every witness are left out, said, never appended.

A line that fails is refused, naming it, and nothing is appended. Lines naming another
trail (a copy shared by two databases) are passed over. Nothing is replayed: the
events that changed state (links, rights) are only listed by the caller's rule for the
operator to look at. The recovery is recorded as one ``audit.recover`` event after
the recovered ones, in the same transaction. A refusal is not recorded in the trail: an
event appended then would take the first lost event's number.

The same transaction lifts the hold ``juki db restore`` set (``logs.hold``): until then
the database refuses every new event. With nothing lost (the backup was the newest
state) ``lift_only`` lifts it alone, once FILE shows no event past the head.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from core.actor import Actor
from core.clock import parse_iso
from core.db import Database
from core.errors import BadInput, Refused
from logs import anchor, hold, trail, witness
from logs.anchor_lines import Anchor, BadAnchorFile, parse, public_key_of, read_anchors, sort_out
from logs.audit import HASHED, OUTCOMES, SEVERITIES, canonical_details, event_hash, record

# Each text column's length (logs.audit.AuditEvent): a line must fit as it was stored.
LIMITS = {"ts": 32, "actor": 120, "session_id": 64, "client_addr": 64, "action": 64,
          "target": 200, "purpose": 200, "outcome": 16, "severity": 16}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_COLUMNS = (*HASHED, "prev_hash", "hash")
_INSERT = text(f"INSERT INTO audit_event ({', '.join(_COLUMNS)})"
               f" VALUES ({', '.join(':' + c for c in _COLUMNS)})")


class NothingLost(Refused):
    """Verify is clean: there is no tail to put back (a held trail may still be lifted)."""


@dataclass
class Found:
    """What FILE holds for this trail past the head."""

    events: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # seq → line
    anchors: list[Anchor] = field(default_factory=list)  # anchor records, any trail
    other_trails: int = 0  # lines naming another trail, passed over
    cut_line: bool = False  # an unfinished last line (a kill mid-write), passed over


@dataclass(frozen=True)
class Plan:
    """What a recovery appends (``events``) and what it leaves."""

    head: tuple[int, str]
    missing: tuple[int, int]  # what verify found lost
    events: list[dict[str, Any]]  # to append, in seq order
    anchors_checked: int  # anchors (and copy lines) at a recovered seq that matched
    left_out: tuple[int, int] | None  # in FILE past every witness: not appended
    other_trails: int
    cut_line: bool
    sha256: str

    @property
    def still_missing(self) -> tuple[int, int] | None:
        last = self.events[-1]["seq"] if self.events else self.head[0]
        return (last + 1, self.missing[1]) if last < self.missing[1] else None


def _where(path: Path, number: int) -> str:
    return f"{path.name} の {number} 行目"


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(number, line, whether it ended with a newline), read as bytes."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise BadInput(f"--from: {path} を読めません ({exc.strerror})。") from None
    with fh:
        for number, raw in enumerate(fh, 1):
            yield number, raw, raw.endswith(b"\n")


def _event(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The event's columns from a line of either shape, each checked as stored."""
    ev: dict[str, Any] = {}
    for name in (*HASHED, "prev_hash", "hash"):
        if name not in data:
            raise BadInput(f"{where}: 項目 {name} がありません。")
        ev[name] = data[name]
    if type(ev["seq"]) is not int or ev["seq"] < 1:
        raise BadInput(f"{where}: seq が正の整数ではありません。")
    details = ev["details"]
    if isinstance(details, dict):
        ev["details"] = canonical_details(details)
    elif not isinstance(details, str):
        raise BadInput(f"{where}: details がオブジェクトでも文字列でもありません。")
    for name, limit in LIMITS.items():
        if not isinstance(ev[name], str) or len(ev[name]) > limit:
            raise BadInput(f"{where}: {name} が文字列でないか、{limit} 文字を超えています。")
    try:
        parse_iso(ev["ts"])
    except ValueError:
        raise BadInput(f"{where}: ts が操作ログの時刻の形 (UTC、Z 付き) ではありません。") from None
    if ev["outcome"] not in OUTCOMES or ev["severity"] not in SEVERITIES:
        raise BadInput(f"{where}: outcome または severity が操作ログの値ではありません。")
    if not all(isinstance(ev[h], str) and _HEX64.match(ev[h]) for h in ("prev_hash", "hash")):
        raise BadInput(f"{where}: prev_hash または hash が SHA-256 (16 進 64 桁) ではありません。")
    return ev


def read_found(path: Path, named: trail.Trail | None, after: int) -> tuple[Found, str]:
    """This trail's events past ``after`` and every anchor record in FILE, and FILE's
    SHA-256. A line that is not JSON, not an object, or neither an event nor an anchor
    is bad input (named); the same seq twice with other content is refused."""
    found = Found()
    digest = hashlib.sha256()
    for number, raw, whole in _lines(path):
        digest.update(raw)
        if not raw.strip():
            continue
        where = _where(path, number)
        try:
            data = json.loads(raw)
        except ValueError:
            if not whole:  # the last line, cut short by a kill mid-write
                found.cut_line = True
                continue
            raise BadInput(f"{where}: JSON として読めません。") from None
        if not isinstance(data, dict):
            raise BadInput(f"{where}: JSON のオブジェクトではありません。")
        if "anchor" in data and "seq" not in data:
            record_ = parse(data["anchor"])
            if record_ is None:
                raise BadInput(f"{where}: アンカーの内容が正しくありません。")
            found.anchors.append(Anchor(record_.seq, record_.hash, record_.ts, number,
                                        record_.trail, record_.sig))
            continue
        if "seq" not in data:
            raise BadInput(f"{where}: 操作ログの事象でもアンカーでもありません。")
        name = data.get("trail")
        if named is not None and name and name != named.id:
            found.other_trails += 1
            continue
        if type(data["seq"]) is int and data["seq"] <= after:
            continue
        ev = _event(data, where)
        seen = found.events.get(ev["seq"])
        if seen is not None and seen[1] != ev:
            raise Refused(f"{where}: 事象 #{ev['seq']} が {seen[0]} 行目と食い違っています"
                          " (書き換えの疑い)。何も戻していません。")
        found.events.setdefault(ev["seq"], (number, ev))
    return found, digest.hexdigest()


def plan(
    db: Database, source: Path, *, anchor_file: Path | None, stream_path: Path | None,
    spool: Path | None, key_file: Path | None,
) -> Plan:
    """Check FILE against the chain and the anchors and say what would be appended.
    ``Refused`` names the first line that fails (nothing is appended then)."""
    checked = anchor.verify(db, anchor_file, stream_path=stream_path, spool=spool,
                            key_file=key_file)
    head = anchor.head(db)
    if checked.ok or checked.missing is None:
        if checked.ok:
            raise NothingLost("操作ログに失われた末尾はありません (`juki audit verify` が正常)。"
                          "戻すものはありません。")
        raise Refused(f"操作ログには失われた末尾のほかに問題があります: {checked.result.reason}"
                      " 先にそれを調べてください。何も戻していません。")
    named = trail.read(db)
    found, sha = read_found(source, named, head[0])
    public = public_key_of(named, key_file or db.signing_key_file)
    try:
        own = sort_out(found.anchors, named, public, source.name).own
        if anchor_file is not None and anchor_file.exists():
            own += sort_out(read_anchors(anchor_file), named, public,
                            f"アンカーファイル {anchor_file}").own
    except BadAnchorFile as exc:
        raise Refused(f"{exc} 何も戻していません。") from None

    run: list[tuple[int, dict[str, Any]]] = []
    prev = head[1]
    while (seq := head[0] + len(run) + 1) in found.events:
        number, ev = found.events[seq]
        where = f"{_where(source, number)} (事象 #{seq})"
        if ev["prev_hash"] != prev:
            raise Refused(f"{where}: 前ハッシュが直前の事象と一致しません"
                          " (書き換えの疑い、または別の操作ログ)。何も戻していません。")
        if event_hash(prev, tuple(ev[k] for k in HASHED)) != ev["hash"]:
            raise Refused(f"{where}: 内容がハッシュと一致しません (書き換えの疑い)。"
                          "何も戻していません。")
        run.append((number, ev))
        prev = ev["hash"]
    if not run:
        raise Refused(f"{source.name} に事象 #{head[0] + 1} (失われた最初の事象) がありません。"
                      "何も戻していません。")
    last = head[0] + len(run)

    vouched = head[0]  # the newest recovered seq a witness holds
    matched = 0
    witnesses = [(a.seq, a.hash, f"アンカー ({a.ts}、{a.line} 行目)") for a in own]
    if stream_path is not None:
        witnesses += [(w.seq, w.hash, w.source)
                      for w in witness.from_stream(stream_path, head[0], named)
                      if w.hash is not None]
    for seq, hash_, said in sorted(witnesses, key=lambda w: w[0]):
        if not head[0] < seq <= last:
            continue
        number, ev = run[seq - head[0] - 1]
        if ev["hash"] != hash_:
            raise Refused(f"{_where(source, number)} (事象 #{seq}): {said}と一致しません:"
                          f" #{vouched + 1}〜#{seq} のどこか (この行まで) が書き換えられています。"
                          "何も戻していません。")
        matched += 1
        vouched = seq
    events = [ev for _number, ev in run[: vouched - head[0]]]
    return Plan(
        head=head, missing=checked.missing, events=events, anchors_checked=matched,
        left_out=(vouched + 1, last) if last > vouched else None,
        other_trails=found.other_trails, cut_line=found.cut_line, sha256=sha,
    )


def apply(
    db: Database, actor: Actor, planned: Plan, source: Path,
    notable: Callable[[dict[str, Any]], str | None],
) -> list[tuple[dict[str, Any], str]]:
    """Append the planned events with their own seq, time and hashes, move the head and
    record ``audit.recover``, in one transaction; return the state changes among them
    (``notable`` names the kind of change an event made, or None), never replayed."""
    if not planned.events:
        raise Refused("戻せる事象がありません: ファイルの事象はどのアンカーでも JSON-lines の写し"
                      "でも確かめられません。何も戻していません。")
    changes = [(ev, kind) for ev in planned.events if (kind := notable(ev)) is not None]
    first, last = planned.events[0], planned.events[-1]
    held = hold.state(db)
    with db.write() as s:
        conn = s.connection()
        _same_head(conn, db, planned.head)
        if held is not None:
            hold.lift(conn)  # before the inserts: the trigger reads it
        conn.execute(_INSERT, planned.events)
        conn.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                     {"seq": last["seq"], "hash": last["hash"]})
        record(s, actor, "audit.recover", target=f"file:{source.name}", severity="warning",
               details={
                   "file": str(source), "sha256": planned.sha256,
                   "first": first["seq"], "last": last["seq"], "count": len(planned.events),
                   "missing": list(planned.missing),
                   "left_out": list(planned.left_out) if planned.left_out else None,
                   "state_changes": len(changes), "lifted": bool(held),
                   "changed": [{"seq": ev["seq"], "action": ev["action"], "kind": kind}
                               for ev, kind in changes[:200]],
               })
    return changes


def _same_head(conn: Any, db: Database, head: tuple[int, str]) -> None:
    """Lock the head and refuse when it moved since it was checked."""
    lock = "" if db.is_sqlite else " FOR UPDATE"
    now_head = conn.exec_driver_sql(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}").first()
    if now_head is None or (int(now_head[0]), str(now_head[1])) != head:
        raise Refused("操作ログが確かめた後に進みました (新しい事象が失われた番号を"
                      "使いました)。何も戻していません。")


def lift_only(db: Database, actor: Actor, source: Path, *, dry_run: bool = False) -> bool:
    """Nothing lost, the trail held: lift the hold and record ``audit.recover`` (count 0)
    in one transaction; False when it was not held. Refused while FILE holds events past
    the head (then something is lost that no witness saw: look before lifting)."""
    if not hold.state(db):
        return False
    head = anchor.head(db)
    found, sha = read_found(source, trail.read(db), head[0])
    if found.events:
        raise Refused(f"{source.name} に末尾 #{head[0]} より後の事象 #{min(found.events)}〜"
                      f"#{max(found.events)} がありますが、アンカーでも JSON-lines の写しでも"
                      "確かめられません。保留は解いていません。アンカーファイルと写しを確かめて"
                      "ください。")
    if dry_run:
        return True
    with db.write() as s:
        conn = s.connection()
        _same_head(conn, db, head)
        hold.lift(conn)
        record(s, actor, "audit.recover", target=f"file:{source.name}", severity="warning",
               details={"file": str(source), "sha256": sha, "count": 0, "lifted": True,
                        "missing": None})
    return True
