"""Register data in: a full load of 100,000 residents and a day's 500 changes, beside a naive peer.

What is timed: ``import_register`` end to end — read the file's bytes, decode, check every
row (dates in 西暦 and 和暦), compute the search keys, write in batches inside one
transaction with its audit event, commit (and ANALYZE after a full load) — into a fresh
SQLite file, and into a fresh PostgreSQL schema when the server answers
(``JUKI_TEST_POSTGRES_URL``). Then a daily file of 500 changes of all eight kinds
(転入 転居 転出 世帯変更 出生 死亡 職権修正 消除) against that register. Generating the
files (from the synthetic register of ``services.register.seed``) is not timed.

The peer loads the same checked rows one ORM object at a time with a commit per row
(a SELECT for the household, ``session.add``, ``commit``) on a sample, extrapolated
linearly to the full size — not measured at 100,000. ``--quick``: 10,000 residents,
200 changes, a peer sample of 300.

Targets: full load < 60 s, daily changes < 5 s, on both backends. Last stdout line: JSON.
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

from sqlmodel import Session, select  # noqa: E402

import services.linkage  # noqa: E402, F401 - registers the import's linkage drift hook
from bench._db import postgres_db, postgres_reachable, sqlite_db  # noqa: E402
from core.actor import Actor  # noqa: E402
from core.db import Database  # noqa: E402
from logs import stream  # noqa: E402
from services.register.importer import import_register  # noqa: E402
from services.register.keys import resident_keys  # noqa: E402
from services.register.layout import read_register  # noqa: E402
from services.register.models import Household, Resident  # noqa: E402
from tests.services.register_files import daily_changes, encode, full_from_seed  # noqa: E402

FULL_TARGET_S = 60.0
DAILY_TARGET_S = 5.0
ACTOR = Actor(login="bench:import")


def time_backend(db: Database, full: bytes, day: bytes, label: str) -> tuple[float, float]:
    started = time.perf_counter()
    done = import_register(db, ACTOR, full, name="full.csv", full=True)
    full_s = time.perf_counter() - started
    print(f"  full load: {done.rows:,} rows in {full_s:.2f} s ({done.rows / full_s:,.0f} rows/s)"
          f" — {', '.join(f'{k} {v:,}' for k, v in done.counts.items())}")
    started = time.perf_counter()
    daily = import_register(db, ACTOR, day, name="day.csv", full=False)
    daily_s = time.perf_counter() - started
    print(f"  daily changes: {daily.rows:,} rows in {daily_s:.2f} s — "
          f"{', '.join(f'{k} {v}' for k, v in daily.counts.items())}; "
          f"linked 4-item changes {len(daily.linked_changed)}")
    started = time.perf_counter()
    again = import_register(db, ACTOR, day, name="day.csv", full=False)
    assert again.already
    print(f"  the same daily file again: nothing changed ({time.perf_counter() - started:.2f} s)"
          f" [{label}]")
    return full_s, daily_s


def time_peer(db: Database, full: bytes, sample: int) -> float:
    """Row at a time: the household looked up, one ORM object, one commit, per person."""
    rows = read_register(full, full=True).rows[:sample]
    started = time.perf_counter()
    for row in rows:
        with Session(db.engine) as s:
            hh = s.exec(select(Household).where(Household.household_no == row.household_no)
                        ).first()
            if hh is None:
                v = row.values
                hh = Household(household_no=row.household_no, town=v["town"],
                               chome=v["chome"], banchi=v["banchi"], go=v["go"],
                               katagaki=v["katagaki"], address=v["address"])
                s.add(hh)
                s.commit()
            values = dict(row.values)
            values.update(resident_keys(values))
            s.add(Resident(household_id=hh.id, **values))
            s.commit()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 residents, 200 changes")
    parser.add_argument("--residents", type=int, default=None)
    parser.add_argument("--changes", type=int, default=None)
    parser.add_argument("--peer-sample", type=int, default=None)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    residents = args.residents or (10_000 if args.quick else 100_000)
    changes = args.changes or (200 if args.quick else 500)
    sample = args.peer_sample or (300 if args.quick else 2_000)
    stream.configure(None)

    started = time.perf_counter()
    rows, _ = full_from_seed(residents, seed=1)
    full = encode(rows)
    day = encode(daily_changes(rows, changes, seed=2), delimiter="\t", bom=True)
    print(f"files: full {residents:,} rows ({len(full) / 2**20:.1f} MiB, UTF-8, 1 row in 7 "
          f"with 和暦 dates), daily {changes:,} rows (UTF-8 with BOM, tab); generated in "
          f"{time.perf_counter() - started:.1f} s (not timed)")

    figures: dict[str, object] = {"residents": residents, "changes": changes}
    with tempfile.TemporaryDirectory(prefix="juki-bench-import-") as tmp:
        print("SQLite, fresh file:")
        with sqlite_db(Path(tmp), "import.sqlite3") as db:
            sq_full, sq_day = time_backend(db, full, day, "SQLite")
        figures["sqlite_full_s"], figures["sqlite_daily_s"] = round(sq_full, 2), round(sq_day, 3)
        print(f"peer: one ORM object and one commit per row, SQLite, sample {sample:,}:")
        with sqlite_db(Path(tmp), "peer.sqlite3") as db:
            peer_s = time_peer(db, full, sample)
        peer_extra = peer_s * residents / sample
        print(f"  {peer_s:.2f} s for {sample:,} rows → extrapolated to {residents:,}: "
              f"{peer_extra:.0f} s (linear estimate, not measured)")

    pg_full = pg_day = None
    if not args.no_postgres and postgres_reachable():
        print("PostgreSQL, fresh schema:")
        with postgres_db() as db:
            pg_full, pg_day = time_backend(db, full, day, "PostgreSQL")
        figures["postgres_full_s"], figures["postgres_daily_s"] = (round(pg_full, 2),
                                                                   round(pg_day, 3))
    else:
        print("PostgreSQL: not reachable or skipped; no figure")
        figures["postgres_full_s"] = figures["postgres_daily_s"] = None

    met = sq_full < FULL_TARGET_S and sq_day < DAILY_TARGET_S and (
        pg_full is None or (pg_full < FULL_TARGET_S and (pg_day or 0) < DAILY_TARGET_S))
    print(f"full load: SQLite {sq_full:.2f} s, PostgreSQL "
          f"{'-' if pg_full is None else f'{pg_full:.2f} s'} (target < {FULL_TARGET_S:.0f} s); "
          f"daily: SQLite {sq_day:.2f} s, PostgreSQL "
          f"{'-' if pg_day is None else f'{pg_day:.2f} s'} (target < {DAILY_TARGET_S:.0f} s): "
          f"{'met' if met else 'NOT met'}; the full load is {peer_extra / sq_full:.0f}× the peer")
    print(json.dumps({
        "bench": "import",
        "figures": figures,
        "targets": {"full_load_s_max": FULL_TARGET_S, "daily_s_max": DAILY_TARGET_S,
                    "residents": residents, "changes": changes},
        "peer": {"kind": "ORM object + commit per row (household SELECT), SQLite",
                 "measured_rows": sample, "measured_s": round(peer_s, 2),
                 "extrapolated_s": round(peer_extra, 1), "extrapolated": True},
        "met": met,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
