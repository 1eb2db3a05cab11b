"""Anchors: the chain head written outside the database, so a cut tail is found.

The hash chain shows an edited, deleted or reordered event, and ``audit_head`` shows
events cut off the end, but an intruder who can rewrite the table can rewrite the head
too: cut the last events, point the head at the new last one, and the chain still fits.
So each process that appends also writes the head it reached, after the commit, to an
anchor file (one JSON line ``{"seq", "hash", "ts"}``, appended with one ``write`` on a
file opened O_APPEND) and as an ``audit.anchor`` record to the structlog stream, which is
shipped elsewhere. It does so after at most ``every_events`` of its events, at its next
event once ``every_seconds`` have passed, and when it exits; ``juki audit anchor`` writes
one on demand (for cron).

``verify`` walks the chain (``logs.audit.verify``) and then checks every anchor: the
event at each anchored seq must still exist and still carry the anchored hash. A missing
seq is a cut tail; a different hash is a tail cut and written again. Only a copy of the
anchors that the intruder cannot rewrite (another host, ``chattr +a``) makes this proof
against someone with the database and the file; the stream's copy is one such.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, text

from core.clock import iso, now
from core.db import Database
from core.files import PRIVATE, open_append
from logs import audit, stream


def write_anchor(path: Path, seq: int, hash_: str, mode: int = PRIVATE) -> dict[str, Any]:
    """Append one anchor line to ``path`` (and the stream); return what was written.
    ``mode``: the file's, 0600 unless shared (``Settings.data_file_mode``)."""
    anchor = {"seq": int(seq), "hash": str(hash_), "ts": iso(now())}
    line = (json.dumps(anchor, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    fd = open_append(path, mode)
    try:
        os.write(fd, line)  # one write: lines from several processes never interleave
    finally:
        os.close(fd)
    try:
        stream.emit_anchor(anchor)
    except Exception as exc:
        stream.report_failure(exc)
    return anchor


def head(db: Database) -> tuple[int, str]:
    """The committed chain head (seq, hash)."""
    with db.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT seq, hash FROM audit_head WHERE id = 1").first()
    if row is None:
        raise RuntimeError("audit_head has no row: run `juki db init` first")
    return int(row[0]), str(row[1])


def anchor_now(db: Database, path: Path, mode: int = PRIVATE) -> dict[str, Any]:
    """Write the current head as an anchor (``juki audit anchor``)."""
    seq, hash_ = head(db)
    written = write_anchor(path, seq, hash_, mode)
    current = _anchorer
    if current is not None:
        with current.lock:  # this process's newest event is anchored now
            if current.pending is not None and current.pending[0] <= seq:
                current.pending, current.count = None, 0
    return written


# --- the writing side: one anchorer per process --------------------------------------


class _Anchorer:
    """Remembers the newest event this process committed and anchors it now and then."""

    def __init__(self, path: Path, every_events: int, every_seconds: float,
                 mode: int = PRIVATE) -> None:
        self.path = path
        self.mode = mode
        self.every_events = max(1, every_events)
        self.every_seconds = max(0.0, every_seconds)
        self.lock = threading.Lock()
        self.pending: tuple[int, str] | None = None
        self.count = 0
        self.last = time.monotonic()

    def note(self, ev: dict[str, Any]) -> None:
        with self.lock:
            if self.pending is None or ev["seq"] > self.pending[0]:
                self.pending = (ev["seq"], ev["hash"])
            self.count += 1
            due = time.monotonic() - self.last >= self.every_seconds
            if self.count >= self.every_events or due:
                self._write()

    def flush(self) -> None:
        with self.lock:
            if self.pending is not None:
                self._write()

    def _write(self) -> None:
        assert self.pending is not None
        seq, hash_ = self.pending
        self.pending, self.count, self.last = None, 0, time.monotonic()
        try:
            write_anchor(self.path, seq, hash_, self.mode)
        except OSError as exc:  # the events committed; the act must not look failed
            print(f"juki: 操作ログのアンカーを書けませんでした: {exc}", file=sys.stderr)


_anchorer: _Anchorer | None = None
_hooked = False


def _note(ev: dict[str, Any]) -> None:
    current = _anchorer
    if current is not None:
        current.note(ev)


def flush() -> None:
    """Anchor this process's newest event now if it is not anchored yet (runs at exit)."""
    current = _anchorer
    if current is not None:
        current.flush()


def configure(path: Path | None, every_events: int = 1000, every_seconds: float = 60.0,
              mode: int = PRIVATE) -> None:
    """Anchor this process's events to ``path`` (a file of ``mode``); ``None`` turns
    anchoring off."""
    global _anchorer, _hooked
    flush()
    _anchorer = None if path is None else _Anchorer(path, every_events, every_seconds, mode)
    if not _hooked:
        audit.after_commit.append(_note)
        atexit.register(flush)
        _hooked = True


# --- the checking side -------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    ts: str
    line: int


class BadAnchorFile(ValueError):
    pass


def read_anchors(path: Path) -> Iterator[Anchor]:
    """Every anchor in the file, in file order; a line that is not one raises."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                anchor = Anchor(int(data["seq"]), str(data["hash"]), str(data["ts"]), number)
            except (ValueError, KeyError, TypeError) as exc:
                raise BadAnchorFile(
                    f"アンカーファイル {path} の {number} 行目を読めません (改ざんの疑い)。"
                ) from exc
            if anchor.seq < 0 or len(anchor.hash) != 64:
                raise BadAnchorFile(
                    f"アンカーファイル {path} の {number} 行目の内容が正しくありません"
                    " (改ざんの疑い)。"
                )
            yield anchor


@dataclass(frozen=True)
class AnchoredResult:
    """The chain's verdict and, when it held, the anchors'."""

    result: audit.VerifyResult
    anchors: int = 0  # anchors checked
    anchored_seq: int = 0  # the newest anchored seq
    file_found: bool = False

    @property
    def ok(self) -> bool:
        return self.result.ok


def _stored_hashes(db: Database, seqs: list[int]) -> dict[int, str]:
    query = text("SELECT seq, hash FROM audit_event WHERE seq IN :seqs").bindparams(
        bindparam("seqs", expanding=True)
    )
    found: dict[int, str] = {}
    with db.engine.connect() as conn:
        for i in range(0, len(seqs), 500):
            for seq, hash_ in conn.execute(query, {"seqs": seqs[i: i + 500]}):
                found[int(seq)] = str(hash_)
    return found


def _last_stored(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM audit_event")
                   .scalar_one())


def verify(db: Database, path: Path | None) -> AnchoredResult:
    """The chain (first bad event), then every anchor in ``path`` (a missing or replaced
    tail). Anchors newer than the chain's snapshot are checked against the table as it is
    now, so appends running meanwhile never look like a cut."""
    result = audit.verify(db)
    if not result.ok or path is None or not path.exists():
        return AnchoredResult(result, file_found=path is not None and path.exists())
    count = result.count
    try:
        anchors = sorted(read_anchors(path), key=lambda a: (a.seq, a.line))
    except BadAnchorFile as exc:
        return AnchoredResult(
            audit.VerifyResult(False, count, None, str(exc)), file_found=True,
        )
    stored = _stored_hashes(db, sorted({a.seq for a in anchors if a.seq > 0}))
    good = 0  # the newest anchored seq that still matches
    for a in anchors:
        if a.seq == 0:
            continue
        have = stored.get(a.seq)
        if have is None:
            last = _last_stored(db)
            reason = (
                f"末尾の操作ログが欠落しています: 事象 #{a.seq} まで記録されていたはずです"
                f" ({a.ts} のアンカー、{path.name} {a.line} 行目) が、残っているのは"
                f" #{last} までです (#{last + 1} 以降が切り取られた疑い)。"
            )
            return AnchoredResult(
                audit.VerifyResult(False, count, last + 1, reason),
                anchors=len(anchors), anchored_seq=anchors[-1].seq, file_found=True,
            )
        if have != a.hash:
            reason = (
                f"事象 #{a.seq} のハッシュがアンカー ({a.ts}、{path.name} {a.line} 行目) と"
                f" 一致しません: #{good + 1}〜#{a.seq} のどこかから後の操作ログが"
                "差し替えられています (末尾を切り取って書き足した疑い)。"
            )
            return AnchoredResult(
                audit.VerifyResult(False, count, a.seq, reason),
                anchors=len(anchors), anchored_seq=anchors[-1].seq, file_found=True,
            )
        good = a.seq
    return AnchoredResult(
        result, anchors=len(anchors), anchored_seq=anchors[-1].seq if anchors else 0,
        file_found=True,
    )
