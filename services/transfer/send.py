"""``juki transfer send DEST``: the changed residents' permitted items, in acknowledged batches.

Which residents ("changed since"), decided when a run is planned:

* ``--since DATE``: residents with an 異動 (``resident_change``) whose 異動日 or 届出日 is
  on or after DATE.
* otherwise, after an earlier finished run to DEST: residents with an 異動 *entered*
  after that run was planned — ``resident_change.id`` above the run's watermark (the
  highest id then). Entry order, not the 異動日: a 届出 keyed in late carries an old
  異動日 and would be missed by a date rule.
* otherwise (the first transfer to DEST): every resident (初回の全件).

The register records every change of a resident as a ``resident_change`` row (the
resident table has no update time), so that is the rule's one source. Removed (消除)
residents are sent too: the receiver must learn of the removal.

A run is planned whole (``models``): resident ids in batches of ``transfer_batch_size``,
each with an idempotency key. Batches go one at a time, in order, to ``<url>batches``;
a batch is marked sent only when the receiver answers 200 with its key acknowledged.
A failure is retried (``transfer_attempts``, backing off), then the run stops: exit 1,
recorded, the run left open. The next ``juki transfer send DEST`` resumes it, sending
the pending batches under the same keys. Records are built at send time from the
register through the catalogue (``catalogue.build_record``): only the items on the
destination's list, each with its own reader; never a dump of the model.

DV等支援措置: a restricted resident's record is sent whole, like any other. A transfer is
a system-to-system duty under the legal basis of each listed item — the receiving system
needs the current record for its own work — and no person sees the records on the way:
the command prints, and the trail records, counts, items and batch keys only. Where the
destination's list has ``支援措置`` (the built-in ``atena``), the flag travels with the
record so that the receiver applies the measure (送付等の停止) itself.

The finished run is recorded as ``transfer.send`` (destination, endpoint, items and the
basis of each, record count, batch keys) in the transaction that closes it; a stop as
``transfer.send`` with outcome failure, in the transaction that notes the error.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.actor import Actor
from core.clock import now, today_in_japan
from core.db import Database, rowcount
from core.errors import BadInput, JukiError
from core.settings import Settings
from services import gate
from services.register.models import (
    LINK_ACTIVE,
    Household,
    MyNumberLink,
    Resident,
    ResidentChange,
)
from services.transfer.catalogue import MY_NUMBER, Source, Value, build_record
from services.transfer.config import Destination, TransferConfig, load_config
from services.transfer.models import (
    BATCH_PENDING,
    BATCH_SENT,
    RUN_ABANDONED,
    RUN_DONE,
    RUN_OPEN,
    TransferBatch,
    TransferRun,
)

ACTION = "transfer.send"
RULE_SINCE = "since"
RULE_AFTER_RUN = "after_run"
RULE_ALL = "all"
RULE_LABELS = {RULE_SINCE: "指定日以降の異動", RULE_AFTER_RUN: "前回の転送以降の異動",
               RULE_ALL: "全件 (初回)"}
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 5.0


class TransferFailed(JukiError):
    """The receiver did not acknowledge a batch: exit 1, recorded; the run stays open."""

    exit_code = 1


@dataclass(frozen=True)
class TransferResult:
    run_id: int
    destination: Destination
    rule: str
    since: date | None
    records: int
    batches: int
    sent_now: int  # batches acknowledged in this call
    resumed: bool


# --- planning -----------------------------------------------------------------------


def _open_run(s: Session, dest: str) -> TransferRun | None:
    return s.exec(select(TransferRun).where(
        TransferRun.destination == dest, TransferRun.status == RUN_OPEN)).first()


def _changed_residents(s: Session, rule: str, since: date | None, after: int,
                       watermark: int) -> list[int]:
    if rule == RULE_ALL:
        return [rid for rid in s.exec(select(Resident.id).order_by(col(Resident.id))).all()
                if rid is not None]
    q = select(ResidentChange.resident_id).distinct().where(col(ResidentChange.id) <= watermark)
    if rule == RULE_SINCE:
        q = q.where(or_(col(ResidentChange.occurred_on) >= since,
                        col(ResidentChange.notified_on) >= since))
    else:
        q = q.where(col(ResidentChange.id) > after)
    return sorted(s.exec(q).all())


def _plan(db: Database, actor: Actor, dest: Destination, since: date | None,
          batch_size: int, *, carry: TransferRun | None = None) -> int:
    """Write a new open run with its batches; returns its id. ``carry``: an abandoned
    run whose rule the new one takes over (its residents are not lost)."""
    with db.write() as s:
        watermark = s.exec(select(func.max(ResidentChange.id))).one() or 0
        if carry is not None:
            rule, since, after = carry.rule, carry.since, carry.after_change
        elif since is not None:
            rule, after = RULE_SINCE, 0
        else:
            prev = s.exec(select(TransferRun).where(
                TransferRun.destination == dest.id, TransferRun.status == RUN_DONE,
            ).order_by(TransferRun.id.desc())).first()  # type: ignore[union-attr]
            rule, after = (RULE_AFTER_RUN, prev.watermark) if prev else (RULE_ALL, 0)
        ids = _changed_residents(s, rule, since, after, watermark)
        chunks = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
        run = TransferRun(
            destination=dest.id, destination_name=dest.name, endpoint=dest.endpoint,
            items=json.dumps(list(dest.items), ensure_ascii=False),
            basis=json.dumps(dest.basis, ensure_ascii=False), rule=rule, since=since,
            after_change=after, watermark=watermark, records=len(ids), batches=len(chunks),
            planned_by=actor.login, planned_at=now(),
        )
        s.add(run)
        s.flush()
        assert run.id is not None
        for n, chunk in enumerate(chunks, start=1):
            s.add(TransferBatch(
                run_id=run.id, seq=n, key=f"{dest.id}-{run.id}-{n}-{uuid.uuid4().hex[:16]}",
                resident_ids=json.dumps(chunk), records=len(chunk),
            ))
        return run.id


def _act(db: Database, actor: Actor, run_id: int, dest: Destination, *,
         action: str = ACTION) -> AbstractContextManager[gate.Act]:
    """The gate's act that ends a run (stopped, finished or abandoned) with its event. The
    operator of ``juki transfer send`` is trusted, like every CLI admin command."""
    return gate.act(db, actor, action, perm=None, what="転送", target=f"transfer_run:{run_id}",
                    purpose=f"{dest.name}への転送")


def _abandon(db: Database, actor: Actor, run: TransferRun, dest: Destination) -> None:
    """Close an open run planned with another allowlist: what it still had to send goes
    in a new run with today's list, never with the old one."""
    assert run.id is not None
    with _act(db, actor, run.id, dest, action="transfer.abandon") as a:
        done = rowcount(a.s.execute(update(TransferRun).where(
            col(TransferRun.id) == run.id, col(TransferRun.status) == RUN_OPEN,
        ).values(status=RUN_ABANDONED, finished_at=now())))
        if done:
            a.record(severity="warning", details={
                "run": run.id, "destination": dest.id, "planned_items": json.loads(run.items),
                "items": list(dest.items), "reason": "転送してよい項目の設定が変わったため",
            })


