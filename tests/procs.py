"""Real processes the tests start: racers released at one moment, and servers on loopback.

Racers: the race tests start N ``python -c SCRIPT`` processes; each gets ready (signs in,
opens its database), says ``ready`` and waits for a start file; when every one is ready the
file appears and they act at once. Each prints its result as one JSON line last.

Servers: ``juki`` subcommands (the 住基ネット simulator, the transfer receiver, the audit
collector) listen on a loopback port of their choosing and print their URL first; the
helpers wait for that line and stop every process started when the test ends.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
GO = "RACE_GO"  # the environment variable naming the start file


def child_env(base: Mapping[str, str] | None = None, **more: str) -> dict[str, str]:
    """A child's environment: ``base`` (this process's) without JUKI_ settings, the
    checkout on PYTHONPATH, then ``more``."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith("JUKI_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(more)
    return env


def wait_for(cond: Callable[[], object], timeout: float, what: str, step: float = 0.05) -> None:
    """Poll ``cond`` until it holds; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    pytest.fail(f"timed out waiting for {what}")


# --- racers ---------------------------------------------------------------------------


def on_your_marks(timeout: float = 120) -> None:
    """In a racer: say ready, then wait for the start file (exit 3 if it never comes)."""
    print("ready", flush=True)
    go = os.environ[GO]
    deadline = time.monotonic() + timeout
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit(3)
        time.sleep(0.001)


def attempt(act: Callable[[], dict[str, Any]], **who: Any) -> None:
    """In a racer: run ``act`` and print its result, or the refusal it met, as JSON."""
    from core.errors import JukiError

    try:
        out = {**who, "ok": True, **act()}
    except JukiError as exc:
        out = {**who, "ok": False, "error": type(exc).__name__, "message": exc.message}
    print(json.dumps(out, ensure_ascii=False), flush=True)


def race(
    script: str, argvs: Sequence[Sequence[str]], go: Path, *,
    env: Mapping[str, str] | None = None, timeout: float = 180,
    while_running: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Start one ``python -c script *argv`` per ``argvs``; once every one has said ready,
    create the start file ``go``; call ``while_running`` again and again until all have
    ended; return each one's last line as JSON, in order. A racer that fails fails the
    test with its stderr; any still running at the end is killed."""
    child = dict(env if env is not None else child_env())
    child[GO] = str(go)
    racers = [
        subprocess.Popen([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT, env=child)
        for argv in argvs
    ]
    try:
        for racer in racers:  # every racer ready and waiting
            assert racer.stdout is not None
            line = racer.stdout.readline()
            assert line.strip() == "ready", racer.stderr.read() if racer.stderr else ""
        go.write_text("go")
        if while_running is not None:
            while any(r.poll() is None for r in racers):
                while_running()
        results = []
        for racer in racers:
            out, err = racer.communicate(timeout=timeout)
            assert racer.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()


# --- servers on loopback --------------------------------------------------------------


@dataclass
class Loopback:
    """A ``juki`` server process listening on ``url`` (127.0.0.1:``port``)."""

    url: str
    port: int
    proc: subprocess.Popen[str]
    stderr_path: Path

    def get(self, path: str) -> Any:
        return httpx.get(self.url + path, timeout=10, trust_env=False).json()

    def post(self, path: str, body: Any) -> Any:
        resp = httpx.post(self.url + path, json=body, timeout=10, trust_env=False)
        resp.raise_for_status()
        return resp.json()

    def kill(self) -> None:
        """SIGKILL: no goodbye."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 15) -> tuple[int, str]:
        """SIGTERM, then wait (SIGKILL after ``timeout``); (exit code, the rest of stdout)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            rest, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
        return self.proc.returncode, rest or ""


def launch(args: Sequence[str], *, env: Mapping[str, str], cwd: Path,
           name: str) -> tuple[str, int, subprocess.Popen[str], Path]:
    """Start ``juki ARGS`` and wait (60 s) for the URL it prints first; (url, port,
    process, stderr file). Fails the test with the stderr if no URL comes."""
    err_path = cwd / f"{name}-{uuid.uuid4().hex[:8]}.err"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.cli", *args], stdout=subprocess.PIPE,
            stderr=err, stdin=subprocess.DEVNULL, text=True, env=dict(env), cwd=cwd,
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        proc.kill()
        proc.wait()
        pytest.fail(f"{name} did not start: {line!r} {err_path.read_text('utf-8')}")
    return found.group(), int(found.group(1)), proc, err_path


S = TypeVar("S", bound=Loopback)


def servers(start: Callable[..., S]) -> Iterator[Callable[..., S]]:
    """For a fixture: ``start`` as the test calls it; every server it started is
    stopped (SIGTERM) when the fixture ends."""
    started: list[S] = []

    def start_one(*args: Any, **kw: Any) -> S:
        server = start(*args, **kw)
        started.append(server)
        return server

    yield start_one
    for server in started:
        server.stop()
