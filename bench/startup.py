"""Start-up time: process start → the sign-in screen painted, beside a bare Textual app.

Both programs are started the same way: the venv's Python in a fresh 120×40
pseudo-terminal, timed from just before the process is spawned to the moment a marker
string appears in what it writes to the terminal ("ログイン名" for juki — the sign-in
form — and a one-label app's text for the floor). Median of 5 runs each after one
warm-up of each (``--quick``: 2 runs), alternating so both see the same disk cache.

Target: juki ≤ 1.5 × the floor. Last line of stdout: one JSON object.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
COLS, ROWS = 120, 40
JUKI_MARK = "ログイン名"
FLOOR_MARK = "floor-ready-label"

FLOOR_APP = f'''
from textual.app import App
from textual.widgets import Label


class Floor(App):
    def compose(self):
        yield Label("{FLOOR_MARK}")


Floor().run()
'''


def time_to_mark(argv: list[str], env: dict[str, str], cwd: Path, mark: str,
                 timeout: float = 60.0) -> float:
    """Seconds from spawning ``argv`` in a new pty until ``mark`` is written to it."""
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
            if wanted in seen:
                return time.perf_counter() - started
    finally:
        _stop(proc, master)


def _stop(proc: subprocess.Popen[bytes], master: int) -> None:
    try:
        os.write(master, b"\x11")  # ctrl+q: both apps quit on it
    except OSError:
        pass
    deadline = time.monotonic() + 5
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs each instead of 5")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 5)

    with tempfile.TemporaryDirectory(prefix="juki-bench-startup-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUKI_", "TEXTUAL"))}
        env.update(
            TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS), PYTHONPATH=str(ROOT),
            JUKI_DATA_DIR=str(work / "var"), LANG=env.get("LANG", "C.UTF-8"),
        )
        floor_script = work / "floor_app.py"
        floor_script.write_text(FLOOR_APP, encoding="utf-8")
        py = sys.executable
        juki_argv = [py, "-m", "console.cli"]
        floor_argv = [py, str(floor_script)]

        time_to_mark(juki_argv, env, work, JUKI_MARK)  # warm-up: pyc files, disk cache
        time_to_mark(floor_argv, env, work, FLOOR_MARK)
        juki, floor = [], []
        for _ in range(runs):
            floor.append(time_to_mark(floor_argv, env, work, FLOOR_MARK))
            juki.append(time_to_mark(juki_argv, env, work, JUKI_MARK))

    juki_med, floor_med = statistics.median(juki), statistics.median(floor)
    ratio = juki_med / floor_med
    print(f"sign-in screen painted (juki):  median {juki_med * 1000:7.1f} ms  "
          f"runs {', '.join(f'{t * 1000:.0f}' for t in juki)}")
    print(f"one label painted (bare Textual): median {floor_med * 1000:7.1f} ms  "
          f"runs {', '.join(f'{t * 1000:.0f}' for t in floor)}")
    print(f"ratio {ratio:.2f} (target ≤ {TARGET_RATIO})")
    result = {
        "bench": "startup",
        "figures": {
            "juki_median_ms": round(juki_med * 1000, 1),
            "ratio_to_floor": round(ratio, 3),
            "juki_runs_ms": [round(t * 1000, 1) for t in juki],
            "runs": runs,
        },
        "targets": {"ratio_to_floor_max": TARGET_RATIO},
        "peer": {
            "bare_textual_label_median_ms": round(floor_med * 1000, 1),
            "bare_textual_label_runs_ms": [round(t * 1000, 1) for t in floor],
        },
        "met": ratio <= TARGET_RATIO,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