def _run_for(db: Database, actor: Actor, dest: Destination, since: date | None,
             batch_size: int) -> tuple[int, bool]:
    """(run id, resumed): the open run to DEST, or a new one."""
    for _ in range(3):
        with db.read() as s:
            run = _open_run(s, dest.id)
            if run is not None:
                s.expunge(run)
        if run is not None:
            same = (json.loads(run.items) == list(dest.items)
                    and json.loads(run.basis) == dest.basis)
            if same:
                assert run.id is not None
                return run.id, True
            _abandon(db, actor, run, dest)
            try:
                return _plan(db, actor, dest, since, batch_size, carry=run), False
            except IntegrityError:
                continue
        try:
            return _plan(db, actor, dest, since, batch_size), False
        except IntegrityError:  # another sender planned one at the same moment: resume it
            continue
    raise TransferFailed(
        f"転送先 {dest.id}: 転送の準備がほかの処理と競合しました。再実行してください。")


# --- building the records ------------------------------------------------------------


def batch_records(db: Database, items: tuple[str, ...], ids: list[int]) -> list[dict[str, Value]]:
    """The records of these residents, in id order: the listed items and nothing else."""
    with db.read() as s:
        rows = s.exec(
            select(Resident, Household)
            .join(Household, Household.id == Resident.household_id)  # type: ignore[arg-type]
            .where(Resident.id.in_(ids))  # type: ignore[union-attr]
            .order_by(Resident.id)  # type: ignore[arg-type]
        ).all()
        latest: dict[int, ResidentChange] = {}
        for ch in s.exec(select(ResidentChange).where(
                ResidentChange.resident_id.in_(ids))).all():  # type: ignore[attr-defined]
            have = latest.get(ch.resident_id)
            if have is None or (ch.occurred_on, ch.id or 0) >= (have.occurred_on, have.id or 0):
                latest[ch.resident_id] = ch
        numbers: dict[int, str] = {}
        if MY_NUMBER in items:  # the number is read only for a destination that may have it
            numbers = dict(s.exec(select(MyNumberLink.resident_id, MyNumberLink.number).where(
                MyNumberLink.resident_id.in_(ids),  # type: ignore[attr-defined]
                MyNumberLink.status == LINK_ACTIVE)).all())
        return [build_record(items, Source(r, h, latest.get(r.id or 0), numbers.get(r.id or 0, "")))
                for r, h in rows]


