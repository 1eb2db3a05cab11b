"""Benchmark the audit trail: appends per second (1 process, 4 processes at once) and
events verified per second, on SQLite and, when reachable, on PostgreSQL.

Targets (SQLite): >= 2,000 events/s appended by 4 processes at once, each witnessing its
events outside the database as a console process does (the JSON-lines copy, anchors);
verify >= 100,000 events/s. The peer is the same row written without the chain: a plain INSERT in a
transaction of its own, no head row read or locked, so the gap is the chain's cost.

    python bench/audit.py [--quick] [--no-pg] [--pg URL]

The last line of output is one JSON object, as for every bench script (README, "Performance").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.actor import Actor  # noqa: E402
from core.clock import iso, now  # noqa: E402
from core.db import Database  # noqa: E402
from logs import anchor, audit, signing, stream  # noqa: E402

TARGET_APPEND_4P = 2_000.0
TARGET_VERIFY = 100_000.0
PROCS = 4

ACTOR = Actor(login="bench.clerk", user_id=1, session_id="0" * 32, client_addr="203.0.113.7")
DETAILS = {"query": {"氏名": "髙橋 花子", "生年月日": "1980-04-01"}, "hits": 1}
PURPOSE = "住民票の写しの交付"

PLAIN_COLUMNS = (*audit.HASHED, "prev_hash", "hash")


# --- the two ways of writing one event -----------------------------------------------


def _chain_append(db: Database, i: int) -> None:
    audit.record_alone(db, ACTOR, "register.lookup", target=f"resident:{i}",
                       purpose=PURPOSE, details=DETAILS)


def _plain_sql(db: Database) -> str:
    mark = (lambda c: f":{c}") if db.is_sqlite else (lambda c: f"%({c})s")
    return (
        f"INSERT INTO bench_plain_event ({', '.join(PLAIN_COLUMNS)})"
        f" VALUES ({', '.join(mark(c) for c in PLAIN_COLUMNS)})"
    )


def _plain_append(db: Database, i: int, sql: str) -> None:
    """The same row, hashed alone, inserted in its own transaction: no head, no lock."""
    row: dict[str, Any] = {
        "seq": 0, "ts": iso(now()), "actor": ACTOR.login, "session_id": ACTOR.session_id,
        "client_addr": ACTOR.client_addr, "action": "register.lookup",
        "target": f"resident:{i}", "purpose": PURPOSE, "outcome": "success",
        "severity": "info", "details": audit.canonical_details(DETAILS),
        "prev_hash": audit.GENESIS,
    }
    row["hash"] = audit.event_hash(audit.GENESIS, tuple(row[k] for k in audit.HASHED))
    with db.transaction() as conn:
        cur = conn.connection.cursor()
        cur.execute(sql, row)
        cur.close()


def _writer_for(kind: str, db: Database) -> Callable[[int], None]:
    if kind in ("chain", "witnessed"):
        return lambda i: _chain_append(db, i)
    sql = _plain_sql(db)
    return lambda i: _plain_append(db, i, sql)


def _create_plain_table(db: Database) -> None:
    """The peer's table: audit_event's columns and indexes, a plain key, no guards."""
    key = "id INTEGER PRIMARY KEY" if db.is_sqlite else "id BIGSERIAL PRIMARY KEY"
    cols = ", ".join(
        f"{c} INTEGER NOT NULL" if c == "seq" else f"{c} TEXT NOT NULL" for c in PLAIN_COLUMNS
    )
    with db.transaction() as conn:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS bench_plain_event ({key}, {cols})")
        for c in ("ts", "actor", "action"):
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_bench_plain_{c} ON bench_plain_event ({c})"
            )


# --- measuring ---------------------------------------------------------------------------


def _worker(
    kind: str, url: str, n: int, index: int, barrier: Any, out: Any, files: str,
) -> None:
    """One writer process: warm up (connect, first statement), wait for all, then time n.

    ``witnessed``: wired as ``console.context`` wires a process with the default settings:
    each event's line in the JSON-lines copy before the append returns, an anchor every
    1,000 events, signed."""
    if kind == "witnessed":
        key = Path(files) / "audit-signing.key"
        signing.create_key_file(key)  # the first worker makes it; the others find it
        stream.configure(Path(files) / "audit.jsonl")
        anchor.configure(Path(files) / "audit-anchor.jsonl", 1000, 60.0, key_file=key)
    db = Database(url)
    write = _writer_for(kind, db)
    write(-1 - index)
    barrier.wait(timeout=120)
    started = time.monotonic()  # CLOCK_MONOTONIC: comparable between processes on Linux
    for i in range(n):
        write(index * n + i)
    out.put((started, time.monotonic()))
    db.dispose()


def one_process(kind: str, db: Database, n: int) -> float:
    write = _writer_for(kind, db)
    write(-1)
    started = time.perf_counter()
    for i in range(n):
        write(i)
    return n / (time.perf_counter() - started)


def many_processes(kind: str, url: str, n: int, files: Path, procs: int = PROCS) -> float:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(kind, url, n, k, barrier, out, str(files)))
        for k in range(procs)
    ]
    for w in workers:
        w.start()
    spans = [out.get(timeout=600) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        if w.exitcode != 0:
            raise RuntimeError(f"writer process failed (exit {w.exitcode})")
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return procs * n / elapsed


def build_chain(db: Database, total: int, per_txn: int = 1000) -> None:
    """Grow the trail to ``total`` events through ``record``, in modest transactions."""
    missing = total - audit.last_seq(db)
    while missing > 0:
        batch = min(per_txn, missing)
        with db.write() as s:
            for i in range(batch):
                audit.record(s, ACTOR, "register.lookup", target=f"resident:{i}",
                             purpose=PURPOSE, details=DETAILS)
        missing -= batch


def verify_rate(db: Database, rounds: int = 2) -> tuple[float, audit.VerifyResult]:
    best = 0.0
    result = audit.VerifyResult(False, 0)
    for _ in range(rounds):
        started = time.perf_counter()
        result = audit.verify(db)
        best = max(best, result.count / (time.perf_counter() - started))
    return best, result


def run_backend(name: str, url: str, sizes: dict[str, int], jsonl: Path) -> dict[str, Any]:
    from services.schema import init_schema

    db = Database(url)
    init_schema(db)
    _create_plain_table(db)
    fig: dict[str, Any] = {}
    expected = 0

    stream.configure(None)
    fig["append_1p"] = one_process("chain", db, sizes["one"])
    expected += sizes["one"] + 1
    fig["plain_1p"] = one_process("plain", db, sizes["one"])
    stream.configure(jsonl)
    fig["append_1p_with_jsonl"] = one_process("chain", db, sizes["one"])
    expected += sizes["one"] + 1
    stream.configure(None)

    fig["append_4p"] = many_processes("chain", url, sizes["each"], jsonl.parent)
    expected += PROCS * (sizes["each"] + 1)
    fig["append_4p_witnessed"] = many_processes("witnessed", url, sizes["each"], jsonl.parent)
    expected += PROCS * (sizes["each"] + 1)
    fig["plain_4p"] = many_processes("plain", url, sizes["each"], jsonl.parent)

    after = audit.verify(db)
    fig["chain_intact_after_4p"] = after.ok and after.count == expected

    build_chain(db, sizes["verify"])
    fig["verify"], result = verify_rate(db)
    fig["verify_events"] = result.count
    fig["verify_ok"] = result.ok
    db.dispose()
    return fig


def run_postgres(base: str, sizes: dict[str, int], jsonl: Path) -> dict[str, Any] | None:
    from bench._db import postgres_reachable, scratch_schema

    if not postgres_reachable(base):
        print(f"PostgreSQL: {base} に接続できないため省略します。")
        return None
    with scratch_schema("bench_audit_", base) as url:
        return run_backend("postgresql", url, sizes, jsonl)


def _show(name: str, fig: dict[str, Any]) -> None:
    print(f"{name}:")
    rows = [
        ("append, 1 process", "append_1p", "plain_1p", ""),
        ("append, 1 process + JSONL copy", "append_1p_with_jsonl", None, ""),
        (f"append, {PROCS} processes at once", "append_4p", "plain_4p", ""),
        (f"append, {PROCS} processes + JSONL, anchors", "append_4p_witnessed", "plain_4p",
         f"target >= {TARGET_APPEND_4P:,.0f}/s" if name == "SQLite" else ""),
        (f"verify ({fig['verify_events']:,} events)", "verify", None,
         f"target >= {TARGET_VERIFY:,.0f}/s" if name == "SQLite" else ""),
    ]
    for label, key, peer, target in rows:
        line = f"  {label:36} {fig[key]:>11,.0f} events/s"
        if peer:
            ratio = fig[key] / fig[peer]
            line += f"   peer (plain INSERT, no chain) {fig[peer]:>9,.0f}/s  chain = {ratio:.0%}"
        if target:
            line += f"   {target}"
        print(line)
    print(f"  chain intact after concurrent appends: {fig['chain_intact_after_4p']},"
          f" verify ok: {fig['verify_ok']}")


def main(argv: list[str] | None = None) -> int:
    from bench._db import PG_DEFAULT  # here, like the other late imports: not in the workers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--pg", default=os.environ.get("JUKI_BENCH_POSTGRES_URL")
                    or os.environ.get("JUKI_TEST_POSTGRES_URL") or PG_DEFAULT)
    args = ap.parse_args(argv)
    sqlite_sizes = (
        {"one": 1000, "each": 500, "verify": 30_000} if args.quick
        else {"one": 5000, "each": 2500, "verify": 300_000}
    )
    pg_sizes = (
        {"one": 500, "each": 250, "verify": 8_000} if args.quick
        else {"one": 2000, "each": 1000, "verify": 60_000}
    )

    figures: dict[str, Any] = {}
    peer: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="juki-bench-audit-") as tmp:
        jsonl = Path(tmp) / "audit.jsonl"
        sq = run_backend("sqlite", f"sqlite:///{tmp}/bench.sqlite3", sqlite_sizes, jsonl)
        _show("SQLite", sq)
        pg = None if args.no_pg else run_postgres(args.pg, pg_sizes, jsonl)
        if pg is not None:
            _show("PostgreSQL", pg)
    for prefix, fig in (("sqlite", sq), ("postgresql", pg)):
        if fig is None:
            continue
        for key in ("append_1p", "append_1p_with_jsonl", "append_4p", "append_4p_witnessed",
                    "verify"):
            figures[f"{prefix}_{key}_per_s"] = round(fig[key])
        figures[f"{prefix}_verify_events"] = fig["verify_events"]
        figures[f"{prefix}_chain_ok"] = bool(fig["chain_intact_after_4p"] and fig["verify_ok"])
        peer[f"{prefix}_plain_insert_1p_per_s"] = round(fig["plain_1p"])
        peer[f"{prefix}_plain_insert_4p_per_s"] = round(fig["plain_4p"])
    targets = {"sqlite_append_4p_witnessed_per_s": TARGET_APPEND_4P,
               "sqlite_verify_per_s": TARGET_VERIFY}
    met = (
        figures["sqlite_append_4p_witnessed_per_s"] >= TARGET_APPEND_4P
        and figures["sqlite_verify_per_s"] >= TARGET_VERIFY
        and figures["sqlite_chain_ok"]
        and figures.get("postgresql_chain_ok", True)
    )
    print(json.dumps({"bench": "audit", "figures": figures, "targets": targets,
                      "peer": peer, "met": met}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
