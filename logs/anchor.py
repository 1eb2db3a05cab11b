"""Anchors: the chain head written outside the database, so a cut tail is found.

The hash chain shows an edited, deleted or reordered event, and ``audit_head`` shows
events cut off the end, but an intruder who can rewrite the table can rewrite the head
too: cut the last events, point the head at the new last one, and the chain still fits.
So each process that appends also writes the head it reached, after the commit, to an
anchor file (one JSON line ``{"hash", "seq", "sig", "trail", "ts"}``, appended with one
``write`` on a file opened O_APPEND) and as an ``audit.anchor`` record to the structlog
stream, which is shipped elsewhere. It does so after at most ``every_events`` of its
events, at its next event once ``every_seconds`` have passed, and when it exits (after
every commit when there is no JSON-lines copy to witness each event); ``juki audit
anchor`` writes one on demand (for cron).

Each line names the trail it belongs to and is signed with the audit signing key
(``logs.anchor_lines``, ``logs.signing``; docs/architecture.md §10): a line rewritten
without the key fails its signature, and two databases sharing one anchor file each
read their own lines.

``verify`` walks the chain (``logs.audit.verify``) and then checks every anchor of this
trail: the event at each anchored seq must still exist and still carry the anchored
hash. A missing seq is a lost tail (cut, or a database restored from an older backup:
``logs.recover`` brings it back); a different hash is a tail cut and written again. The
events after the newest anchor are checked the same way against the other witnesses
(``logs.witness``). Only a copy of the anchors that the intruder cannot rewrite (another
host, ``chattr +a``) makes this proof against someone with the database and the file;
the stream's copy is one such.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, text

from core.clock import iso, now
from core.db import Database
from core.files import append_whole, open_append
from logs import audit, signing, stream, trail, witness
from logs.anchor_lines import (
    Anchor,
    BadAnchorFile,
    message,
    public_key_of,
    read_anchors,
    sort_out,
)

__all__ = ["Anchor", "AnchoredResult", "BadAnchorFile", "anchor_now", "configure", "flush",
           "head", "read_anchors", "verify", "write_anchor"]


def write_anchor(
    path: Path, seq: int, hash_: str, *, trail: str = "", signer: signing.Signer | None = None,
) -> dict[str, Any]:
    """Append one anchor line to ``path`` (mode 0600; and the stream), signed when a
    ``signer`` is given; return what was written."""
    anchor: dict[str, Any] = {"seq": int(seq), "hash": str(hash_), "ts": iso(now()),
                              "trail": trail}
    if signer is not None:
        anchor["sig"] = signer.sign(message(anchor["seq"], anchor["hash"], trail, anchor["ts"]))
    line = (json.dumps(anchor, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    fd = open_append(path)
    try:
        append_whole(fd, line)  # one write, whole or not at all: no torn line, no interleaving
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


def anchor_now(db: Database, path: Path, key_file: Path | None = None) -> dict[str, Any]:
    """Write the current head as a signed anchor (``juki audit anchor``); a key that
    cannot be read raises ``signing.SigningKeyError``."""
    key = key_file or db.signing_key_file
    signer = signing.load_signer(key) if key is not None else None
    named = trail.read(db)
    seq, hash_ = head(db)
    written = write_anchor(path, seq, hash_, trail=named.id if named else "", signer=signer)
    current = _anchorer
    if current is not None:
        with current.lock:  # this process's newest event is anchored now
            if current.pending is not None and current.pending[0] <= seq:
                current.pending, current.count = None, 0
    return written


# --- the writing side: one anchorer per process --------------------------------------


class _Anchorer:
    """Remembers the newest event this process committed and anchors it now and then
    (``each_commit``: after every commit, when no JSON-lines copy witnesses the events)."""

    def __init__(self, path: Path, every_events: int, every_seconds: float,
                 each_commit: bool = False, key_file: Path | None = None) -> None:
        self.path = path
        self.every_events = 1 if each_commit else max(1, every_events)
        self.every_seconds = max(0.0, every_seconds)
        self.key_file = key_file
        self.signer: signing.Signer | None = None
        self.key_said = False
        self.lock = threading.Lock()
        self.pending: tuple[int, str, str] | None = None  # seq, hash, trail
        self.count = 0
        self.last = time.monotonic()

    def note(self, events: list[dict[str, Any]], trail_id: str) -> None:
        """The events of one commit: anchored together, at most one line per commit."""
        newest = max(events, key=lambda ev: ev["seq"])
        with self.lock:
            if self.pending is not None and self.pending[2] != trail_id:
                self._write()  # another database's head: anchored under its own name
            if self.pending is None or newest["seq"] > self.pending[0]:
                self.pending = (newest["seq"], newest["hash"], trail_id)
            self.count += len(events)
            due = time.monotonic() - self.last >= self.every_seconds
            if self.count >= self.every_events or due:
                self._write()

    def flush(self) -> None:
        with self.lock:
            if self.pending is not None:
                self._write()

    def _signer(self) -> signing.Signer | None:
        """The key, read once; without it the anchor is still written, unsigned, and
        ``juki audit verify`` names the line (the key's loss must not hide the tail)."""
        if self.signer is None and self.key_file is not None and not self.key_said:
            try:
                self.signer = signing.load_signer(self.key_file)
            except signing.SigningKeyError as exc:
                self.key_said = True
                print(f"juki: アンカーに署名できません: {exc.message}", file=sys.stderr)
        return self.signer

    def _write(self) -> None:
        assert self.pending is not None
        seq, hash_, trail_id = self.pending
        self.pending, self.count, self.last = None, 0, time.monotonic()
        try:
            write_anchor(self.path, seq, hash_, trail=trail_id, signer=self._signer())
        except OSError as exc:  # the events committed; the act must not look failed
            stream.report_failure(exc, "アンカー")


_anchorer: _Anchorer | None = None
_hooked = False


def _note(events: list[dict[str, Any]], trail_id: str) -> None:
    current = _anchorer
    if current is not None:
        current.note(events, trail_id)


def flush() -> None:
    """Anchor this process's newest event now if it is not anchored yet (runs at exit)."""
    current = _anchorer
    if current is not None:
        current.flush()


def configure(
    path: Path | None, every_events: int = 1000, every_seconds: float = 60.0,
    *, each_commit: bool = False, key_file: Path | None = None,
) -> None:
    """Anchor this process's events to ``path`` (mode 0600), signed with the key in
    ``key_file``; ``None`` turns anchoring off.

    ``each_commit``: anchor after every commit whatever the rules say, so that the file
    witnesses each event before the act returns (for when there is no JSON-lines copy).
    """
    global _anchorer, _hooked
    flush()
    _anchorer = (
        None if path is None
        else _Anchorer(path, every_events, every_seconds, each_commit, key_file)
    )
    if not _hooked:
        audit.after_commit.append(_note)
        atexit.register(flush)
        _hooked = True


# --- the checking side -------------------------------------------------------------------


@dataclass(frozen=True)
class AnchoredResult:
    """The chain's verdict and, when it held, the anchors' and the other witnesses'."""

    result: audit.VerifyResult
    anchors: int = 0  # this trail's anchors checked
    anchored_seq: int = 0  # the newest anchored seq
    file_found: bool = False
    witnessed_seq: int = 0  # the newest seq the other witnesses hold past the anchors
    witnessed_by: tuple[str, ...] = ()  # which other witnesses held one
    legacy: int = 0  # of ``anchors``: unsigned ones from before the trail was named
    other_trails: int = 0  # lines of another trail in the anchor file, not checked
    missing: tuple[int, int] | None = None  # a lost tail: first and last seq seen

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
            for row in conn.execute(query, {"seqs": seqs[i: i + 500]}):
                found[int(row[0])] = str(row[1])
    return found


def _last_stored(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM audit_event")
                   .scalar_one())


def _lost(count: int, last: int, seq: int, where: str) -> audit.VerifyResult:
    return audit.VerifyResult(False, count, last + 1, (
        f"末尾の操作ログが欠落しています: 事象 #{seq} まで記録されていたはずです ({where})"
        f" が、残っているのは #{last} までです。事象 #{last + 1}〜#{seq} が失われています"
        " (切り取られたか、古いバックアップから戻した疑い)。"
    ))


def _replaced(count: int, seq: int, good: int, where: str) -> audit.VerifyResult:
    return audit.VerifyResult(False, count, seq, (
        f"事象 #{seq} のハッシュが{where}と一致しません: #{good + 1}〜#{seq} のどこかから後の"
        "操作ログが差し替えられています (末尾を切り取って書き足した疑い)。"
    ))


def verify(
    db: Database, path: Path | None, *, stream_path: Path | None = None,
    spool: Path | None = None, key_file: Path | None = None,
) -> AnchoredResult:
    """The chain (first bad event), then every anchor of this trail in ``path`` (its
    signature checked with the public key of ``key_file``, default the database's),
    then what the other witnesses saw after the newest anchor: the JSON-lines copy at
    ``stream_path`` and the forwarder's acknowledged seq in ``spool`` (a missing or
    replaced tail).

    Every witness is read before the table is asked about it, and the table as it is
    now: a witness is written only after its event committed, so appends running
    meanwhile never look like a cut."""
    result = audit.verify(db)
    file_found = path is not None and path.exists()
    if not result.ok:
        return AnchoredResult(result, file_found=file_found)
    count = result.count
    named = trail.read(db)
    anchors: list[Anchor] = []
    legacy = other_trails = 0
    if file_found:
        assert path is not None
        public = public_key_of(named, key_file or db.signing_key_file)
        try:
            mine = sort_out(read_anchors(path), named, public, f"アンカーファイル {path}")
        except BadAnchorFile as exc:
            return AnchoredResult(
                audit.VerifyResult(False, count, None, str(exc)), file_found=True,
            )
        anchors = sorted(mine.own, key=lambda a: (a.seq, a.line))
        legacy, other_trails = mine.legacy, mine.other
    newest = anchors[-1].seq if anchors else 0
    others = [
        *(witness.from_stream(stream_path, newest, named) if stream_path is not None else ()),
        *(witness.from_forwarder(spool, named) if spool is not None else ()),
    ]
    others = sorted((w for w in others if w.seq > newest), key=lambda w: w.seq)
    stored = _stored_hashes(
        db, sorted({a.seq for a in anchors if a.seq > 0} | {w.seq for w in others})
    )
    name = path.name if path is not None else ""
    verdict = partial(AnchoredResult, anchors=len(anchors), anchored_seq=newest,
                      file_found=file_found, legacy=legacy, other_trails=other_trails)

    def lost() -> AnchoredResult:
        """Every seq seen past what is stored is lost: name the newest and its witness."""
        last = _last_stored(db)
        if others:
            seq, where = others[-1].seq, others[-1].source
        else:
            top = anchors[-1]
            seq, where = top.seq, f"{top.ts} のアンカー、{name} {top.line} 行目"
        return verdict(_lost(count, last, seq, where), missing=(last + 1, seq))

    good = 0  # the newest witnessed seq that still matches
    for a in anchors:
        if a.seq == 0:
            continue
        have = stored.get(a.seq)
        if have is None:
            return lost()
        if have != a.hash:
            where = f"アンカー ({a.ts}、{name} {a.line} 行目) "
            return verdict(_replaced(count, a.seq, good, where))
        good = a.seq
    for w in others:
        have = stored.get(w.seq)
        if have is None:  # every later one is missing too: name the newest
            return lost()
        if w.hash is not None and have != w.hash:
            return verdict(_replaced(count, w.seq, min(good, w.seq - 1), f" {w.source} "))
        good = w.seq
    return verdict(
        result, witnessed_seq=others[-1].seq if others else 0,
        witnessed_by=tuple(dict.fromkeys(w.kind for w in others)),
    )
