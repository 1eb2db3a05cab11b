"""Anchors: the chain head written outside the database, so that events cut off the end
are found even by an intruder who rewrites ``audit_head`` too. Tamper tests on both
databases: edit, delete, reorder, cut the tail, cut and write it again — each found by
``juki audit verify`` (exit 1) and named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs import anchor
from logs.audit import events_after, last_seq, record_alone
from tests.logs.test_audit_chain import _tamper  # the trail edited behind its triggers

CLERK = Actor(login="tanaka", user_id=7, session_id="s-1", client_addr="203.0.113.7")


@pytest.fixture
def anchored(settings: Settings) -> Iterator[Callable[..., Path]]:
    """Turn anchoring on in this process (as ``Context`` does); off again afterwards."""

    def configure(every_events: int = 1000, every_seconds: float = 3600) -> Path:
        path = settings.resolved_audit_anchor
        assert path is not None
        anchor.configure(path, every_events, every_seconds)
        return path

    yield configure
    anchor.configure(None)


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _seed(db: Database, n: int) -> None:
    for i in range(1, n + 1):
        record_alone(db, CLERK, "register.lookup", target=f"resident:{i}")


# --- writing anchors ---------------------------------------------------------------------


def test_a_process_anchors_every_n_events_and_its_last_one_on_flush(
    db: Database, settings: Settings, anchored: Callable[..., Path]
) -> None:
    path = anchored(every_events=3)
    _seed(db, 7)
    events = events_after(db, 0)
    assert [(a["seq"], a["hash"]) for a in _lines(path)] == [
        (3, events[2]["hash"]), (6, events[5]["hash"]),
    ]
    anchor.flush()  # what atexit does when the process ends
    anchor.flush()  # nothing new: no second line
    assert [a["seq"] for a in _lines(path)] == [3, 6, 7]
    assert path.stat().st_mode & 0o777 == 0o600
    # The same anchors go to the JSON-lines stream, under their own key (not as events).
    stream_path = settings.resolved_audit_jsonl
    assert stream_path is not None
    stream = [json.loads(line) for line in stream_path.read_text("utf-8").splitlines()]
    anchors = [x["anchor"] for x in stream if x["event"] == "audit.anchor"]
    assert [(a["seq"], a["hash"]) for a in anchors] == [
        (a["seq"], a["hash"]) for a in _lines(path)
    ]
    assert all("seq" not in x for x in stream if x["event"] == "audit.anchor")


def test_the_time_rule_anchors_at_the_next_event_once_due(
    db: Database, anchored: Callable[..., Path]
) -> None:
    path = anchored(every_events=1000, every_seconds=3600)
    _seed(db, 3)
    assert _lines(path) == []  # neither rule is due
    path = anchored(every_events=1000, every_seconds=0)  # reconfiguring flushes #3
    assert [a["seq"] for a in _lines(path)] == [3]
    _seed(db, 2)
    assert [a["seq"] for a in _lines(path)] == [3, 4, 5]


def test_a_rolled_back_event_is_never_anchored(
    db: Database, anchored: Callable[..., Path]
) -> None:
    from logs.audit import record

    path = anchored(every_events=1)
    with pytest.raises(RuntimeError), db.write() as s:
        record(s, CLERK, "never")
        raise RuntimeError("rolled back")
    anchor.flush()
    assert _lines(path) == []
    record_alone(db, CLERK, "kept")
    assert [a["seq"] for a in _lines(path)] == [1]


def test_juki_audit_anchor_writes_the_head_now(
    db: Database, settings: Settings, juki: Callable
) -> None:
    _seed(db, 4)
    done = juki("audit", "anchor")
    assert done.returncode == 0, done.stderr
    path = settings.resolved_audit_anchor
    assert path is not None
    lines = _lines(path)
    # The command records itself first (#5), so the anchor covers its own event, once.
    assert [a["seq"] for a in lines] == [5]
    assert lines[0]["hash"] == events_after(db, 4)[0]["hash"]
    assert events_after(db, 4)[0]["action"] == "audit.anchor"
    assert "#5" in done.stdout


def test_verify_reports_the_anchors_it_checked(db: Database, juki: Callable) -> None:
    first = juki("audit", "verify")
    assert first.returncode == 0 and "アンカーがまだない" in first.stdout
    second = juki("audit", "verify")  # the first one anchored its own event (#1) at exit
    assert second.returncode == 0, second.stdout
    assert "アンカー 1 件とも一致" in second.stdout and "#1" in second.stdout


# --- tampering -------------------------------------------------------------------------------


def _cut_to(events: list[dict], keep: int) -> list[str]:
    """Delete every event after ``keep`` and point the head at the new last one: the
    chain and the head agree afterwards, so only an anchor shows the cut."""
    return [
        f"DELETE FROM audit_event WHERE seq > {keep}",
        f"UPDATE audit_head SET seq = {keep}, hash = '{events[keep - 1]['hash']}' WHERE id = 1",
    ]


def _edit(events: list[dict]) -> list[str]:
    return ["UPDATE audit_event SET target = 'resident:999' WHERE seq = 3"]


def _delete(events: list[dict]) -> list[str]:
    return ["DELETE FROM audit_event WHERE seq = 4"]


def _reorder(events: list[dict]) -> list[str]:
    return [
        "UPDATE audit_event SET seq = -3 WHERE seq = 3",
        "UPDATE audit_event SET seq = 3 WHERE seq = 4",
        "UPDATE audit_event SET seq = 4 WHERE seq = -3",
    ]


def _cut_tail(events: list[dict]) -> list[str]:
    return _cut_to(events, 4)


# case → (statements, the seq named, a phrase of the message, events appended afterwards)
CASES: dict[str, tuple[Callable[[list[dict]], list[str]], int, str, int]] = {
    "edit": (_edit, 3, "内容がハッシュと一致しません", 0),
    "delete": (_delete, 4, "欠けています", 0),
    "reorder": (_reorder, 3, "前ハッシュが直前の事象と一致しません", 0),
    "cut tail": (_cut_tail, 5, "末尾の操作ログが欠落しています", 0),
    "cut tail, written again": (_cut_tail, 7, "アンカー", 5),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verify_finds_and_names_each_tampering(
    db: Database, db_url: str, settings: Settings, juki: Callable, case: str
) -> None:
    make, bad, phrase, regrow = CASES[case]
    _seed(db, 6)
    anchored = juki("audit", "anchor")  # records #7 and anchors it
    assert anchored.returncode == 0, anchored.stderr
    good = juki("audit", "verify")
    assert good.returncode == 0, good.stdout

    _tamper(db, db_url, *make(events_after(db, 0)))
    _seed(db, regrow)  # the office goes on working after the cut
    checked = anchor.verify(db, settings.resolved_audit_anchor)
    assert not checked.ok and checked.result.bad_seq == bad, checked.result

    cli = juki("audit", "verify")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert re.search(rf"#{bad}(?!\d)", cli.stdout), cli.stdout
    assert phrase in cli.stdout, cli.stdout
    assert "Traceback" not in cli.stdout + cli.stderr
    last = events_after(db, last_seq(db) - 1)[-1]
    if case == "cut tail":
        assert "#8" in cli.stdout  # the newest anchored seq (the good verify's own event)
        # A lost tail is not recorded over: its first number stays free for the events
        # `juki audit recover` brings back (docs/architecture.md §11).
        assert "#5〜#8 が失われています" in cli.stdout, cli.stdout
        assert "記録していません" in cli.stdout
        assert last_seq(db) == 4
        return
    assert (last["action"], last["outcome"], last["severity"]) == (
        "audit.verify", "failure", "high",
    )


def test_a_cut_tail_without_an_anchor_passes_the_chain_check(
    db: Database, db_url: str, settings: Settings, juki: Callable
) -> None:
    """The control for the cut-tail case: with the head rewritten, the chain alone cannot
    see the cut; the anchor file is what finds it."""
    _seed(db, 6)
    assert juki("audit", "anchor").returncode == 0
    _tamper(db, db_url, *_cut_to(events_after(db, 0), 4))
    path = settings.resolved_audit_anchor
    assert path is not None
    saved = path.read_bytes()
    path.unlink()
    assert anchor.verify(db, path).ok
    path.write_bytes(saved)
    assert not anchor.verify(db, path).ok


def test_an_unreadable_anchor_line_fails_verify_naming_the_line(
    db: Database, settings: Settings, juki: Callable
) -> None:
    _seed(db, 2)
    assert juki("audit", "anchor").returncode == 0
    path = settings.resolved_audit_anchor
    assert path is not None
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    cli = juki("audit", "verify")
    assert cli.returncode == 1
    assert "2 行目" in cli.stdout and "Traceback" not in cli.stderr


def test_anchor_is_refused_when_anchoring_is_off(
    db: Database, juki: Callable, juki_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.conftest import Juki

    off = Juki(env={**juki_env, "JUKI_AUDIT_ANCHOR": "-"}, cwd=tmp_path)
    done = off("audit", "anchor")
    assert done.returncode == 2 and "audit_anchor" in done.stderr
