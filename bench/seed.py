"""Seeding the demo register: 50,000 residents into a fresh database, beside a naive ORM peer.

What is timed: ``seed_register`` end to end (generate the rows in Python, insert them with
SQLAlchemy Core executemany in batches of 5,000, one audit event, commit) into a fresh
SQLite file, and into a fresh PostgreSQL schema when the server answers
(``JUKI_TEST_POSTGRES_URL``, default postgresql+psycopg://postgres@127.0.0.1:5432/test).

The peer inserts the same rows one ORM object at a time (``session.add`` then ``flush``
per row, one transaction) on a smaller register, and its time is extrapolated linearly
to the full size — it is not measured at 50,000. ``--quick`` seeds 5,000.

Target: SQLite seed of 50,000 residents < 30 s. Last line of stdout: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._db import postgres_db, postgres_reachable, sqlite_db  # noqa: E402
from core.actor import Actor  # noqa: E402
from core.db import Database  # noqa: E402
from logs import stream  # noqa: E402
from services.register.models import (  # noqa: E402
    Household,
    MyNumberLink,
    Resident,
    ResidentChange,
)
from services.register.seed import build_register, seed_register  # noqa: E402

TARGET_S = 30.0
ACTOR = Actor(login="bench:seed")


def time_seed(db: Database, residents: int) -> float:
    started = time.perf_counter()
    summary = seed_register(db, ACTOR, residents=residents, seed=1)
    took = time.perf_counter() - started
    print(f"  {summary}")
    return took


def time_orm_peer(db: Database, residents: int) -> tuple[float, int]:
    """The same rows, one ORM object per ``session.add`` + ``flush`` (one INSERT each)."""
    rows = build_register(residents, 1)
    started = time.perf_counter()
    count = 0
    with db.write() as session:
        for model, batch in (
            (Household, rows.households), (Resident, rows.residents),
            (ResidentChange, rows.changes), (MyNumberLink, rows.links),
        ):
            for row in batch:
                session.add(model(**row))
                session.flush()
                count += 1
    return time.perf_counter() - started, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 residents (peer 500)")
    parser.add_argument("--residents", type=int, default=None)
    parser.add_argument("--peer-residents", type=int, default=None)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    residents = args.residents or (5_000 if args.quick else 50_000)
    peer_n = args.peer_residents or (500 if args.quick else 2_000)
    stream.configure(None)

    build_started = time.perf_counter()
    rows = build_register(residents, 1)
    build_s = time.perf_counter() - build_started
    total_rows = sum(len(x) for x in (rows.households, rows.residents, rows.changes, rows.links))
    print(f"rows for {residents:,} residents: {total_rows:,} "
          f"(households {len(rows.households):,}, changes {len(rows.changes):,}, "
          f"links {len(rows.links):,}); generating alone {build_s:.2f} s")

    figures: dict[str, object] = {
        "residents": residents, "rows": total_rows, "generate_only_s": round(build_s, 2),
    }
    with tempfile.TemporaryDirectory(prefix="juki-bench-seed-") as tmp:
        print(f"SQLite, fresh file, {residents:,} residents:")
        with sqlite_db(Path(tmp), "seed.sqlite3") as db:
            sqlite_s = time_seed(db, residents)
        print(f"  {sqlite_s:.2f} s (target < {TARGET_S:.0f} s), "
              f"{total_rows / sqlite_s:,.0f} rows/s")
        figures["sqlite_seed_s"] = round(sqlite_s, 2)

        print(f"peer: ORM session.add + flush per row, SQLite, {peer_n:,} residents:")
        with sqlite_db(Path(tmp), "peer.sqlite3") as db:
            peer_s, peer_rows = time_orm_peer(db, peer_n)
        peer_extra = peer_s * residents / peer_n
        print(f"  {peer_s:.2f} s for {peer_rows:,} rows → extrapolated to {residents:,} "
              f"residents: {peer_extra:.1f} s (linear estimate, not measured)")

    pg_s: float | None = None
    if not args.no_postgres and postgres_reachable():
        print(f"PostgreSQL, fresh schema, {residents:,} residents:")
        with postgres_db() as db:
            pg_s = time_seed(db, residents)
        print(f"  {pg_s:.2f} s, {total_rows / pg_s:,.0f} rows/s")
        figures["postgres_seed_s"] = round(pg_s, 2)
    else:
        print("PostgreSQL: not reachable or skipped; no figure")
        figures["postgres_seed_s"] = None

    met = sqlite_s < TARGET_S
    print(f"SQLite seed {sqlite_s:.2f} s vs target < {TARGET_S:.0f} s: "
          f"{'met' if met else 'NOT met'}; {peer_extra / sqlite_s:.1f}× faster than the peer")
    result = {
        "bench": "seed",
        "figures": figures,
        "targets": {"sqlite_seed_s_max": TARGET_S, "residents": residents},
        "peer": {
            "kind": "ORM session.add + flush per row, SQLite",
            "measured_residents": peer_n,
            "measured_s": round(peer_s, 2),
            "extrapolated_s": round(peer_extra, 1),
            "extrapolated": True,
        },
        "met": met,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
