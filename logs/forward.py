"""``juki audit forward``: each event, once and in order, to a collector over HTTP.

The forwarder is a process of its own that reads the trail from the database, so the
act that records an event never waits on the network, and nothing committed can be
missed. Events go in batches through a local spool (``audit_forward_spool``):

1. *fill*: events after the last one spooled (or acknowledged) are read from the
   database and written as a spool file ``<first>-<last>.jsonl`` (complete before it
   is renamed into place, mode 0600). While the collector is down the spool keeps
   filling (up to ``MAX_SPOOL_FILES``), so a database that goes away later loses
   nothing already read.
2. *send*: the oldest spool file is POSTed to ``<url>events`` as {"events": [...]}.
   The collector answers {"acked": N}: the highest seq it holds, deduped by seq.
   Spool files up to N are deleted and N is kept in ``state.json``. A collector that
   answers a lower N than it once did (it lost data) gets everything again from N + 1;
   one that holds more than we sent is believed (the local state was lost).
3. A failure (no connection, a timeout, an answer that is not 200 JSON) is retried with
   exponential backoff: 0.25 s, doubling, up to ``audit_forward_backoff_max_seconds``.
4. A database that goes away (stopped, restarting, out of disk) does not end the
   forwarder: it says so once on stderr, keeps sending what is spooled, reads again
   every ``POLL_SECONDS`` and says when the database is back (docs/architecture.md §12).

At start the collector is asked (``GET <url>acked``) where to resume. Delivery is
exactly once to a collector that dedupes by seq (``logs.collector`` does), and in order
because batches go one at a time, oldest first.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from core.actor import Actor
from core.db import BACK, Database
from core.errors import BadInput, StorageFault
from core.inert import dumps
from logs import trail
from logs.audit import events_after, last_seq, record_alone

MAX_SPOOL_FILES = 1000
POLL_SECONDS = 0.5
FIRST_BACKOFF = 0.25
_NAME = re.compile(r"^(\d{12})-(\d{12})\.jsonl$")


@dataclass(frozen=True)
class SpoolFile:
    first: int
    last: int
    path: Path


class Spool:
    """Batches read but not yet acknowledged, and the last acknowledged seq."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in directory.glob(".*.tmp"):  # a write cut short by a hard stop
            stale.unlink(missing_ok=True)

    def files(self) -> list[SpoolFile]:
        found = []
        for path in self.dir.iterdir():
            m = _NAME.match(path.name)
            if m:
                found.append(SpoolFile(int(m[1]), int(m[2]), path))
        return sorted(found, key=lambda f: f.first)

    def _write(self, name: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.dir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, events: list[dict[str, Any]]) -> SpoolFile:
        first, last = events[0]["seq"], events[-1]["seq"]
        name = f"{first:012d}-{last:012d}.jsonl"
        self._write(name, "".join(
            dumps(ev, sort_keys=True) + "\n" for ev in events  # NEL, U+2028 escaped: one line
        ).encode("utf-8"))
        return SpoolFile(first, last, self.dir / name)

    @staticmethod
    def read(f: SpoolFile) -> list[dict[str, Any]]:
        return [json.loads(line) for line in f.path.read_text("utf-8").splitlines() if line]

    def acked(self, trail: str | None = None) -> int:
        return read_acked(self.dir, trail)

    def save_acked(self, acked: int, trail: str = "") -> None:
        """Keep ``acked`` and the trail it counts in (``logs.trail``): a spool shared by
        two databases' forwarders is never read as the other's witness."""
        self._write("state.json", json.dumps({"acked": acked, "trail": trail}).encode("utf-8"))

    def keep_after(self, acked: int) -> list[SpoolFile]:
        """Drop files the collector holds whole, and everything from the first file that
        does not follow on (it will be read again); return what is left, in order."""
        kept, expected = [], acked + 1
        for f in self.files():
            if f.last <= acked:
                f.path.unlink(missing_ok=True)
            elif f.first <= expected:
                kept.append(f)
                expected = f.last + 1
            else:
                f.path.unlink(missing_ok=True)
                expected = -1  # a gap: this and every later file go
        return kept


def read_acked(spool: Path, trail: str | None = None) -> int:
    """The last seq the collector acknowledged, as kept in the spool (0 if unknown, or
    when ``trail`` is given and the state names another trail).

    Also a witness for ``juki audit verify``: the trail must still reach it."""
    try:
        state = json.loads((spool / "state.json").read_text("utf-8"))
        acked = int(state["acked"])
        named = state.get("trail") or ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0
    return 0 if trail is not None and named and named != trail else acked


class CollectorError(Exception):
    pass


