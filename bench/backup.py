"""Backup and restore at scale: ``juki db backup`` and the restore of its file, on a register
of N residents with an M-event trail, on SQLite and (when it answers) PostgreSQL; and what
a backup costs the clerks' lookups meanwhile.

What is timed, per backend:

* **backup** — the real command, ``juki db backup --output FILE --recipient …``, as a
  process of its own, wall clock: the snapshot (SQLite's online backup API; PostgreSQL's
  exported snapshot and ``pg_dump -Fc``), its SHA-256, the tar in an age file, the
  summary and the ``db.backup`` event. Floor: the snapshot alone (``services.backup.dump``
  into a file: what the database's own tool costs, before hashing and encryption).
* **restore** — ``juki db restore``'s steps in this process, into an empty database (a new
  file; a new PostgreSQL database): decrypt and check the SHA-256, load (the backup API
  again; ``pg_restore --single-transaction``), and the checks (the chain walked whole,
  head, counts). Floor: the load alone.
* **lookup p95** — the full ``services.lookup.search`` call a clerk waits for (permission,
  parsing, the query, its audit event, the commit), by whole name and birth date of
  residents drawn from the register: without a backup (once through the queries, and
  again in a loop after the backup for as long as it ran, so both sets meet a shared
  host's outside load for about as long), and in a loop for as long as the backup
  process runs. Same process, same connection pool. The backup runs as the command
  does, at nice 10.
* **sizes** — the database (SQLite file; PostgreSQL tables and indexes of the schema),
  the payload (uncompressed SQLite copy; ``pg_dump -Z1`` archive) and the encrypted file.

Targets (the issue's, at 1,000,000 residents and 10,000,000 events; ``--quick`` judges
the same targets on a small register): backup ≤ 120 s, restore ≤ 300 s, lookup p95 during
a backup ≤ 2× without.

Registers are built once into ``var/bench/backup-{n}-{m}.sqlite3`` and the PostgreSQL
schema ``bench_backup_{n}_{m}``: ``seed_register`` for the residents, then the trail as
synthetic chained events (hashed with ``logs.audit.event_hash``, written with executemany /
COPY in transactions of 500,000, the head moved with each), a staff account, VACUUM
(ANALYZE) on PostgreSQL, and a completion marker written last; ``--rebuild`` builds anew.
Each run adds its own events (the searches, ``db.backup``) to the cached trail.

    python bench/backup.py [--quick] [--rebuild] [--backends sqlite,postgresql]
                           [--residents N] [--events M] [--queries Q]

``--quick``: 20,000 residents, 200,000 events, 60 queries. Last line of stdout: one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyrage  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

from auth.accounts import add_user  # noqa: E402
from auth.signin import sign_in  # noqa: E402
from bench._db import PG_BASE, marker, pg_url, postgres_reachable, write_marker  # noqa: E402
from core.actor import Actor  # noqa: E402
from core.db import Database, columns  # noqa: E402
from core.settings import Settings  # noqa: E402
from logs import stream  # noqa: E402
from logs.audit import HASHED, canonical_details, event_hash  # noqa: E402
from services.backup import checks, container  # noqa: E402
from services.backup.drill import empty_database  # noqa: E402
from services.backup.dump import dump  # noqa: E402
from services.backup.load import load  # noqa: E402
from services.backup.progress import quiet  # noqa: E402
from services.backup.workdir import private_folder  # noqa: E402
from services.lookup.search import search  # noqa: E402
from services.lookup.types import LookupQuery  # noqa: E402
from services.register.models import STATUS_RESIDENT, Resident  # noqa: E402
from services.register.seed import seed_register  # noqa: E402
from services.schema import current_revision, head_revision, init_schema  # noqa: E402

CACHE = ROOT / "var" / "bench"
KEY_FILE = CACHE / "identifier.key"  # shared with bench/lookup's registers
META = "bench_backup_meta"
SEED = 1
PASSWORD = "bench-backup-yuki-no-hi"
ADMIN = Actor(login="bench:backup")
PURPOSE = "住民票の写し等の交付"
CHUNK = 500_000

TARGET_BACKUP_S = 120.0
TARGET_RESTORE_S = 300.0
TARGET_RATIO = 2.0


# --- the register and its trail, built once -------------------------------------------


def _events(db: Database, total: int) -> float:
    """Grow the trail to ``total`` events with synthetic chained ones; seconds taken."""
    started = time.perf_counter()
    cols = (*HASHED, "prev_hash", "hash")
    actions = ("register.search", "register.open", "linkage.propose", "signin.success")
    while True:
        with db.transaction() as conn:
            seq, prev = conn.exec_driver_sql(
                "SELECT seq, hash FROM audit_head WHERE id = 1").one()
            n = min(CHUNK, total - seq)
            if n <= 0:
                return time.perf_counter() - started
            base = time.time() - 86400 * 30
            rows: list[tuple[Any, ...]] = []
            for _ in range(n):
                seq += 1
                ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + seq / 10)) \
                    + ".000000Z"
                values = (seq, ts, f"clerk{seq % 40}", "s", "192.0.2.1", actions[seq % 4],
                          f"resident:{seq % 48000}", PURPOSE, "success", "info",
                          canonical_details({"residents": [seq % 48000], "count": 1}))
                prev_hash, prev = prev, event_hash(prev, values)
                rows.append((*values, prev_hash, prev))
            cur = conn.connection.cursor()
            if db.is_sqlite:
                cur.executemany(f"INSERT INTO audit_event ({', '.join(cols)}) VALUES "
                                f"({', '.join('?' * len(cols))})", rows)
            else:
                with cur.copy(f"COPY audit_event ({', '.join(cols)}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
            cur.close()
            conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
                         {"s": seq, "h": prev})
        print(f"    trail: {seq:,} events", flush=True)


def _build(db: Database, settings: Settings, n: int, m: int) -> dict[str, Any]:
    init_schema(db)
    t0 = time.perf_counter()
    print(f"    {seed_register(db, ADMIN, residents=n, seed=SEED)}", flush=True)
    seed_s = time.perf_counter() - t0
    add_user(db, settings, ADMIN, login="bench.clerk", name="bench.clerk 職員",
             roles=["clerk"], password=PASSWORD, department="市民課")
    events_s = _events(db, m)
    if not db.is_sqlite:
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM (ANALYZE)")
    mark = {"residents": n, "events": m, "seed_s": round(seed_s, 1),
            "events_s": round(events_s, 1)}
    write_marker(db, META, mark)
    return mark


def register(backend: str, n: int, m: int, rebuild: bool) -> tuple[Database, Settings, bool]:
    """The cached register (built now when missing, stale or ``rebuild``)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = CACHE / f"backup-{n}-{m}.sqlite3"
        url = f"sqlite:///{path}"
    else:
        schema = f"bench_backup_{n}_{m}"
        url = pg_url(schema)
    settings = Settings(database_url=url, data_dir=str(CACHE / "backup-work"),
                        identifier_key_file=str(KEY_FILE), audit_jsonl="-",
                        audit_anchor="-", argon2_profile="test")
    if not rebuild:
        try:
            db = Database(url, key_file=KEY_FILE)
            if current_revision(db) == head_revision() and marker(db, META):
                from core.sealed import sealer_of

                sealer_of(db.engine.dialect).ready()  # built under this key
                return db, settings, False
            db.dispose()
        except Exception:
            pass
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
    print(f"  building a {backend} register of {n:,} residents and {m:,} events …", flush=True)
    db = Database(url, key_file=KEY_FILE)
    _build(db, settings, n, m)
    return db, settings, True


