"""``juki jukinet-sim``: a local stand-in for the 住基ネット endpoint of the 市町村CS.

For the demo and the tests only. It answers the query ``services.jukinet.client`` sends
from the register in the console's own database, as the national system would answer it
from its own: current residents (状態 住民) whose 生年月日 is the one asked, whose name
matches (``name`` through ``normalize_name``, so 高橋 finds 髙橋; a name written only in
kana, or ``kana`` when no name is given, against the reading through ``normalize_kana``),
whose 性別 matches when given, and whose address matches the one asked at a number
boundary through ``normalize_address`` (「若葉町二丁目3番地」 finds 2-3-5 but not 2-35; a
方書 after the address is allowed). Each candidate carries the resident's active 個人番号
from ``my_number_link``; a resident with none (the national system always knows one) gets
a synthetic valid number derived from the 住民票コード, stable between runs and never one
that is linked to someone else.

It applies the 4 / 3-item rule again (``build_query``) and answers 400 to a narrower
query: defence in depth, and a way for the tests to see a query that should never leave.

HTTP (JSON):

* ``POST /query`` {name, kana, birth (ISO), sex, address} → 200 {"items", "candidates":
  [{name, kana, birth, sex, address, resident_code, number}]}; 400 {"error"} for a
  narrower or unreadable query; 500 {"error"} when told to fail.
* ``GET /_stats`` → {"requests", "answered", "refused", "failed", "mode", "delay",
  "fail_rate"}: how many ``/query`` requests arrived, so a test can prove that a refused
  query never left the client.
* ``POST /_control`` {"mode": "ok" | "fail" | "slow" | "garbled", "delay": s,
  "fail_rate": r} switches the behaviour of the running process: ``fail`` answers 500,
  ``slow`` waits ``delay`` seconds before answering, ``garbled`` answers 200 with a body
  that is not JSON; ``fail_rate`` fails that share of queries at random in any mode.

It listens on loopback only (127.0.0.1, ::1, localhost): it hands out numbers without
asking who calls. It writes nothing to the register; its start and stop are recorded in
the audit trail (``jukinet.sim_start`` / ``jukinet.sim_stop``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import and_
from sqlmodel import col, select

from core.actor import Actor
from core.db import Database
from core.errors import BadInput, JukiError
from core.loopback import JsonHandler, JsonServer
from logs.audit import record_alone
from services.jp import is_kana, normalize_address
from services.jukinet.client import NOT_SENT, JukinetQuery, build_query
from services.register.keys import kana_fold, name_fold, resident_keys
from services.register.models import (
    CITY,
    LINK_ACTIVE,
    PREFECTURE,
    STATUS_RESIDENT,
    MyNumberLink,
    Resident,
)
from services.register.mynumber import my_number_check_digit

MODES = ("ok", "fail", "slow", "garbled")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY = 64 * 1024
_LOOPBACK_NAMES = {"localhost": "127.0.0.1"}


# --- matching the register -------------------------------------------------------


def _in_city(key: str) -> str:
    """An address key with this city's 青葉県 / 若葉市 taken off the front."""
    for head in (normalize_address(PREFECTURE), normalize_address(CITY)):
        if key.startswith(head):
            key = key[len(head):]
    return key


def _address_matches(asked: str, stored: str) -> bool:
    """``asked`` (normalised, in-city) names the place of ``stored`` (a resident's
    ``address_key``): equal, or a prefix of it ending at a number boundary
    (若葉町2-3 → 若葉町2-3-5, not 若葉町2-35), or ``stored`` followed by a 方書."""
    if not asked or not stored:
        return False
    if stored.startswith(asked):
        rest = stored[len(asked):]
        return not rest or not asked[-1].isdigit() or rest[0] == "-"
    if asked.startswith(stored):
        rest = asked[len(stored):]
        return not (rest[0].isdigit() or rest[0] == "-")
    return False


def _name_matcher(q: JukinetQuery) -> Callable[[dict[str, str]], bool]:
    """By the name as written (異体字 folded), or by the reading when only kana is given.

    Takes a resident's keys (``resident_keys``), computed here from the columns as
    written rather than read from the stored key columns: the birth date leaves a
    handful of rows, and the answer then does not depend on every writer keeping them.
    """
    if q.name and not is_kana(q.name):
        key = name_fold(q.name)
        return lambda keys: keys["name_key"] == key
    reading = kana_fold(q.name or q.kana)
    return lambda keys: keys["kana_key"] == reading