class Forwarder:
    def __init__(
        self, db: Database, url: str, spool: Path, *, batch: int = 500,
        backoff_max: float = 30.0, timeout: float = 10.0,
        out: Callable[[str], None] = print, stop: threading.Event | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if not url:
            raise BadInput(
                "設定 audit_forward_url (JUKI_AUDIT_FORWARD_URL) に転送先の URL がありません。"
            )
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise BadInput(f"設定 audit_forward_url: http(s) の URL を指定してください ({url})。")
        self.db = db
        self.base = url if url.endswith("/") else url + "/"
        self.spool = Spool(spool)
        self.batch = max(1, batch)
        self.backoff_max = max(FIRST_BACKOFF, backoff_max)
        self.out = out
        self.warn = warn or out
        """Where a database that went away (and came back) is said: stderr from the CLI."""
        self.stop = stop or threading.Event()
        self.client = httpx.Client(timeout=timeout, trust_env=False)
        self.trail = trail.name_of(db.engine)
        self.acked = self.spool.acked(self.trail or None)
        self.sent = 0
        self.db_down = False

    # --- the collector ---------------------------------------------------------------

    def _answer(self, resp: httpx.Response) -> int:
        if resp.status_code != 200:
            raise CollectorError(f"HTTP {resp.status_code}")
        try:
            acked = resp.json()["acked"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CollectorError("応答が JSON {\"acked\": N} ではありません") from exc
        if type(acked) is not int or acked < 0:
            raise CollectorError("応答の acked が整数ではありません")
        return acked

    def ask(self) -> int:
        return self._answer(self.client.get(self.base + "acked"))

    def send(self, events: list[dict[str, Any]]) -> int:
        return self._answer(self.client.post(self.base + "events", json={"events": events}))

    def _acknowledged(self, acked: int) -> None:
        """The collector holds everything up to ``acked`` (and nothing after)."""
        self.acked = acked
        self.spool.keep_after(acked)
        self.spool.save_acked(acked, self.trail)

    # --- the loop --------------------------------------------------------------------

    def fill(self, upto: int | None = None) -> None:
        """Spool the events after the last one spooled, up to ``upto`` when given."""
        files = self.spool.keep_after(self.acked)
        after = files[-1].last if files else self.acked
        while len(files) < MAX_SPOOL_FILES and (upto is None or after < upto):
            try:
                rows = events_after(self.db, after, self.batch)
            except StorageFault as exc:
                if not self.db_down:
                    self.warn(f"{exc.waiting} (スプールにある分は送り続けます)")
                self.db_down = True
                return
            except SQLAlchemyError as exc:
                if not self.db_down:
                    self.warn(f"データベースを読めません ({type(exc).__name__})。"
                              "スプールにある分は送り続けます。")
                self.db_down = True
                return
            if self.db_down:
                self.warn(f"{BACK}転送を続けます (送信済み #{self.acked})。")
                self.db_down = False
            if upto is not None:
                rows = [r for r in rows if r["seq"] <= upto]
            if not rows:
                return
            files.append(self.spool.put(rows))
            after = rows[-1]["seq"]

    def step(self) -> bool:
        """Send the oldest spool file; True when something was acknowledged."""
        files = self.spool.files()
        if not files:
            return False
        f = files[0]
        events = [ev for ev in self.spool.read(f) if ev["seq"] > self.acked]
        acked = self.send(events) if events else self.acked
        before = self.acked
        self._acknowledged(acked)
        self.sent += max(0, min(acked, f.last) - before)
        if acked < f.first - 1 and acked < before:
            self.out(f"収集先の受信済みが #{acked} に戻りました。#{acked + 1} から送り直します。")
        return True

    def run(self, *, once: bool = False, attempts: int = 8) -> int:
        """Forward until stopped (``once``: until every event present at start has been
        acknowledged, giving up with 1 after ``attempts`` failures in a row)."""
        failures = 0
        try:
            self._acknowledged(self.ask())
        except (httpx.HTTPError, CollectorError) as exc:
            self.out(f"収集先 {self.base} に接続できません ({_why(exc)})。"
                     f"記録上の送信済み #{self.acked} の次から送ります。")
        target = last_seq(self.db) if once else None
        while not self.stop.is_set():
            self.fill(target)
            try:
                progressed = self.step()
            except (httpx.HTTPError, CollectorError) as exc:
                failures += 1
                delay = min(self.backoff_max, FIRST_BACKOFF * 2 ** (failures - 1))
                if failures == 1 or (delay == self.backoff_max and failures % 10 == 0):
                    self.out(f"収集先に送れません ({_why(exc)})。再試行します"
                             f" (未送信はスプール {self.spool.dir} に保存)。")
                if once and failures >= attempts:
                    return 1
                self.stop.wait(delay)
                continue
            if failures:
                self.out(f"収集先に再び送れるようになりました (受信済み #{self.acked})。")
                failures = 0
            if progressed:
                continue
            if target is not None and self.acked >= target:
                return 0
            self.stop.wait(POLL_SECONDS)
        return 0

    def close(self) -> None:
        self.client.close()


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def run(
    db: Database, actor: Actor, out: Callable[[str], None], *, url: str, spool: Path,
    batch: int, backoff_max: float, timeout: float, once: bool = False, attempts: int = 8,
    warn: Callable[[str], None] | None = None,
) -> int:
    """``juki audit forward``: record the start, forward, stop on SIGTERM or Ctrl+C."""
    if attempts < 1:
        raise BadInput("--attempts: 1 以上の回数を指定してください。")
    stop = threading.Event()
    fw = Forwarder(db, url, spool, batch=batch, backoff_max=backoff_max, timeout=timeout,
                   out=out, stop=stop, warn=warn)
    record_alone(db, actor, "audit.forward", details={
        "url": fw.base, "once": once, "acked": fw.acked,
    })
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        code = fw.run(once=once, attempts=attempts)
    except KeyboardInterrupt:
        code = 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        fw.close()
    if code:
        out(f"収集先に送れないまま {attempts} 回試して止めました。未送信はスプールに残っています"
            f" (受信済み #{fw.acked} まで)。")
        record_alone(db, actor, "audit.forward", outcome="failure", severity="warning",
                     details={"url": fw.base, "acked": fw.acked, "sent": fw.sent})
    else:
        out(f"{fw.sent:,} 件を送りました (収集先の受信済み #{fw.acked} まで)。")
    return code