# --- sending -----------------------------------------------------------------------


class _Rejected(Exception):
    """The receiver answered, but not with an acknowledgement: retrying will not help."""


def _post(client: httpx.Client, url: str, payload: dict[str, Any]) -> None:
    """POST one batch; returns only when the receiver acknowledged its key."""
    resp = client.post(url, json=payload, headers={"Accept": "application/json"})
    if resp.status_code >= 500:
        raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request,
                                    response=resp)
    if resp.status_code != 200:
        raise _Rejected(f"HTTP {resp.status_code}")
    try:
        body = resp.json()
    except ValueError:
        raise _Rejected("応答が JSON ではありません") from None
    if (not isinstance(body, dict) or body.get("key") != payload["key"]
            or body.get("acked") is not True):
        raise _Rejected("応答にこのバッチの受領確認がありません")


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "受信側が時間内に応答しません"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"受信側がエラーを返しました ({exc})"
    if isinstance(exc, _Rejected):
        return f"受信側が受け付けませんでした ({exc})"
    return f"受信側に接続できません ({type(exc).__name__})"


def _details(run: TransferRun, dest: Destination, keys: list[str], **more: Any) -> dict[str, Any]:
    return {
        "run": run.id, "destination": dest.id, "destination_name": dest.name,
        "endpoint": dest.endpoint, "items": json.loads(run.items),
        "basis": json.loads(run.basis), "records": run.records, "batches": run.batches,
        "batch_keys": keys, "rule": run.rule,
        "since": run.since.isoformat() if run.since else None,
        "after_change": run.after_change, "watermark": run.watermark, **more,
    }