def _national_number(resident: Resident, taken: Callable[[str], bool]) -> str:
    """A stable, valid number for a resident the register has no number for."""
    for salt in range(1000):
        digest = hashlib.sha256(f"jukinet-sim:{resident.resident_code}:{salt}".encode())
        base = f"{int.from_bytes(digest.digest()[:8], 'big') % 10**11:011d}"
        number = base + str(my_number_check_digit(base))
        if not taken(number):
            return number
    raise RuntimeError("no free synthetic number")  # pragma: no cover - 1000 collisions


def find_candidates(db: Database, q: JukinetQuery) -> list[dict[str, str]]:
    """The register's answer to ``q``, as the JSON candidates of ``POST /query``."""
    name_ok = _name_matcher(q)
    asked = _in_city(normalize_address(q.address))
    out: list[dict[str, str]] = []
    with db.read() as s:
        rows = s.exec(
            select(Resident, MyNumberLink)
            .join(MyNumberLink, and_(
                col(MyNumberLink.resident_id) == Resident.id,
                col(MyNumberLink.status) == LINK_ACTIVE,
            ), isouter=True)
            .where(Resident.birth_date == q.birth, Resident.status == STATUS_RESIDENT)
            .order_by(col(Resident.resident_code))
        ).all()

        def taken(number: str) -> bool:
            return s.exec(select(MyNumberLink.id).where(
                MyNumberLink.number == number, MyNumberLink.status == LINK_ACTIVE,
            )).first() is not None

        for r, link in rows:
            if q.sex and r.sex != q.sex:
                continue
            keys = resident_keys(r)
            if not name_ok(keys) or not _address_matches(asked, keys["address_key"]):
                continue
            out.append({
                "name": f"{r.family_name}\u3000{r.given_name}",
                "kana": f"{r.family_kana}\u3000{r.given_kana}",
                "birth": r.birth_date.isoformat(),
                "sex": r.sex,
                "address": PREFECTURE + CITY + r.address,
                "resident_code": r.resident_code,
                "number": link.number if link is not None else _national_number(r, taken),
            })
    return out


# --- the server ---------------------------------------------------------------------


@dataclass
class SimState:
    """Behaviour and counters, shared by the handler threads."""

    mode: str = "ok"
    delay: float = 0.0
    fail_rate: float = 0.0
    requests: int = 0
    answered: int = 0
    refused: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests, "answered": self.answered,
                "refused": self.refused, "failed": self.failed, "mode": self.mode,
                "delay": self.delay, "fail_rate": self.fail_rate,
            }

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)

    def control(self, body: Any) -> None:
        """Apply a /_control body; ValueError (400) for anything not understood."""
        if not isinstance(body, dict):
            raise ValueError("JSON object expected")
        mode = body.get("mode", self.mode)
        delay = body.get("delay", self.delay)
        rate = body.get("fail_rate", self.fail_rate)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
            raise ValueError("delay must be a number >= 0")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ValueError("fail_rate must be between 0 and 1")
        with self.lock:
            self.mode, self.delay, self.fail_rate = mode, float(delay), float(rate)


class JukinetSimServer(JsonServer):
    """The simulator: a threading HTTP server holding the database and the state."""

    def __init__(self, address: tuple[str, int], db: Database, state: SimState) -> None:
        super().__init__(address, _Handler)
        self.db = db
        self.state = state


class _Handler(JsonHandler):
    server: JukinetSimServer
    server_version = "jukinet-sim"
    log_prefix = "jukinet-sim"
    close_each = True

    def do_GET(self) -> None:
        if self.path == "/_stats":
            self._send(200, self.server.state.stats())
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path == "/_control":
            try:
                self.server.state.control(self._json_body(MAX_BODY, allow_empty=True))
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, self.server.state.stats())
        elif self.path == "/query":
            self._query()
        else:
            self._send(404, {"error": "not found"})

    def _query(self) -> None:
        state = self.server.state
        state.count("requests")
        with state.lock:
            mode, delay, rate = state.mode, state.delay, state.fail_rate
            unlucky = rate > 0 and state.rng.random() < rate
        if mode == "slow" and delay > 0:
            time.sleep(delay)
        if mode == "fail" or unlucky:
            state.count("failed")
            self._send(500, {"error": "simulated failure (jukinet-sim)"})
            return
        try:
            body = self._json_body(MAX_BODY, allow_empty=True)
            if not isinstance(body, dict):
                raise ValueError("JSON object expected")
            q = build_query(**{k: str(body.get(k) or "") for k in (
                "name", "kana", "birth", "sex", "address")})
        except (ValueError, JukiError) as exc:
            state.count("refused")
            said = getattr(exc, "message", None) or str(exc)
            self._send(400, {"error": said.replace(NOT_SENT, "").strip()})
            return
        if mode == "garbled":
            state.count("answered")
            self._send(200, None, raw="<html>住基ネット: 保守中</html>".encode())
            return
        try:
            found = find_candidates(self.server.db, q)
        except Exception as exc:  # the register is unreadable: the caller sees a 500
            state.count("failed")
            self._send(500, {"error": f"register unavailable: {type(exc).__name__}"})
            return
        state.count("answered")
        self._send(200, {"items": q.items, "candidates": found})


