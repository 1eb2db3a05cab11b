"""Forwarding the trail to a collector over HTTP (``juki audit forward``) and the collector
simulator (``juki audit collector``), all as real processes on loopback.

The proof: events written by another process while the forwarder runs, the collector
killed (SIGKILL) and started again mid-stream, the forwarder killed and started again
too — and at the end the collector's file holds every event exactly once, in order,
chained as in the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import GENESIS, HASHED, event_hash, events_after, last_seq, record_alone
from tests.procs import Loopback, launch, servers, wait_for

pytestmark = pytest.mark.slow

CLERK = Actor(login="tanaka", user_id=7, session_id="s-1", client_addr="203.0.113.7")

WRITER = """
import sys, time
from console.context import Context
from core.actor import Actor
from logs.audit import record_alone

ctx = Context.from_env()
who = Actor(login="writer", session_id="w-1")
for i in range(int(sys.argv[1])):
    record_alone(ctx.db, who, "test.write", target=f"marker:{i}")
    time.sleep(float(sys.argv[2]))
"""


@dataclass
class Collector(Loopback):
    out: Path

    def acked(self) -> int:
        return self.get("acked")["acked"]

    def send(self, events: list[dict]) -> dict:
        return self.post("events", {"events": events})

    def stored(self) -> list[dict]:
        return [json.loads(x) for x in self.out.read_text("utf-8").splitlines()]


@pytest.fixture
def start_collector(
    juki_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., Collector]]:
    def start(out: Path | None = None, port: int = 0) -> Collector:
        out = out or tmp_path / "collected.jsonl"
        return Collector(*launch(["audit", "collector", "--port", str(port), "--out",
                                  str(out)], env=juki_env, cwd=tmp_path, name="collector"),
                         out=out)

    yield from servers(start)


def _forward_env(juki_env: dict[str, str], url: str, **more: str) -> dict[str, str]:
    return {
        **juki_env, "JUKI_AUDIT_FORWARD_URL": url, "JUKI_AUDIT_FORWARD_BATCH": "25",
        "JUKI_AUDIT_FORWARD_BACKOFF_MAX_SECONDS": "0.5", **more,
    }


def _popen(args: list[str], env: dict[str, str], cwd: Path, name: str) -> subprocess.Popen:
    with open(cwd / name, "a") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, cwd=cwd,
        )


def _spool_files(settings: Settings) -> list[Path]:
    spool = settings.resolved_audit_forward_spool
    return sorted(spool.glob("*.jsonl")) if spool.exists() else []


def _assert_exactly_once_in_order(collected: list[dict], db: Database) -> None:
    stored = events_after(db, 0, 1_000_000)
    assert [e["seq"] for e in collected] == list(range(1, len(stored) + 1))
    assert collected == stored  # every field, as in the database
    prev = GENESIS
    for ev in collected:
        assert ev["prev_hash"] == prev
        assert event_hash(prev, tuple(ev[k] for k in HASHED)) == ev["hash"]
        prev = ev["hash"]


# --- the collector simulator ------------------------------------------------------------


def _fake(seq: int) -> dict:
    return {"seq": seq, "action": "x", "hash": f"{seq:064d}"}


def test_collector_dedupes_by_seq_and_stores_no_gap(
    start_collector: Callable[..., Collector],
) -> None:
    col = start_collector()
    assert col.acked() == 0
    assert col.send([_fake(1), _fake(2), _fake(3)])["acked"] == 3
    again = col.send([_fake(2), _fake(3), _fake(4)])
    assert (again["acked"], again["stored"], again["duplicates"]) == (4, 1, 2)
    gap = col.send([_fake(6), _fake(7)])
    assert (gap["acked"], gap["stored"], gap["gap"]) == (4, 0, True)
    assert [e["seq"] for e in col.stored()] == [1, 2, 3, 4]
    bad = httpx.post(col.url + "events", content=b"{", timeout=5, trust_env=False)
    assert bad.status_code == 400


def test_collector_restarts_from_its_file_and_drops_an_unfinished_line(
    start_collector: Callable[..., Collector], tmp_path: Path
) -> None:
    out = tmp_path / "kept.jsonl"
    out.write_text(
        json.dumps(_fake(1)) + "\n" + json.dumps(_fake(2)) + "\n" + '{"seq": 3, "act',
        encoding="utf-8",
    )
    col = start_collector(out)
    assert col.acked() == 2
    assert col.send([_fake(3)])["acked"] == 3
    assert [e["seq"] for e in col.stored()] == [1, 2, 3]


# --- the forwarder ------------------------------------------------------------------------


def test_forward_needs_a_url(db: Database, juki: Callable) -> None:
    done = juki("audit", "forward", "--once")
    assert done.returncode == 2 and "audit_forward_url" in done.stderr


def test_once_keeps_the_spool_while_the_collector_is_down_then_delivers(
    db: Database, settings: Settings, juki_env: dict[str, str], tmp_path: Path,
    start_collector: Callable[..., Collector],
) -> None:
    for i in range(60):
        record_alone(db, CLERK, "register.lookup", target=f"resident:{i}")
    col = start_collector()
    port, url = col.port, col.url
    col.stop()  # the collector is down from the start

    env = _forward_env(juki_env, url)
    down = subprocess.run(
        [sys.executable, "-m", "console.cli", "audit", "forward", "--once", "--attempts", "3"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert down.returncode == 1, down.stdout + down.stderr
    assert "スプール" in down.stdout and "Traceback" not in down.stderr
    spooled = _spool_files(settings)
    assert len(spooled) == 3  # 61 events (60 and the forwarder's start) in batches of 25
    failed = [e for e in events_after(db, 0) if e["action"] == "audit.forward"]
    assert [e["outcome"] for e in failed] == ["success", "failure"]

    col = start_collector(port=port)
    up = subprocess.run(
        [sys.executable, "-m", "console.cli", "audit", "forward", "--once"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert _spool_files(settings) == []
    # Everything: the spooled 61, the failure record (#62) and the second start (#63).
    collected = col.stored()
    assert [e["seq"] for e in collected] == list(range(1, last_seq(db) + 1))
    _assert_exactly_once_in_order(collected, db)


def test_a_collector_that_lost_its_data_gets_everything_again(
    db: Database, juki_env: dict[str, str], tmp_path: Path,
    start_collector: Callable[..., Collector],
) -> None:
    for i in range(30):
        record_alone(db, CLERK, "register.lookup", target=f"resident:{i}")
    col = start_collector()
    env = _forward_env(juki_env, col.url)
    once = [sys.executable, "-m", "console.cli", "audit", "forward", "--once"]
    first = subprocess.run(once, capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=60)
    assert first.returncode == 0, first.stdout + first.stderr
    assert col.acked() == last_seq(db)
    col.stop()
    col.out.unlink()  # the collector's disk was replaced
    col = start_collector(col.out, port=col.port)
    again = subprocess.run(once, capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_exactly_once_in_order(col.stored(), db)


def test_controls_in_the_trail_travel_escaped_and_arrive_exact(
    db: Database, settings: Settings, juki_env: dict[str, str], tmp_path: Path,
    start_collector: Callable[..., Collector],
) -> None:
    """C1 NEL and U+2028 split a line for str.splitlines: the spool and the collector's
    file carry them (and ESC, bidi, zero-width) as \\uXXXX, and the events arrive exact."""
    nasty = "\x1b]0;pwned\x07\x9b2J\x85\u2028\u202e\u200b山田"
    for i in range(3):
        record_alone(db, CLERK, "register.lookup", target=f"resident:{i} {nasty}",
                     details={"氏名": nasty})
    col = start_collector()
    env = _forward_env(juki_env, col.url)
    col.stop()  # down at first: the batch waits in the spool, then is read back from it
    down = subprocess.run(
        [sys.executable, "-m", "console.cli", "audit", "forward", "--once", "--attempts", "1"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert down.returncode == 1, down.stdout + down.stderr
    spooled = "".join(p.read_text("utf-8") for p in _spool_files(settings))
    raw = set("\x1b\x07\x9b\x85\u2028\u202e\u200b")
    assert {json.loads(x)["target"] for x in spooled.splitlines()} >= {
        f"resident:{i} {nasty}" for i in range(3)}
    assert not raw & set(spooled)
    col = start_collector(col.out, port=col.port)
    up = subprocess.run(
        [sys.executable, "-m", "console.cli", "audit", "forward", "--once"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert not raw & set(col.out.read_text("utf-8"))
    _assert_exactly_once_in_order(col.stored(), db)


def test_every_event_arrives_once_in_order_across_collector_and_forwarder_restarts(
    db: Database, settings: Settings, juki_env: dict[str, str], tmp_path: Path,
    start_collector: Callable[..., Collector],
) -> None:
    col = start_collector()
    port, out = col.port, col.out
    env = _forward_env(juki_env, col.url)
    forward = ["-m", "console.cli", "audit", "forward"]
    forwarder = _popen(forward, env, tmp_path, "forwarder.log")
    writer = _popen(["-c", WRITER, "400", "0.01"], juki_env, tmp_path, "writer.log")
    try:
        wait_for(lambda: col.acked() >= 50, 60, "the collector to receive 50 events")
        col.kill()  # SIGKILL mid-stream: no goodbye, maybe half a batch on disk
        down_at = last_seq(db)
        # While it is down the writer goes on and the forwarder spools what it reads.
        wait_for(lambda: last_seq(db) >= down_at + 60, 60, "60 more events while down")
        wait_for(lambda: len(_spool_files(settings)) >= 2, 30, "the spool to fill")
        assert writer.poll() is None, "the writer finished before the outage was over"
        col = start_collector(out, port=port)
        wait_for(lambda: col.acked() > down_at, 60, "the forwarder to resume")
        # And the forwarder itself dies hard and starts again.
        forwarder.send_signal(signal.SIGKILL)
        forwarder.wait(10)
        forwarder = _popen(forward, env, tmp_path, "forwarder.log")
        assert writer.wait(180) == 0, (tmp_path / "writer.log").read_text()
        wait_for(lambda: col.acked() == last_seq(db), 120, "every event to arrive")
    finally:
        for proc in (writer, forwarder):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(15)
    assert forwarder.returncode == 0, (tmp_path / "forwarder.log").read_text()
    log = (tmp_path / "forwarder.log").read_text("utf-8")
    assert "Traceback" not in log and "再試行" in log

    collected = col.stored()
    _assert_exactly_once_in_order(collected, db)
    markers = [e["target"] for e in collected if e["action"] == "test.write"]
    assert markers == [f"marker:{i}" for i in range(400)]
    assert [e["action"] for e in collected].count("audit.forward") == 2  # two starts
    assert os.path.exists(settings.resolved_audit_forward_spool / "state.json")
