"""The account and audit commands of ``juki``, run as the real program in a subprocess.

Exit codes: 0 success, 1 a failed check, 2 bad input. Bad input names its field in
Japanese, writes nothing, and leaves a refused event in the trail.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from auth.accounts import list_users
from auth.signin import sign_in
from core.actor import Actor
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from logs.audit import events_after, last_seq, record_alone

PASSWORD = "kawa-no-nagare-wa-taezu\n"


def _add(juki: Callable, login: str, *extra: str, password: str = PASSWORD,
         role: str = "clerk") -> subprocess.CompletedProcess[str]:
    return juki("user", "add", login, "--name", "山田 花子", "--role", role, *extra,
                input=password)


def _refusals(db: Database, action: str, target: str) -> list[dict]:
    return [
        e for e in events_after(db, 0, 10_000)
        if e["action"] == action and e["target"] == target and e["outcome"] == "refused"
    ]


def test_user_add_then_list(juki: Callable, db: Database) -> None:
    added = _add(juki, "yamada.h", "--department", "市民課")
    assert added.returncode == 0, added.stderr
    assert "yamada.h" in added.stdout

    listed = juki("user", "list")
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("yamada.h\t"))
    _login, name, department, roles, state = row.split("\t")
    assert (name, department, state) == ("山田 花子", "市民課", "有効")
    assert roles.startswith("clerk")
    events = [e for e in events_after(db, 0) if e["action"] == "user.add"]
    assert [(e["target"], e["outcome"]) for e in events] == [("yamada.h", "success")]
    assert events[0]["actor"].startswith("os:")


@pytest.mark.parametrize(
    ("case", "field"),
    [("short password", "パスワード"), ("unknown role", "役割"), ("bad login", "ログイン名")],
)
def test_bad_input_exits_2_names_the_field_and_writes_nothing(
    juki: Callable, db: Database, case: str, field: str
) -> None:
    login = "sato.k"
    if case == "short password":
        result = _add(juki, login, password="short-pw-11\n")
    elif case == "unknown role":
        result = _add(juki, login, role="superuser")
    else:
        login = "Sato K"
        result = _add(juki, login)
    assert result.returncode == 2, result.stdout + result.stderr
    assert field in result.stderr
    assert "Traceback" not in result.stderr
    assert [a.login for a in list_users(db)] == []
    refused = _refusals(db, "user.add", login)
    assert len(refused) == 1
    assert field in json.loads(refused[0]["details"])["reason"]


def test_duplicate_login_is_refused_and_the_first_account_stays(
    juki: Callable, db: Database
) -> None:
    assert _add(juki, "suzuki").returncode == 0
    again = juki("user", "add", "suzuki", "--name", "別人", "--role", "admin",
                 input=PASSWORD)
    assert again.returncode == 2
    assert "ログイン名" in again.stderr and "suzuki" in again.stderr
    accounts = list_users(db)
    assert [(a.login, a.name, a.roles) for a in accounts] == [("suzuki", "山田 花子", ("clerk",))]
    assert len(_refusals(db, "user.add", "suzuki")) == 1


def test_an_empty_password_pipe_is_refused(
    juki: Callable, db: Database
) -> None:
    result = juki("user", "add", "kato", "--name", "加藤", "--role", "clerk", input="")
    assert result.returncode == 2
    assert "パスワード" in result.stderr
    assert list_users(db) == []


def test_disable_stops_sign_in(juki: Callable, db: Database, settings: Settings) -> None:
    assert _add(juki, "ito").returncode == 0
    ident = sign_in(db, settings, "ito", PASSWORD.strip(), "198.51.100.4")
    assert ident.login == "ito"

    disabled = juki("user", "disable", "ito")
    assert disabled.returncode == 0, disabled.stderr
    with pytest.raises(Refused) as refused:
        sign_in(db, settings, "ito", PASSWORD.strip(), "198.51.100.4")
    assert "無効" in refused.value.message
    assert [a.disabled for a in list_users(db)] == [True]
    assert "無効" in juki("user", "list").stdout

    unknown = juki("user", "disable", "nobody")
    assert unknown.returncode == 1
    assert "nobody" in unknown.stderr
    assert len(_refusals(db, "user.disable", "nobody")) == 1


def test_audit_verify_passes_with_the_count(juki: Callable, db: Database) -> None:
    for i in range(4):
        record_alone(db, Actor(login="tanaka"), "register.lookup", target=f"r{i}")
    result = juki("audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 件" in result.stdout
    assert events_after(db, 4)[0]["action"] == "audit.verify"  # the check is recorded
    again = juki("audit", "verify")
    assert again.returncode == 0 and "5 件" in again.stdout


def test_audit_tail_json_prints_one_object_per_line(juki: Callable, db: Database) -> None:
    for i in range(8):
        record_alone(db, Actor(login="tanaka"), "register.lookup", target=f"r{i}",
                     details={"氏名": "髙橋"})
    result = juki("audit", "tail", "--json", "-n", "5")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(isinstance(o, dict) for o in objects)
    # Exactly the last five events before the command, in order (not the tail's own record).
    assert [o["target"] for o in objects] == ["r3", "r4", "r5", "r6", "r7"]
    assert objects[0]["details"] == {"氏名": "髙橋"}
    assert {"seq", "ts", "actor", "action", "outcome", "hash", "prev_hash"} <= set(objects[0])


def _lines(pipe: object, out: queue.Queue[str]) -> None:
    for line in pipe:  # type: ignore[attr-defined]
        out.put(line)


def test_audit_tail_follow_shows_new_events(
    juki_env: dict[str, str], juki: Callable, db: Database
) -> None:
    record_alone(db, Actor(login="tanaka"), "register.lookup", target="old")
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "audit", "tail", "-f", "--json", "-n", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, env=juki_env,
    )
    seen: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, seen), daemon=True).start()
    targets: list[str] = []

    def wait_for(target: str) -> None:
        deadline = time.monotonic() + 30
        while target not in targets:
            assert time.monotonic() < deadline, (targets, proc.poll())
            try:
                targets.append(json.loads(seen.get(timeout=1))["target"])
            except queue.Empty:
                continue

    try:
        wait_for("old")
        for i in range(3):
            record_alone(db, Actor(login="sato"), "register.lookup", target=f"new{i}")
        wait_for("new2")
        assert [t for t in targets if t.startswith("new")] == ["new0", "new1", "new2"]
        assert proc.poll() is None  # still following
    finally:
        proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def test_console_without_a_terminal_exits_2_quickly(juki: Callable, db: Database) -> None:
    before = last_seq(db)
    result = juki(timeout=30)  # stdin is /dev/null; a hang would raise TimeoutExpired
    assert result.returncode == 2
    assert "TTY" in result.stderr
    assert "Traceback" not in result.stderr
    assert last_seq(db) == before


def test_two_enrolments_of_one_login_at_once_end_with_one_account(
    juki: Callable, db: Database
) -> None:
    """Two real processes race to add the same login: one wins, the other gets exit 2."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "console.cli", "user", "add", "race", "--name", f"競争{i}",
             "--role", "clerk"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=juki.env, cwd=juki.cwd,
        )
        for i in range(2)
    ]
    results = [p.communicate(PASSWORD, timeout=60) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], results
    loser = next(err for p, (_out, err) in zip(procs, results, strict=True) if p.returncode)
    assert "ログイン名" in loser and "Traceback" not in loser
    assert [a.login for a in list_users(db)].count("race") == 1
