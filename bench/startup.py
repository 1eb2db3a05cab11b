"""Start-up time: process start → the sign-in screen painted, beside a bare Textual app.

Every program is started the same way: the venv's Python in a fresh 120×40
pseudo-terminal, timed from just before the process is spawned to the moment a marker
string appears in what it writes to the terminal ("ログイン名" for juki — the sign-in
form — and a one-label app's text for the floor). Median of 5 runs each after one
warm-up of each (``--quick``: 2 runs), alternating so all see the same disk cache, each
round starting with the next program (no program always runs first).

Rows: ``juki`` against an existing SQLite database (the demo's, made first by ``juki
demo`` without a terminal, which prepares it and stops); ``juki demo`` opening that
database; ``juki demo`` in an empty data dir, which builds the demo register behind the
paint (killed once painted). Each run writes the start-up trace (setting
``start_trace``): its ``painted`` line lists the database modules loaded when the form
was painted, which must be none.

The code under test is byte-compiled first (``compileall``), as an install compiles it:
the venv's packages, the floor's whole code, come compiled, and under
``PYTHONDONTWRITEBYTECODE`` (the SSH wrapper sets it) a checkout never would be.

Targets: each row ≤ 1.5 × the floor; no database module loaded at the paint. Last line
of stdout: one JSON object.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
COLS, ROWS = 120, 40
JUKI_MARK = "ログイン名"
PACKAGES = ("console", "screens", "services", "auth", "logs", "core")
ROWS_MEASURED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("juki", "sign-in screen painted (juki)", ()),
    ("demo", "sign-in painted (juki demo, existing database)", ("demo",)),
    ("demo_fresh", "sign-in painted (juki demo, empty data dir)", ("demo",)),
)
FLOOR_MARK = "floor-ready-label"
ALT_SCREEN = b"\x1b[?1049h"
"""Textual switches to the alternate screen first: a mark counts only after it (what a
program prints before its app starts — ``juki demo``'s lines once did — is not a paint)."""

FLOOR_APP = f'''
from textual.app import App
from textual.widgets import Label


class Floor(App):
    def compose(self):
        yield Label("{FLOOR_MARK}")


Floor().run()
'''


def time_to_mark(argv: list[str], env: dict[str, str], cwd: Path, mark: str,
                 timeout: float = 60.0, *, kill: bool = False,
                 then: Callable[[], bool] | None = None) -> float:
    """Seconds from spawning ``argv`` in a new pty until ``mark`` is written to it (on
    the alternate screen). ``then``: before stopping the program, wait (≤ 10 s) until it
    says yes. ``kill``: end the program at once instead of asking it to quit."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    wanted = mark.encode("utf-8")
    seen = b""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
        start_new_session=True, close_fds=True,
    )
    os.close(slave)
    try:
        while True:
            left = timeout - (time.perf_counter() - started)
            if left <= 0:
                raise TimeoutError(f"{mark!r} not painted within {timeout}s: {seen[-400:]!r}")
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if not ready:
                if proc.poll() is not None:
                    raise RuntimeError(f"exited {proc.returncode} before painting: {seen[-400:]!r}")
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk and proc.poll() is not None:
                raise RuntimeError(f"exited {proc.returncode} before painting: {seen[-400:]!r}")
            seen += chunk
            screen = seen.find(ALT_SCREEN)
            if screen >= 0 and wanted in seen[screen:]:
                took = time.perf_counter() - started
                settle = time.monotonic() + 10
                while then is not None and not then() and time.monotonic() < settle:
                    time.sleep(0.02)
                return took
    finally:
        _stop(proc, master, grace=0.0 if kill else 5.0)


def _stop(proc: subprocess.Popen[bytes], master: int, grace: float = 5.0) -> None:
    try:
        os.write(master, b"\x11")  # ctrl+q: both apps quit on it
    except OSError:
        pass
    deadline = time.monotonic() + grace
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                os.read(master, 65536)
            except OSError:
                break
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    os.close(master)


def _at_paint(trace: Path) -> list[str] | None:
    """The database modules of the ``painted`` line of a run's start-up trace; None while
    there is none (or ever, with ``--code`` of a checkout older than the setting)."""
    if not trace.exists():
        return None
    for line in trace.read_text(encoding="utf-8").splitlines():
        event: dict[str, Any] = json.loads(line)
        if event["event"] == "painted":
            return list(event["database_modules"])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs each instead of 5")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="the checkout to measure (default: this one), e.g. a before")
    args = parser.parse_args(argv)
    code = args.code.resolve()
    runs = args.runs or (2 if args.quick else 5)

    times: dict[str, list[float]] = {name: [] for name, _label, _args in ROWS_MEASURED}
    floor: list[float] = []
    at_paint: set[str] = set()
    untraced = 0
    with tempfile.TemporaryDirectory(prefix="juki-bench-startup-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUKI_", "TEXTUAL"))}
        env.update(
            TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS), PYTHONPATH=str(code),
            JUKI_DATA_DIR=str(work / "var"), LANG=env.get("LANG", "C.UTF-8"),
        )
        floor_script = work / "floor_app.py"
        floor_script.write_text(FLOOR_APP, encoding="utf-8")
        py = sys.executable
        floor_argv = [py, str(floor_script)]
        subprocess.run([py, "-m", "compileall", "-q", *(str(code / p) for p in PACKAGES)],
                       check=True, stdout=subprocess.DEVNULL)
        # The existing database: `juki demo` without a terminal prepares it, then stops (2).
        made = subprocess.run([py, "-m", "console.cli", "demo"], env=env, cwd=work,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
        if made.returncode != 2 or not (work / "var" / "juki.sqlite3").exists():
            raise RuntimeError(f"demo database not made: {made.stderr[-400:]!r}")
        fresh = iter(range(1_000_000))
        traced = True

        def run(name: str, words: tuple[str, ...]) -> float:
            trace = work / f"trace-{name}-{next(fresh)}.jsonl"
            run_env = {**env, "JUKI_START_TRACE": str(trace)}
            if name == "demo_fresh":  # a data dir of its own, empty
                run_env["JUKI_DATA_DIR"] = str(work / f"fresh-{next(fresh)}")
            # The trace's line follows the frame by a few ms: let it be written (an older
            # checkout never writes one: after its first run, wait no more).
            took = time_to_mark([py, "-m", "console.cli", *words], run_env, work, JUKI_MARK,
                                timeout=600, kill=name == "demo_fresh",
                                then=lambda: not traced or _at_paint(trace) is not None)
            loaded = _at_paint(trace)
            if loaded is None:
                nonlocal untraced, traced
                untraced += 1
                traced = False
            else:
                at_paint.update(loaded)
            return took

        for name, _label, words in ROWS_MEASURED:  # warm-up: pyc files, disk cache
            run(name, words)
        time_to_mark(floor_argv, env, work, FLOOR_MARK)
        programs: list[tuple[str, tuple[str, ...]]] = [
            ("floor", ()), *((name, words) for name, _label, words in ROWS_MEASURED)]
        for i in range(runs):  # each round starts with the next program: no fixed order
            for name, words in programs[i % len(programs):] + programs[:i % len(programs)]:
                if name == "floor":
                    floor.append(time_to_mark(floor_argv, env, work, FLOOR_MARK))
                else:
                    times[name].append(run(name, words))

    floor_med = statistics.median(floor)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    ratios = {name: med / floor_med for name, med in medians.items()}
    for name, label, _words in ROWS_MEASURED:
        print(f"{label + ':':48} median {medians[name] * 1000:7.1f} ms  ratio "
              f"{ratios[name]:.2f} (target ≤ {TARGET_RATIO})  "
              f"runs {', '.join(f'{t * 1000:.0f}' for t in times[name])}")
    print(f"{'one label painted (bare Textual):':48} median {floor_med * 1000:7.1f} ms  "
          f"runs {', '.join(f'{t * 1000:.0f}' for t in floor)}")
    print(f"database modules loaded when the form was painted: "
          f"{', '.join(sorted(at_paint)) or 'none'} (target: none)"
          + (f"; {untraced} runs without a trace (unknown)" if untraced else ""))
    figures: dict[str, Any] = {
        "juki_median_ms": round(medians["juki"] * 1000, 1),
        "ratio_to_floor": round(ratios["juki"], 3),
        "juki_runs_ms": [round(t * 1000, 1) for t in times["juki"]],
    }
    for name in ("demo", "demo_fresh"):
        figures[f"{name}_median_ms"] = round(medians[name] * 1000, 1)
        figures[f"{name}_ratio_to_floor"] = round(ratios[name], 3)
        figures[f"{name}_runs_ms"] = [round(t * 1000, 1) for t in times[name]]
    figures["database_modules_at_paint"] = sorted(at_paint)
    figures["runs_without_trace"] = untraced
    figures["runs"] = runs
    figures["code"] = str(code)
    result = {
        "bench": "startup",
        "figures": figures,
        "targets": {"ratio_to_floor_max": TARGET_RATIO, "database_modules_at_paint": []},
        "peer": {
            "bare_textual_label_median_ms": round(floor_med * 1000, 1),
            "bare_textual_label_runs_ms": [round(t * 1000, 1) for t in floor],
        },
        "met": all(r <= TARGET_RATIO for r in ratios.values()) and not at_paint
        and not untraced,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
