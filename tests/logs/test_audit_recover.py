"""The trail outlives its database (docs/architecture.md §11): after a restore from a copy
older than the last events, ``juki audit verify`` names the lost tail, and ``juki audit
recover --from FILE`` puts it back from the JSON-lines copy or the collector's file —
each event checked against the chain and the signed anchors, nothing invented (a forged
line is refused, naming it), the state changes among them listed, never replayed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import HASHED, event_hash, events_after, last_seq, record_alone
from tests.conftest import Juki
from tests.logs.test_audit_anchor import CLERK, _seed
from tests.logs.test_audit_forward import _forward_env, start_collector  # noqa: F401
from tests.logs.trail_setup import snapshot

ADMIN = Actor(login="sato", user_id=2, session_id="s-2", client_addr="203.0.113.9")
# Details as a service may write them: text the stream escapes, numbers, nesting.
TRICKY = {"氏名": "髙橋 𠮷男\x1b[2J\u202e", "件数": 3, "率": 0.1, "一覧": [1, "二", None],
          "入れ子": {"b": True, "a": -0.0}, "空": ""}


def _lose_a_tail(
    db: Database, db_url: str, juki: Callable, tmp_path: Path,
    before_the_loss: Callable[[], None] | None = None,
) -> list[dict]:
    """Events #5.. written after a backup (#1..#4), then the backup put back. #10 and
    #11 are after the newest anchor: only the JSON-lines copy saw them (unless
    ``before_the_loss`` writes more: the forwarder, say)."""
    _seed(db, 3)
    assert juki("audit", "anchor").returncode == 0  # #4
    put_back = snapshot(db, db_url, tmp_path)
    record_alone(db, ADMIN, "access.grant", target="tanaka", details={"role": "照会"})
    record_alone(db, CLERK, "register.search", target="resident:1", details=TRICKY)
    record_alone(db, ADMIN, "linkage.approve", target="proposal:3", details={"decided": True})
    record_alone(db, CLERK, "access.revoke", outcome="refused", severity="warning",
                 details={"reason": "permission"})
    assert juki("audit", "anchor").returncode == 0  # #9
    record_alone(db, CLERK, "register.open", target="resident:2", details=TRICKY)
    record_alone(db, ADMIN, "user.disable", target="suzuki")  # #11
    if before_the_loss is not None:
        before_the_loss()
    lost = events_after(db, 4)
    put_back()
    assert last_seq(db) == 4
    return lost


def _copy_of(settings: Settings, tmp_path: Path) -> Path:
    """The JSON-lines copy as shipped elsewhere (a file the operator names)."""
    stream = settings.resolved_audit_jsonl
    assert stream is not None
    copy = tmp_path / "shipped.jsonl"
    shutil.copy(stream, copy)
    return copy


def _listed(output: str) -> list[tuple[int, str]]:
    """(seq, action) of each state change ``juki audit recover`` lists."""
    rows = [line.strip().split("  ") for line in output.splitlines() if line.startswith("  #")]
    return [(int(r[0][1:]), r[3]) for r in rows]


@pytest.mark.parametrize("source", ["jsonl", "collector"])
def test_a_lost_tail_is_named_then_recovered_whole_from_a_copy(
    db: Database, db_url: str, settings: Settings, juki: Callable, juki_env: dict[str, str],
    tmp_path: Path, start_collector: Callable, source: str,  # noqa: F811
) -> None:
    forward = None
    source_file = settings.resolved_audit_jsonl
    if source == "collector":
        collector = start_collector()
        source_file = collector.out
        forwarder = Juki(env=_forward_env(juki_env, collector.url), cwd=tmp_path)

        def forward() -> None:  # everything reached the collector before the loss
            done = forwarder("audit", "forward", "--once")  # itself recorded: #12
            assert done.returncode == 0, done.stdout + done.stderr

    lost = _lose_a_tail(db, db_url, juki, tmp_path, forward)
    n = lost[-1]["seq"]
    assert source_file is not None

    checked = juki("audit", "verify")
    assert checked.returncode == 1, checked.stdout
    assert f"事象 #5〜#{n} が失われています" in checked.stdout, checked.stdout
    if source == "jsonl":
        assert "JSON-lines" in checked.stdout  # where #11 was seen: after the anchors
    assert last_seq(db) == 4  # the finding took no number from the lost events

    dry = juki("audit", "recover", "--from", str(source_file), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"#5〜#{n} ({n - 4} 件)" in dry.stdout and last_seq(db) == 4

    done = juki("audit", "recover", "--from", str(source_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "正常" in done.stdout
    back = events_after(db, 4)
    assert back[: n - 4] == lost  # every field as it was: seq, time, actor, details, hashes
    recovered = back[n - 4]
    assert (recovered["seq"], recovered["action"]) == (n + 1, "audit.recover")
    details = json.loads(recovered["details"])
    assert (details["first"], details["last"], details["count"]) == (5, n, n - 4)
    # Listed, never replayed: the three that changed state, not the reads nor the refusal.
    assert details["state_changes"] == 3
    assert _listed(done.stdout) == [(5, "access.grant"), (7, "linkage.approve"),
                                    (11, "user.disable")], done.stdout
    assert _listed(dry.stdout) == _listed(done.stdout)
    assert juki("audit", "verify").returncode == 0


def test_a_forged_line_is_refused_naming_it_and_nothing_is_appended(
    db: Database, db_url: str, settings: Settings, juki: Callable, tmp_path: Path,
) -> None:
    lost = _lose_a_tail(db, db_url, juki, tmp_path)
    copy = _copy_of(settings, tmp_path)
    lines = copy.read_text("utf-8").splitlines()
    at = next(i for i, x in enumerate(lines) if json.loads(x).get("seq") == 7
              and "anchor" not in json.loads(x))
    edited = json.loads(lines[at])
    edited["target"] = "proposal:4"  # another proposal, as if it had been approved
    lines[at] = json.dumps(edited, ensure_ascii=False, sort_keys=True)
    copy.write_text("\n".join(lines) + "\n", "utf-8")
    done = juki("audit", "recover", "--from", str(copy))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{at + 1} 行目" in done.stdout + done.stderr, done.stdout + done.stderr
    assert "ハッシュと一致しません" in done.stdout + done.stderr
    assert last_seq(db) == 4

    # The same edit with every hash after it made again, as someone who knows the
    # format would: the chain holds, the signed anchor at #9 does not.
    prev = lost[1]["hash"]
    by_seq = {ev["seq"]: dict(ev) for ev in lost}
    by_seq[7]["target"] = "proposal:4"
    for seq in range(7, 12):
        ev = by_seq[seq]
        ev["prev_hash"] = prev
        ev["hash"] = prev = event_hash(prev, tuple(ev[k] for k in HASHED))
    forged = tmp_path / "forged.jsonl"
    forged.write_text("".join(json.dumps(by_seq[s]) + "\n" for s in range(5, 12)), "utf-8")
    done = juki("audit", "recover", "--from", str(forged))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "3 行目" in done.stdout + done.stderr and "一致しません" in done.stdout + done.stderr
    assert last_seq(db) == 4 and juki("audit", "verify").returncode == 1


def test_events_no_witness_saw_are_left_out(
    db: Database, db_url: str, settings: Settings, juki: Callable, tmp_path: Path,
    juki_env: dict[str, str],
) -> None:
    """A well-chained event appended to FILE past everything the anchors and the copy
    saw is not put back: nothing invented."""
    lost = _lose_a_tail(db, db_url, juki, tmp_path)
    extra = {**lost[-1], "seq": 12, "action": "access.grant", "target": "intruder",
             "prev_hash": lost[-1]["hash"]}
    extra["hash"] = event_hash(extra["prev_hash"], tuple(extra[k] for k in HASHED))
    source = tmp_path / "longer.jsonl"
    source.write_text("".join(json.dumps(ev) + "\n" for ev in [*lost, extra]), "utf-8")
    done = juki("audit", "recover", "--from", str(source))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "#12〜#12 はどのアンカーにも" in done.stdout, done.stdout
    assert events_after(db, 4)[:7] == lost
    assert events_after(db, 11)[0]["action"] == "audit.recover"
    assert "intruder" not in done.stdout


def test_recover_refuses_when_nothing_is_lost(db: Database, juki: Callable,
                                              settings: Settings) -> None:
    _seed(db, 2)
    assert juki("audit", "anchor").returncode == 0
    stream = settings.resolved_audit_jsonl
    assert stream is not None
    done = juki("audit", "recover", "--from", str(stream))
    assert done.returncode == 1 and "戻すものはありません" in done.stderr, done.stderr
    missing = juki("audit", "recover", "--from", str(stream.with_name("nope.jsonl")))
    assert missing.returncode == 2 and "--from" in missing.stderr
