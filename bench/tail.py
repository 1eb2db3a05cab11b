"""The live audit tail, black-box in tmux: event → screen lag, markers seen, CPU, RSS, keys.

Each viewer runs in its own tmux pane (120×40) and is timed by the same harness in the
same run: juki (signed in as a security officer on the F5 tail, typed with send-keys),
the peer toolong 1.5 (``tl``, from its own venv under var/bench) following the JSON-lines
stream of the same events (settings ``audit_jsonl``), and ``tail -F`` on that file as the
harness floor. For each viewer and rate a writer PROCESS appends events through
``logs.audit.record_alone`` (commit, then the stream line) at a steady rate, each with a
unique marker in ``target`` and in ``details.m`` (structlog sorts keys, so the target sits
past two hashes, far right of a 120-column line; ``details`` comes fourth and keeps the
marker on screen for a viewer that does not wrap). The writer notes when each marker
committed; the harness captures the pane every ~15 ms and notes when each marker first
shows. Share seen = markers ever captured / written. CPU and RSS of the viewer process
come from /proc. Keypress → repaint: at 500/s, a key that changes what the pane shows
(juki: ↑ pauses — 「一時停止」, End resumes — 「追従中」; toolong: ctrl+t toggles its TAIL
label), timed from send-keys to the pane showing the change. RSS with a big trail: juki
opens F5 on a trail pre-filled by a bulk append that computes the chain with
``logs.audit.event_hash`` (``juki audit verify`` confirms it), then pages back.

Targets: lag p95 ≤ 250 ms at 500/s with ≥ 95 % seen; keypress p95 ≤ 100 ms; CPU ≤ 50 % of
one core at 500/s; RSS ≤ 150 MB with 1,000,000 events. ``--quick``: 500/s only, short
phases, a 20,000-event trail (under a minute). Last line of stdout: one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TOOLONG = ROOT / "var" / "bench" / "toolong-venv" / "bin" / "tl"
LOGIN, PASSWORD = "secbench", "sakura-bench-2026"
COLS, ROWS = 120, 40
MARK = re.compile(r"bm(\d{2})(\d{6})")
TARGETS = {"lag_p95_ms_500": 250, "seen_share_500": 0.95, "key_p95_ms": 100,
           "cpu_share_500": 0.50, "rss_mb_1m": 150}
CLK = os.sysconf("SC_CLK_TCK")


# --- the writer process ------------------------------------------------------------------


def writer(data_dir: str, phase: int, rate: float, seconds: float, out: str) -> None:
    """Append ``rate`` events a second for ``seconds``; write {marker: commit time} to out."""
    os.environ["JUKI_DATA_DIR"] = data_dir
    sys.path.insert(0, str(ROOT))
    from console.context import Context
    from core.actor import Actor
    from logs.audit import record_alone

    ctx = Context.from_env()
    db = ctx.db
    actor = Actor("bench-writer", None, "bench", "192.0.2.99")
    written: dict[str, float] = {}
    n = int(rate * seconds)
    start = time.time() + 0.2
    for i in range(n):
        due = start + i / rate
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        marker = f"bm{phase:02d}{i:06d}"
        record_alone(db, actor, "bench.write", target=marker, details={"m": marker})
        written[marker] = time.time()
    Path(out).write_text(json.dumps({"written": written, "start": start,
                                     "end": time.time()}))


# --- tmux -------------------------------------------------------------------------------


class Pane:
    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"juki-bench-{uuid.uuid4().hex[:10]}"
        self.env = env

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              env=self.env, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"tmux {args[0]}: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, cwd: Path) -> int:
        self.tmux("new-session", "-d", "-s", "b", "-x", str(COLS), "-y", str(ROWS),
                  "-c", str(cwd), f"exec {command}")
        return int(self.tmux("display", "-p", "-t", "b", "#{pane_pid}").strip())

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "b")

    def wait_for(self, check: Any, what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not shown within {timeout}s:\n{text}")
            time.sleep(0.05)

    def keys(self, *names: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "b", *(["-l"] if literal else []), *names)

    def stop(self) -> None:
        try:
            self.tmux("kill-server")
        except RuntimeError:
            pass


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the phases ---------------------------------------------------------------------------


def juki_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUKI_", "TMUX"))}
    env.update(JUKI_DATA_DIR=str(data_dir), JUKI_ARGON2_PROFILE="test", PYTHONPATH=str(ROOT),
               TERM="xterm-256color", LANG=env.get("LANG") or "C.UTF-8",
               JUKI_IDLE_LOCK_SECONDS="3600")
    return env


def cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    subprocess.run([PY, "-m", "console.cli", *args], env=env, input=stdin, text=True,
                   check=True, capture_output=True, cwd=ROOT)


def prepare(data_dir: Path) -> dict[str, str]:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = juki_env(data_dir)
    cli(env, "db", "init")
    cli(env, "user", "add", LOGIN, "--name", "監査 太郎", "--role", "security_officer",
        stdin=PASSWORD + "\n")
    return env


def start_juki(pane: Pane, env: dict[str, str]) -> tuple[int, float]:
    """juki in the pane, signed in, on F5; (pid, seconds from F5 to the tail painted)."""
    pid = pane.start(f"{PY} -m console.cli", ROOT)
    pane.wait_for(lambda t: "ログイン名" in t, "sign-in", 120)
    # Typed at once, the sign-in's import of the database layer can race the app's warm-up
    # import of it in another thread (seen here: an ImportError from a partially
    # initialised sqlalchemy, the form stuck on 確認しています…). Staff type slower.
    time.sleep(2.0)
    for _ in range(20):  # the form may paint before its field takes keys
        pane.keys(LOGIN, literal=True)
        try:
            pane.wait_for(lambda t: LOGIN in t, "the login typed", 1.5)
            break
        except RuntimeError:
            pass
    pane.keys("Enter")
    pane.keys(PASSWORD, literal=True)
    pane.keys("Enter")
    pane.wait_for(lambda t: "サインイン中" in t, "home", 60)
    t0 = time.monotonic()
    pane.keys("F5")
    pane.wait_for(lambda t: "追従中" in t, "the tail", 120)
    return pid, time.monotonic() - t0


def start_viewer(kind: str, pane: Pane, env: dict[str, str], data_dir: Path) -> int:
    stream = data_dir / "audit.jsonl"
    stream.touch()
    if kind == "juki":
        return start_juki(pane, env)[0]
    if kind == "toolong":
        pid = pane.start(f"{TOOLONG} {stream}", ROOT)
        pane.wait_for(lambda t: "TAIL" in t.splitlines()[-1] if t.strip() else False,
                      "toolong tail", 60)
        return pid
    return pane.start(f"tail -n 0 -F {stream}", ROOT)


def run_phase(kind: str, env: dict[str, str], data_dir: Path, phase: int, rate: float,
              seconds: float, keys: int) -> dict[str, Any]:
    pane = Pane(env)
    try:
        pid = start_viewer(kind, pane, env, data_dir)
        time.sleep(1.0)
        out = data_dir / f"writer-{phase}.json"
        proc = subprocess.Popen([PY, __file__, "--writer", str(data_dir), str(phase),
                                 str(rate), str(seconds), str(out)], cwd=ROOT, env=env)
        seen: dict[str, float] = {}
        ticks0, t0 = cpu_ticks(pid), time.monotonic()
        rss_max = 0.0
        key_ms: list[float] = []
        # Keys only in the last 40 % of the phase: a paused tail shows no new lines, so the
        # lag and the share seen are counted over the markers written before the first key.
        key_at = time.monotonic() + 0.2 + seconds * 0.6 if keys else float("inf")
        keys_from = float("inf")
        key_state = 0
        stop_at = None
        last_rss = 0.0
        while True:
            now = time.monotonic()
            if stop_at is None and proc.poll() is not None:
                stop_at = now + 1.0
                cpu = (cpu_ticks(pid) - ticks0) / CLK / (now - t0)
            if stop_at is not None and now > stop_at:
                break
            text = pane.text()
            at = time.time()
            for m in MARK.finditer(text):
                if int(m.group(1)) == phase:
                    seen.setdefault(m.group(0), at)
            if now - last_rss > 0.25:
                rss_max, last_rss = max(rss_max, rss_mb(pid)), now
            if kind != "tail" and len(key_ms) < keys and now > key_at and stop_at is None:
                keys_from = min(keys_from, time.time())
                key_ms.append(keypress(kind, pane, key_state))
                key_state ^= 1
                key_at = time.monotonic() + 0.15
            time.sleep(0.012)
        if kind == "juki" and key_state:  # leave it following
            pane.keys("End")
        log = json.loads(out.read_text())
        # A marker written just before the first key may still be on its way when the key
        # pauses the tail: it is never shown, by design. Count those written 0.5 s before.
        written: dict[str, float] = {
            m: t for m, t in log["written"].items() if t < keys_from - 0.5}
        lags = [(seen[m] - t) * 1000 for m, t in written.items() if m in seen]
        missed = [int(m[4:]) for m in sorted(written) if m not in seen]
        gaps = [1]  # lengths of the runs of consecutive missed markers
        for a, b in itertools.pairwise(missed):
            if b == a + 1:
                gaps[-1] += 1
            else:
                gaps.append(1)
        return {
            "viewer": kind, "rate": rate, "written": len(log["written"]), "counted": len(written),
            "achieved_rate": round(len(log["written"]) / max(1e-9, log["end"] - log["start"]), 1),
            "seen_share": round(len(lags) / max(1, len(written)), 4),
            "lag_p50_ms": _r(pct(lags, 0.5)), "lag_p95_ms": _r(pct(lags, 0.95)),
            "cpu_share": round(cpu, 3), "rss_mb": round(rss_max, 1),
            "key_p50_ms": _r(pct(key_ms, 0.5)), "key_p95_ms": _r(pct(key_ms, 0.95)),
            "keys": len(key_ms), "missed_runs": len(gaps) if missed else 0,
            "longest_missed_run": max(gaps) if missed else 0, "missed_first": missed[:3],
        }
    finally:
        pane.stop()


def keypress(kind: str, pane: Pane, state: int) -> float:
    """Send one key and time it until the pane shows its effect (ms)."""
    if kind == "juki":
        key, want = ("Up", "一時停止") if state == 0 else ("End", "追従中")

        def check(t: str) -> bool:
            return want in t
    else:
        key = "C-t"

        def check(t: str) -> bool:
            last = t.rstrip("\n").splitlines()[-1] if t.strip() else ""
            return ("TAIL" in last) == (state == 1)
    t0 = time.monotonic()
    pane.keys(key)
    while True:
        text = pane.text()
        if check(text):
            return (time.monotonic() - t0) * 1000
        if time.monotonic() - t0 > 10:
            return 10_000.0


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


# --- a big trail --------------------------------------------------------------------------


def bulk_fill(data_dir: Path, n: int) -> float:
    """Append ``n`` chained events straight into the SQLite file; seconds taken."""
    sys.path.insert(0, str(ROOT))
    from logs.audit import HASHED, canonical_details, event_hash

    t0 = time.perf_counter()
    conn = sqlite3.connect(data_dir / "juki.sqlite3", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    seq, prev = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    actions = ("register.search", "register.open", "linkage.propose", "signin.success")
    batch: list[tuple[Any, ...]] = []
    cols = (*HASHED, "prev_hash", "hash")
    sql = f"INSERT INTO audit_event ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    base = time.time() - n / 50
    for i in range(n):
        seq += 1
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + i / 50)) + ".000000Z"
        outcome, severity = ("alert", "high") if i % 997 == 0 else ("success", "info")
        details = canonical_details({"residents": [i % 48000], "count": 1})
        values = (seq, ts, f"clerk{i % 40}", "s", "192.0.2.1", actions[i % 4],
                  f"resident:{i % 48000}", "住民票の写しの交付", outcome, severity, details)
        digest = event_hash(prev, values)
        batch.append((*values, prev, digest))
        prev = digest
        if len(batch) == 20000:
            conn.executemany(sql, batch)
            batch.clear()
    if batch:
        conn.executemany(sql, batch)
    conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0


def big_trail(env: dict[str, str], data_dir: Path, n: int) -> dict[str, Any]:
    fill = bulk_fill(data_dir, n)
    t0 = time.perf_counter()
    verified = subprocess.run([PY, "-m", "console.cli", "audit", "verify"], env=env, cwd=ROOT,
                              capture_output=True, text=True)
    verify_s = time.perf_counter() - t0
    pane = Pane(env)
    try:
        pid, open_s = start_juki(pane, env)
        time.sleep(1.0)
        rss_open = rss_mb(pid)
        key_ms: list[float] = []
        for state in range(6):
            key_ms.append(keypress("juki", pane, state % 2))
        for _ in range(60):  # read back: 60 pages of 38 lines, older pages by seq
            pane.keys("PageUp")
            time.sleep(0.03)
        time.sleep(1.0)
        t1 = time.monotonic()
        pane.keys("Home")  # the very first events
        pane.wait_for(lambda t: "#1 " in t or "#1" in t.split(), "the first event", 60)
        home_s = time.monotonic() - t1
        rss_after = rss_mb(pid)
        pane.keys("End")
        pane.wait_for(lambda t: "追従中" in t, "following again", 60)
        return {
            "events": n, "fill_s": round(fill, 1), "verify_exit": verified.returncode,
            "verify_s": round(verify_s, 1), "open_f5_s": round(open_s, 2),
            "rss_mb_open": round(rss_open, 1), "rss_mb_after_paging": round(rss_after, 1),
            "home_s": round(home_s, 2), "idle_key_p95_ms": _r(pct(key_ms, 0.95)),
        }
    finally:
        pane.stop()


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500/s only, short phases")
    ap.add_argument("--keep", action="store_true", help="keep the scratch data dir")
    ap.add_argument("--writer", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.writer:
        d, phase, rate, seconds, out = args.writer
        writer(d, int(phase), float(rate), float(seconds), out)
        return 0
    if shutil.which("tmux") is None:
        print("tmux がありません", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    quick = args.quick
    rates = (500.0,) if quick else (100.0, 500.0)
    seconds = 5.0 if quick else 20.0
    keys = 8 if quick else 40
    big_n = 20_000 if quick else 1_000_000
    viewers = ["juki", "toolong", "tail"] if TOOLONG.exists() else ["juki", "tail"]
    data_dir = ROOT / "var" / "bench" / "tail-run"
    env = prepare(data_dir)

    big = big_trail(env, data_dir, big_n)  # the rate phases then run on the big trail
    print(f"trail of {big_n:,} events: {json.dumps(big, ensure_ascii=False)}", flush=True)
    results: list[dict[str, Any]] = []
    phase = 0
    for rate in rates:
        for kind in viewers:
            phase += 1
            r = run_phase(kind, env, data_dir, phase, rate, seconds,
                          keys if rate == 500.0 else 0)
            results.append(r)
            print(json.dumps(r, ensure_ascii=False), flush=True)
    load_after = os.getloadavg()
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)  # the big trail is 400 MB

    def get(kind: str, rate: float) -> dict[str, Any]:
        return next((r for r in results if r["viewer"] == kind and r["rate"] == rate), {})

    j5 = get("juki", 500.0)
    figures = {
        "juki_lag_p95_ms_500": j5.get("lag_p95_ms"), "juki_seen_share_500": j5.get("seen_share"),
        "juki_key_p95_ms_500": j5.get("key_p95_ms"), "juki_cpu_share_500": j5.get("cpu_share"),
        "juki_rss_mb_500": j5.get("rss_mb"),
        "juki_rss_mb_big_trail": big["rss_mb_after_paging"], "big_trail_events": big_n,
        "juki_lag_p95_ms_100": get("juki", 100.0).get("lag_p95_ms"),
        "floor_tail_lag_p95_ms_500": get("tail", 500.0).get("lag_p95_ms"),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "quick": quick,
    }
    t5 = get("toolong", 500.0)
    peer = ({"name": "toolong 1.5.0", "lag_p95_ms_500": t5.get("lag_p95_ms"),
             "seen_share_500": t5.get("seen_share"), "key_p95_ms_500": t5.get("key_p95_ms"),
             "cpu_share_500": t5.get("cpu_share"), "rss_mb_500": t5.get("rss_mb"),
             "lag_p95_ms_100": get("toolong", 100.0).get("lag_p95_ms")}
            if t5 else {"name": "toolong", "note": "not installed in var/bench/toolong-venv"})
    met = (
        j5.get("lag_p95_ms") is not None and j5["lag_p95_ms"] <= TARGETS["lag_p95_ms_500"]
        and j5["seen_share"] >= TARGETS["seen_share_500"]
        and j5.get("key_p95_ms") is not None and j5["key_p95_ms"] <= TARGETS["key_p95_ms"]
        and j5["cpu_share"] <= TARGETS["cpu_share_500"]
        and big["rss_mb_after_paging"] <= TARGETS["rss_mb_1m"] and big_n >= 1_000_000
    )
    print(f"juki  lag p95 {j5.get('lag_p95_ms')} ms (target ≤ 250), seen {j5.get('seen_share')}"
          f" (≥ 0.95), key p95 {j5.get('key_p95_ms')} ms (≤ 100), CPU {j5.get('cpu_share')}"
          f" (≤ 0.50), RSS {big['rss_mb_after_paging']} MB with {big_n:,} events (≤ 150)")
    if t5:
        print(f"peer  toolong lag p95 {t5.get('lag_p95_ms')} ms, seen {t5.get('seen_share')},"
              f" key p95 {t5.get('key_p95_ms')} ms, CPU {t5.get('cpu_share')}")
    print(f"floor tail -F lag p95 {get('tail', 500.0).get('lag_p95_ms')} ms;"
          f" load average {load_before} → {load_after}")
    print(json.dumps({"bench": "tail", "figures": figures, "targets": TARGETS, "peer": peer,
                      "met": bool(met)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
