"""Witnesses: every committed event is seen outside the database before the act returns,
so a cut after the newest anchor is found even when the writers were killed (kill -9)
before their next anchor. ``juki audit verify`` compares the table with every witness it
can read: the anchor file, the JSON-lines copy, the forwarder's acknowledged seq.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.db import Database
from core.settings import Settings
from logs import anchor
from logs.audit import events_after, last_seq
from logs.forward import Spool
from tests.logs.test_audit_anchor import _cut_to, _lines, _seed, _tamper

WRITERS = 4

# A console process in miniature: settings from the environment, wired by ``Context``
# (the JSON-lines copy and the anchors as configured), appending until it is killed.
WRITER = """
import sys
from console.context import Context
from core.actor import Actor
from logs.audit import record_alone

ctx = Context.from_env()
who = Actor(login="writer" + sys.argv[1], session_id="w-" + sys.argv[1])
i = 0
while True:
    record_alone(ctx.db, who, "test.write", target=f"{sys.argv[1]}:{i}")
    i += 1
"""


def _kill_writers_mid_stream(
    db: Database, env: dict[str, str], cwd: Path, events: int
) -> int:
    """Four writer processes append until the trail has grown by ``events``; then each
    gets SIGKILL, as a hard stop would. Returns the last seq in the table."""
    start = last_seq(db)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(k)], env=env, cwd=cwd,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
        for k in range(WRITERS)
    ]
    try:
        deadline = time.monotonic() + 30
        while last_seq(db) < start + events:
            assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs
                                                          if p.poll() is not None]
            assert time.monotonic() < deadline, "the writers did not get going"
            time.sleep(0.02)
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait(10)
            assert p.stderr is not None
            p.stderr.close()
    assert all(p.returncode == -signal.SIGKILL for p in procs)
    return last_seq(db)


def _newest_anchor(settings: Settings) -> int:
    path = settings.resolved_audit_anchor
    assert path is not None
    return max(a["seq"] for a in _lines(path))


@pytest.mark.slow
@pytest.mark.parametrize("cut", [False, True], ids=["clean", "cut after the newest anchor"])
def test_killed_writers_leave_no_cut_unseen(
    db: Database, db_url: str, settings: Settings, juki: Callable,
    juki_env: dict[str, str], tmp_path: Path, cut: bool,
) -> None:
    _seed(db, 3)
    assert juki("audit", "anchor").returncode == 0  # records #4 and anchors it
    last = _kill_writers_mid_stream(db, juki_env, tmp_path, 400)
    newest = _newest_anchor(settings)
    # The writers' own anchors were not due (every 1,000 events, every 60 s): everything
    # after the newest anchor is what a cut could take.
    assert newest < last - 300
    if cut:
        _tamper(db, db_url, *_cut_to(events_after(db, 0, 100_000), newest))
        assert anchor.verify(db, settings.resolved_audit_anchor).ok  # the anchors alone

    done = juki("audit", "verify")
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    if not cut:
        assert done.returncode == 0, out
        assert "正常" in done.stdout
        return
    assert done.returncode == 1, out
    assert "末尾の操作ログが欠落しています" in done.stdout
    assert re.search(rf"#{newest + 1}(?!\d)", done.stdout), done.stdout  # where it is cut
    witnessed = re.search(r"事象 #(\d+) まで記録されていたはずです", done.stdout)
    assert witnessed and int(witnessed[1]) >= last - WRITERS, done.stdout  # one each at most


# The same, writing ``n`` events and then killing itself: nothing is flushed at exit.
WRITE_THEN_DIE = """
import os, signal, sys
from console.context import Context
from core.actor import Actor
from logs.audit import record_alone

ctx = Context.from_env()
who = Actor(login="writer", session_id="w-1")
for i in range(int(sys.argv[1])):
    record_alone(ctx.db, who, "test.write", target=f"w:{i}")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_without_the_json_lines_copy_each_commit_is_anchored(
    db: Database, db_url: str, settings: Settings, juki: Callable,
    juki_env: dict[str, str], tmp_path: Path,
) -> None:
    from tests.conftest import Juki

    _seed(db, 3)
    assert juki("audit", "anchor").returncode == 0  # #4
    off = {**juki_env, "JUKI_AUDIT_JSONL": "-"}
    died = subprocess.run([sys.executable, "-c", WRITE_THEN_DIE, "20"], env=off, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert last_seq(db) == 24  # #5..#24; the default rule (1,000 events) was never due
    path = settings.resolved_audit_anchor
    assert path is not None
    assert _lines(path)[-1]["seq"] == 24
    _tamper(db, db_url, *_cut_to(events_after(db, 0), 10))
    done = Juki(env=off, cwd=tmp_path)("audit", "verify")
    assert done.returncode == 1, done.stdout
    assert "末尾の操作ログが欠落しています" in done.stdout
    assert re.search(r"#11(?!\d)", done.stdout), done.stdout  # the first anchor cut off


def test_a_tail_cut_and_written_again_differs_from_the_json_lines_copy(
    db: Database, db_url: str, settings: Settings, juki: Callable,
) -> None:
    _seed(db, 3)
    assert juki("audit", "anchor").returncode == 0  # #4
    _seed(db, 8)  # #5..#12, witnessed by the JSON-lines copy only
    _tamper(db, db_url, *_cut_to(events_after(db, 0), 6))
    _seed(db, 10)  # the office goes on: #7..#16, other events under the same numbers
    done = juki("audit", "verify")
    assert done.returncode == 1, done.stdout
    assert "JSON-lines" in done.stdout and re.search(r"#7(?!\d)", done.stdout), done.stdout
    assert "一致しません" in done.stdout


def test_the_forwarders_acknowledged_seq_is_a_witness(
    db: Database, db_url: str, settings: Settings, juki: Callable, juki_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Even with the anchor file and the JSON-lines copy gone, what the collector has
    acknowledged must still be in the table."""
    from tests.conftest import Juki

    _seed(db, 12)
    Spool(settings.resolved_audit_forward_spool).save_acked(12)  # as the forwarder does
    _tamper(db, db_url, *_cut_to(events_after(db, 0), 9))
    blind = Juki(env={**juki_env, "JUKI_AUDIT_JSONL": "-", "JUKI_AUDIT_ANCHOR": "-"},
                 cwd=tmp_path)
    done = blind("audit", "verify")
    assert done.returncode == 1, done.stdout
    assert "#12" in done.stdout and re.search(r"#10(?!\d)", done.stdout), done.stdout
    assert "転送" in done.stdout