# --- measuring ------------------------------------------------------------------------


def _p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)] * 1000 if s else float("nan")


def _queries(db: Database, k: int) -> list[LookupQuery]:
    r = columns(Resident)
    with db.engine.connect() as conn:
        top = int(conn.execute(select(r.id).order_by(r.id.desc()).limit(1)).scalar_one())
        ids = random.Random(SEED).sample(range(1, top + 1), min(top, k * 3))
        rows = conn.execute(select(r.family_name, r.given_name, r.birth_date).where(
            r.id.in_(ids), r.status == STATUS_RESIDENT, r.is_foreign.is_(False))).all()
    return [LookupQuery(purpose=PURPOSE, name=f"{f} {g}", birth=b.isoformat())
            for f, g, b in rows[:k]]


def _db_bytes(db: Database) -> int:
    if db.is_sqlite:
        path = Path(str(db.url.database))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
        ).scalar_one())


def run_backend(backend: str, n: int, m: int, q: int, rebuild: bool) -> dict[str, Any]:
    db, settings, built = register(backend, n, m, rebuild)
    ident = sign_in(db, settings, "bench.clerk", PASSWORD, "203.0.113.5")
    queries = _queries(db, q)
    fig: dict[str, Any] = {"db_bytes": _db_bytes(db), "built_now": built}

    def one(query: LookupQuery) -> float:
        t0 = time.perf_counter()
        search(db, settings, ident, query)
        return time.perf_counter() - t0

    for query in queries:  # warm-up: connections, statement caches, pages
        one(query)
    without = [one(query) for query in queries]

    age_id = pyrage.x25519.Identity.generate()
    work = CACHE / "backup-work" / uuid.uuid4().hex[:8]
    work.mkdir(parents=True, mode=0o700)
    try:
        out = work / "bench.age"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUKI_")}
        env.update(PYTHONPATH=str(ROOT), JUKI_DATABASE_URL=settings.resolved_database_url,
                   JUKI_DATA_DIR=str(work), JUKI_IDENTIFIER_KEY_FILE=str(KEY_FILE),
                   JUKI_AUDIT_JSONL="-", JUKI_AUDIT_ANCHOR="-")
        said = work / "backup.err"
        t0 = time.perf_counter()
        with open(said, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "console.cli", "db", "backup", "--output", str(out),
                 "--recipient", str(age_id.to_public())],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        during: list[float] = []
        i = 0
        while proc.poll() is None:
            during.append(one(queries[i % len(queries)]))
            i += 1
        fig["backup_s"] = time.perf_counter() - t0
        if proc.wait() != 0:
            raise RuntimeError(f"juki db backup failed: {said.read_text()[-500:]}")
        # Without, again, for as long as the backup ran (at most a minute): both sets
        # then met the same outside load of a shared host for about as long.
        until = time.perf_counter() + min(60.0, fig["backup_s"])
        while time.perf_counter() < until:
            without.append(one(queries[i % len(queries)]))
            i += 1
        fig["lookup_p95_without_ms"] = _p95(without)
        fig["lookup_p95_during_ms"] = _p95(during)
        fig["lookups_during"] = len(during)
        fig["lookup_ratio"] = fig["lookup_p95_during_ms"] / fig["lookup_p95_without_ms"]
        fig["file_bytes"] = out.stat().st_size

        ident_file = work / "key.txt"
        ident_file.write_text(f"{age_id}\n")
        with private_folder(work) as plain:
            t0 = time.perf_counter()
            manifest, payload = container.read(out, [age_id], plain, quiet)
            fig["decrypt_s"] = time.perf_counter() - t0
            fig["payload_bytes"] = manifest.payload_bytes
            with empty_database(db, KEY_FILE, work / "restored.sqlite3", manifest.schema) as target:
                t0 = time.perf_counter()
                load(target, manifest, payload, quiet)
                fig["load_s"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                found = checks.restored(target, manifest)
                fig["checks_s"] = time.perf_counter() - t0
                fig["restored_ok"] = all(c.ok for c in found)
        fig["restore_s"] = fig["decrypt_s"] + fig["load_s"] + fig["checks_s"]

        out.unlink()
        t0 = time.perf_counter()  # the floor: the snapshot alone
        dump(db, work / "floor.payload", quiet)
        fig["snapshot_alone_s"] = time.perf_counter() - t0
        (work / "floor.payload").unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        db.dispose()
    fig["events"] = manifest.facts.head_seq
    return fig


def _size(b: float) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e9 else f"{b / 1e6:.1f} MB"


def report(backend: str, f: dict[str, Any]) -> None:
    print(f"  {backend}: {f['events']:,} events in the backup"
          + (" (register built in this run)" if f["built_now"] else ""))
    print(f"    backup         {f['backup_s']:8.1f} s   target ≤ {TARGET_BACKUP_S:.0f} s   "
          f"floor (snapshot alone) {f['snapshot_alone_s']:.1f} s")
    print(f"    restore        {f['restore_s']:8.1f} s   target ≤ {TARGET_RESTORE_S:.0f} s   "
          f"floor (load alone) {f['load_s']:.1f} s  [decrypt {f['decrypt_s']:.1f} s, "
          f"checks {f['checks_s']:.1f} s, checks ok: {f['restored_ok']}]")
    print(f"    lookup p95     {f['lookup_p95_during_ms']:8.2f} ms during a backup "
          f"({f['lookups_during']} lookups) vs {f['lookup_p95_without_ms']:.2f} ms without: "
          f"{f['lookup_ratio']:.2f}×   target ≤ {TARGET_RATIO:.0f}×")
    print(f"    sizes          database {_size(f['db_bytes'])}, payload "
          f"{_size(f['payload_bytes'])}, encrypted file {_size(f['file_bytes'])}")


def met(f: dict[str, Any]) -> bool:
    return (f["backup_s"] <= TARGET_BACKUP_S and f["restore_s"] <= TARGET_RESTORE_S
            and f["lookup_ratio"] <= TARGET_RATIO and f["restored_ok"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="20,000 residents, 200,000 events, 60 queries")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--residents", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--queries", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.residents or (20_000 if args.quick else 1_000_000)
    m = args.events or (200_000 if args.quick else 10_000_000)
    q = args.queries or (60 if args.quick else 200)
    stream.configure(None)
    backends = [b for b in args.backends.split(",") if b]
    if "postgresql" in backends and not postgres_reachable():
        print("  PostgreSQL does not answer: its figures are left out")
        backends.remove("postgresql")
    figures: dict[str, Any] = {}
    for backend in backends:
        figures[backend] = run_backend(backend, n, m, q, args.rebuild)
        report(backend, figures[backend])
    summary = {
        "bench": "backup",
        "figures": {b: {k: round(v, 3) if isinstance(v, float) else v for k, v in f.items()}
                    for b, f in figures.items()},
        "targets": {"backup_s": TARGET_BACKUP_S, "restore_s": TARGET_RESTORE_S,
                    "lookup_p95_ratio": TARGET_RATIO, "residents": n, "events": m},
        "peer": {b: {"snapshot_alone_s": round(f["snapshot_alone_s"], 2),
                     "load_alone_s": round(f["load_s"], 2),
                     "lookup_p95_without_ms": round(f["lookup_p95_without_ms"], 2)}
                 for b, f in figures.items()},
        "met": bool(figures) and all(met(f) for f in figures.values()),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