# --- starting and stopping -----------------------------------------------------------


def loopback_host(host: str) -> str:
    """The host to bind, or BadInput when it is not a loopback address."""
    h = (host or "").strip().strip("[]")
    h = _LOOPBACK_NAMES.get(h.lower(), h)
    try:
        ok = ipaddress.ip_address(h).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise BadInput(
            f"--host: シミュレータはループバック (127.0.0.1, ::1, localhost) でのみ待ち受けます"
            f" (指定: {host})。"
        )
    return h


def make_server(
    db: Database,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    fail_rate: float = 0.0,
    delay: float = 0.0,
) -> JukinetSimServer:
    """A bound (not yet serving) simulator; ``port`` 0 takes any free port.

    ``delay`` > 0 starts in mode ``slow``. BadInput for a non-loopback host, a port out of
    range, a rate outside 0–1, a negative delay, or a port already in use.
    """
    bind = loopback_host(host)
    if not 0 <= port <= 65535:
        raise BadInput("--port: 0〜65535 で指定してください (0 は空いている番号)。")
    if not 0 <= fail_rate <= 1:
        raise BadInput("--fail-rate: 0〜1 の割合で指定してください。")
    if delay < 0:
        raise BadInput("--delay: 0秒以上で指定してください。")
    state = SimState(mode="slow" if delay > 0 else "ok", delay=delay, fail_rate=fail_rate)
    try:
        return JukinetSimServer((bind, port), db, state)
    except OSError as exc:
        raise BadInput(f"--port: {bind}:{port} で待ち受けられません ({exc.strerror})。") from exc



def run(
    db: Database,
    actor: Actor,
    out: Callable[[str], None],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    fail_rate: float = 0.0,
    delay: float = 0.0,
) -> int:
    """Serve until SIGTERM or Ctrl+C; print the URL first. Returns the exit code (0).

    Checks first that the register can be read, so a wrong database fails at start with
    a message rather than with a 500 on every query.
    """
    try:
        with db.read() as s:
            s.exec(select(Resident.id).limit(1)).first()
    except Exception as exc:
        raise JukiError(
            "住民記録を読めません。データベースの設定を確かめ、juki db init を実行してください"
            f" ({type(exc).__name__})。"
        ) from None
    server = make_server(db, host, port, fail_rate=fail_rate, delay=delay)
    record_alone(db, actor, "jukinet.sim_start", details={
        "url": server.url, "fail_rate": fail_rate, "delay": delay,
    })
    out(f"住基ネット照会シミュレータ: {server.url} で待ち受けています。")
    out("停止するには Ctrl+C (または SIGTERM)。試験用: GET /_stats, POST /_control")
    server.serve_until_stopped()
    stats = server.state.stats()
    record_alone(db, actor, "jukinet.sim_stop", details={
        k: stats[k] for k in ("requests", "answered", "refused", "failed")
    })
    out(f"停止しました (照会 {stats['requests']} 件)。")
    return 0


def default_address(jukinet_url: str) -> tuple[str, int]:
    """Where to listen when not told: the host and port of ``jukinet_url`` when it points
    at loopback (so the console finds the simulator as configured), else 127.0.0.1:8765."""
    try:
        url = httpx.URL(jukinet_url)
        host = loopback_host(url.host)
    except (httpx.InvalidURL, BadInput, TypeError):
        return DEFAULT_HOST, DEFAULT_PORT
    return host, url.port or (443 if url.scheme == "https" else 80)