def send_transfer(
    db: Database,
    settings: Settings,
    actor: Actor,
    dest_id: str,
    *,
    since: date | None = None,
    config: TransferConfig | None = None,
    out: Callable[[str], None] = lambda _: None,
) -> TransferResult:
    """Send DEST its changed residents (see the module); resume an unfinished run first.

    BadInput for an unknown DEST or a settings file that does not pass (nothing sent,
    nothing written); TransferFailed (recorded, run left open) when a batch is not
    acknowledged after ``transfer_attempts`` tries.
    """
    cfg = config or load_config(settings)
    dest = cfg.get(dest_id)
    if settings.transfer_batch_size < 1:
        raise BadInput("transfer_batch_size: 1以上の件数を設定してください。")
    if since is not None and since > today_in_japan():
        raise BadInput("--since (基準日): 未来の日付は指定できません。")
    run_id, resumed = _run_for(db, actor, dest, since, settings.transfer_batch_size)
    with db.read() as s:
        run = s.get(TransferRun, run_id)
        assert run is not None
        batches = list(s.exec(select(TransferBatch).where(TransferBatch.run_id == run_id)
                              .order_by(TransferBatch.seq)).all())  # type: ignore[arg-type]
        s.expunge_all()
    keys = [b.key for b in batches]
    pending = [b for b in batches if b.status == BATCH_PENDING]
    if resumed:
        out(f"転送 #{run_id} ({dest.name}) を再開します: 残り {len(pending):,} / "
            f"{run.batches:,} バッチ。")
        if since is not None and since != run.since:
            out("(--since は、この転送が終わったあとの次の転送から使われます。)")
    items = tuple(json.loads(run.items))
    attempts = max(1, settings.transfer_attempts)
    timeout = max(0.1, float(settings.transfer_timeout_seconds))
    sent_now = 0
    with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
        for batch in pending:
            ids = json.loads(batch.resident_ids)
            payload = {
                "key": batch.key, "destination": dest.id, "run": run_id, "seq": batch.seq,
                "of": run.batches, "items": list(items),
                "records": batch_records(db, items, ids),
            }
            tried = 0
            error: _Rejected | httpx.HTTPError | None = None
            while tried < attempts:
                tried += 1
                try:
                    _post(client, dest.endpoint, payload)
                    error = None
                    break
                except _Rejected as exc:
                    error = exc
                    break
                except httpx.HTTPError as exc:
                    error = exc
                    if tried < attempts:
                        time.sleep(min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (tried - 1)))
            if error is None:
                with db.write() as s:
                    s.execute(update(TransferBatch).where(
                        TransferBatch.id == batch.id,  # type: ignore[arg-type]
                        TransferBatch.status == BATCH_PENDING,  # type: ignore[arg-type]
                    ).values(status=BATCH_SENT, sent_at=now(),
                             attempts=TransferBatch.attempts + tried))
                sent_now += 1
                continue
            reason = _reason(error)
            acked = len(batches) - len(pending) + sent_now
            with _act(db, actor, run_id, dest) as a:
                a.s.execute(update(TransferBatch).where(
                    TransferBatch.id == batch.id).values(  # type: ignore[arg-type]
                    attempts=TransferBatch.attempts + tried))
                a.s.execute(update(TransferRun).where(TransferRun.id == run_id).values(  # type: ignore[arg-type]
                    attempts=TransferRun.attempts + 1, last_error=reason))
                a.record(outcome="failure", severity="warning",
                         details=_details(run, dest, keys, resumed=resumed, sent_now=sent_now,
                                          acked_batches=acked, failed_batch=batch.key,
                                          tries=tried, reason=reason))
            raise TransferFailed(
                f"{dest.name} ({dest.id}) への転送 #{run_id} を中断しました: {reason}。"
                f"受領確認済み {acked:,} / {run.batches:,} バッチ。"
                f"もう一度 juki transfer send {dest.id} を実行すると続きから再開します。"
            )
    with _act(db, actor, run_id, dest) as a:
        closed = rowcount(a.s.execute(update(TransferRun).where(
            col(TransferRun.id) == run_id, col(TransferRun.status) == RUN_OPEN,
        ).values(status=RUN_DONE, finished_at=now(), attempts=TransferRun.attempts + 1,
                 last_error="")))
        if closed:  # another sender that finished the same run has recorded it
            a.record(details=_details(run, dest, keys, resumed=resumed, sent_now=sent_now))
    return TransferResult(run_id, dest, run.rule, run.since, run.records, run.batches,
                          sent_now, resumed)


def list_runs(db: Database, dest: str | None = None, limit: int = 20) -> list[TransferRun]:
    """The latest runs (to DEST), newest first, with their state."""
    with db.read() as s:
        q = select(TransferRun)
        if dest:
            q = q.where(TransferRun.destination == dest)
        rows = list(s.exec(q.order_by(TransferRun.id.desc()).limit(limit)).all())  # type: ignore[union-attr]
        s.expunge_all()
    return rows
