"""The SSH door: the whole ``juki ssh authorized-keys USER TYPE KEY`` process, as sshd runs it.

sshd runs the command (its AuthorizedKeysCommand) for every key a client offers and waits
for it before it answers the client, so its wall time is part of every connection.

Set-up (not timed, printed): a fresh database — a SQLite file, and a scratch PostgreSQL
schema when ``JUKI_TEST_POSTGRES_URL`` answers (default
postgresql+psycopg://postgres@127.0.0.1:5432/test) — with 1,000 accounts (``add_user``,
the cheap argon2 profile: no password is checked here) and 2,000 keys, two per account
(``add_keys``; fresh ed25519 keys made with ``cryptography``); one account in ten is
disabled (``disable_user``). A settings file (mode 0600) names the database, as
``--config`` does under sshd.

What is timed: the wall time of the process ``<runtime>/bin/juki ssh authorized-keys
--config F USER TYPE KEY`` (spawn to exit), keys drawn at random: 60 % bound to an enabled
account, 20 % bound to a disabled one, 20 % bound to nobody. Every answer is checked (a
line naming the key's fingerprint, or nothing).

(a) server up: ``juki console-server`` started as a process when the command exists
(``juki console-server --help`` exits 0), answering over its socket; otherwise the row
says ``server: not available``. (a′) stand-in: a thread of this bench listening on the
socket and answering each request with ``console.server_keys.answer`` on the database
(what the server will call), printed beside (a) and not judged: it shows what the
program costs when a server answers. (b) server down: the command answers from the
database itself. The floor beside them, measured the same way: ``python -c pass`` and
``python -S -c pass`` of the same interpreter (the runtime is built as an installation
is — ``installed_runtime``: this checkout's editable install would add its finder to
every start), and a ``python -c pass`` after each timed
run (so that each row has its floor under the same load: the machine is shared).

    python bench/ssh_keys.py [--quick] [--accounts 1000] [--no-postgres]

``--quick``: 200 accounts (400 keys) and fewer runs, under a minute. Target: p95 ≤ 50 ms
with the server up, on each backend. Last stdout line: one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import pwd
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from auth.accounts import add_user, disable_user  # noqa: E402
from auth.ssh_keys import add_keys  # noqa: E402
from bench._db import postgres_reachable, scratch_schema  # noqa: E402
from console import server_wire  # noqa: E402
from console.server_keys import answer  # noqa: E402
from core.actor import Actor  # noqa: E402
from core.db import Database  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.settings_file import DEFAULT_SERVER_SOCKET  # noqa: E402
from logs import stream  # noqa: E402
from services.schema import init_schema  # noqa: E402

TARGET_P95_MS = 50.0
ME = pwd.getpwuid(os.getuid()).pw_name
PYTHON = sys.executable
JUKI = Path(PYTHON).parent / "juki"
COMMAND = "/opt/juki/deploy/juki-console"


@dataclass(frozen=True)
class Key:
    key_type: str
    b64: str
    kind: str  # "bound" | "disabled" | "unbound"

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(base64.b64decode(self.b64)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def new_key(kind: str) -> Key:
    line = Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    key_type, b64 = line.split()[:2]
    return Key(key_type, b64, kind)


def installed_runtime(base: Path) -> None:
    """Time what an installation runs, not this checkout's editable install.

    ``pip install -e`` puts a finder in site-packages that every start of this venv's
    Python imports (pathlib, urllib, ipaddress …: about 15 ms here, most of a door run).
    A runtime as ``pip install /opt/juki`` leaves it: a venv of the same interpreter
    whose site-packages line names this checkout and the installed dependencies as plain
    paths, and a ``juki`` script as pip writes it. The floors use its Python too."""
    global PYTHON, JUKI
    rt = base / "rt"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv",
                    "--without-pip", str(rt)], check=True, timeout=120)
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    site = next((rt / "lib").glob("python*/site-packages"))
    (site / "juki-bench.pth").write_text(f"{ROOT}\n{deps}\n")
    launcher = rt / "bin" / "juki"
    launcher.write_text(f"#!{rt / 'bin' / 'python'}\nimport sys\n"
                        "from console.cli import main\nsys.exit(main())\n")
    launcher.chmod(0o755)
    PYTHON, JUKI = str(rt / "bin" / "python"), launcher


def juki_argv() -> list[str]:
    """The installed ``juki`` script of this interpreter (what sshd runs), else -m."""
    return [str(JUKI)] if JUKI.exists() else [PYTHON, "-m", "console.cli"]


def child_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUKI_")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout, ahead of the editable install
    env["JUKI_CONFIG"] = str(config)  # for the server; the door gets --config
    return env


def seed(settings: Settings, accounts: int) -> list[Key]:
    """Accounts and keys through the services; returns every key, bound or not."""
    db = Database.for_settings(settings)
    stream.configure(settings.resolved_audit_jsonl)
    try:
        init_schema(db)
        admin = Actor(login="os:bench")
        keys: list[Key] = []
        for n in range(accounts):
            login = f"staff{n:04d}"
            add_user(db, settings, admin, login=login, name=f"職員 {n}", roles=["clerk"],
                     password="kaze-no-oto-ga-kikoeru", department="市民課")
            kind = "disabled" if n % 10 == 9 else "bound"
            pair = [new_key(kind), new_key(kind)]
            add_keys(db, admin, login, "".join(f"{k.key_type} {k.b64} {login}@pc\n"
                                               for k in pair), f"{login}.pub")
            if kind == "disabled":
                disable_user(db, admin, login)
            keys += pair
        keys += [new_key("unbound") for _ in range(max(20, accounts // 5))]
        return keys
    finally:
        stream.configure(None)
        db.dispose()


def deployed_socket(tmp: Path, name: str) -> str:
    """The socket where an installation has it (``/run/juki/console.sock``, the default, so
    the settings file does not name it and the door does not parse the file: as deployed)
    when this bench may use that place (root, nothing there); else one under ``tmp``."""
    default = Path(DEFAULT_SERVER_SOCKET)
    if os.geteuid() == 0 and not default.exists():
        default.parent.mkdir(mode=0o700, exist_ok=True)
        return str(default)
    return str(tmp / name / "console.sock")


def write_config(path: Path, settings: Settings) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for name in ("database_url", "data_dir", "audit_jsonl", "console_server_socket",
                     "ssh_connect_command", "argon2_profile"):
            if name == "console_server_socket" and settings.console_server_socket == (
                    DEFAULT_SERVER_SOCKET):
                continue  # the default, as a deployed settings file leaves it
            fh.write(f"{name} = {json.dumps(getattr(settings, name), ensure_ascii=False)}\n")
    os.chmod(path, 0o600)


def pick(keys: Sequence[Key], rng: random.Random) -> Key:
    roll = rng.random()
    kind = "bound" if roll < 0.6 else "disabled" if roll < 0.8 else "unbound"
    return rng.choice([k for k in keys if k.kind == kind])


def timed(argv: Sequence[str], env: dict[str, str]) -> tuple[float, str, int]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)
    return (time.perf_counter() - start) * 1000, done.stdout, done.returncode


def percentiles(ms: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(ms)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)], 1)

    return {"p50_ms": rank(0.5), "p95_ms": rank(0.95), "n": len(ordered)}


def door_runs(keys: Sequence[Key], config: Path, env: dict[str, str], runs: int,
              rng: random.Random) -> dict[str, Any]:
    """``runs`` timed processes, each followed by a ``python -c pass`` (the floor under
    the same load: the machine is shared); ``wrong`` counts answers not the rule's."""
    ms: list[float] = []
    bare: list[float] = []
    wrong = 0
    for _ in range(runs):
        key = pick(keys, rng)
        took, out, code = timed([*juki_argv(), "ssh", "authorized-keys", "--config",
                                 str(config), ME, key.key_type, key.b64], env)
        ms.append(took)
        bare.append(timed([PYTHON, "-c", "pass"], env)[0])
        want = (f'restrict,pty,command="{COMMAND} --key {key.fingerprint}" '
                f"{key.key_type} {key.b64}\n") if key.kind == "bound" else ""
        wrong += code != 0 or out != want
    floor_then = percentiles(bare)
    return {**percentiles(ms), "wrong": wrong, "floor_p50_ms": floor_then["p50_ms"],
            "floor_p95_ms": floor_then["p95_ms"]}


def floor(runs: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUKI_")}
    return {
        "python_c_pass": percentiles([timed([PYTHON, "-c", "pass"], env)[0]
                                      for _ in range(runs)]),
        "python_S_c_pass": percentiles([timed([PYTHON, "-S", "-c", "pass"], env)[0]
                                        for _ in range(runs)]),
    }


def server_available(env: dict[str, str]) -> bool:
    done = subprocess.run([*juki_argv(), "console-server", "--help"], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    return done.returncode == 0


@contextmanager
def console_server(env: dict[str, str], socket_path: str, probe: Key) -> Iterator[str | None]:
    """``juki console-server`` running and answering (yields None), or why not."""
    if not server_available(env):
        yield "not available (no `juki console-server`)"
        return
    proc = subprocess.Popen([*juki_argv(), "console-server"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        why: str | None = "not available (did not answer within 60 s)"
        while time.monotonic() < deadline and proc.poll() is None:
            asked = server_wire.ask(socket_path, {"op": "keys", "user": ME,
                                                  "type": probe.key_type, "key": probe.b64})
            if asked is not None and "line" in asked:
                why = None
                break
            time.sleep(0.1)
        if proc.poll() is not None:
            tail = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
            why = f"not available (exited {proc.returncode}: {tail.strip()[-200:]})"
        yield why
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextmanager
def stand_in(settings: Settings) -> Iterator[None]:
    """A wire peer on the socket answering with ``console.server_keys.answer``."""
    db = Database.for_settings(settings)
    stream.configure(settings.resolved_audit_jsonl)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.path.exists(settings.console_server_socket):  # a stopped server's, left behind
        os.unlink(settings.console_server_socket)
    srv.bind(settings.console_server_socket)
    os.chmod(settings.console_server_socket, 0o600)
    srv.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                message, _fds = server_wire.receive(conn)
                if message is not None:
                    server_wire.send(conn, answer(db, settings, message))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        srv.shutdown(socket.SHUT_RDWR)
        srv.close()
        thread.join(10)
        os.unlink(settings.console_server_socket)
        stream.configure(None)
        db.dispose()


def bench_backend(name: str, url: str, tmp: Path, accounts: int, runs_up: int,
                  runs_down: int) -> dict[str, Any]:
    where = tmp / name
    where.mkdir(mode=0o700)
    settings = Settings(
        database_url=url, data_dir=str(where / "var"), audit_jsonl=str(where / "audit.jsonl"),
        console_server_socket=deployed_socket(tmp, name), ssh_connect_command=COMMAND,
        argon2_profile="test",
    )
    print(f"[{name}] socket {settings.console_server_socket}", flush=True)
    started = time.perf_counter()
    keys = seed(settings, accounts)
    bound = sum(k.kind != "unbound" for k in keys)
    print(f"[{name}] seeded {accounts} accounts, {bound} keys "
          f"({time.perf_counter() - started:.1f} s)", flush=True)
    config = where / "juki.toml"
    write_config(config, settings)
    env = child_env(config)
    rng = random.Random(15)
    out: dict[str, Any] = {"accounts": accounts, "keys": bound}
    probe = next(k for k in keys if k.kind == "bound")
    with console_server(env, settings.console_server_socket, probe) as why:
        if why is None:
            door_runs(keys, config, env, 3, rng)  # warm-up
            out["server_up"] = door_runs(keys, config, env, runs_up, rng)
        else:
            out["server_up"] = f"server: {why}"
    with stand_in(settings):
        door_runs(keys, config, env, 3, rng)  # warm-up
        out["stand_in"] = door_runs(keys, config, env, runs_up, rng)
    door_runs(keys, config, env, 2, rng)  # warm-up
    out["server_down"] = door_runs(keys, config, env, runs_down, rng)
    up = out["server_up"]
    if isinstance(up, dict):
        print(f"[{name}] (a) server up:   p50 {up['p50_ms']} ms, p95 {up['p95_ms']} ms "
              f"(target ≤ {TARGET_P95_MS:g} ms), n={up['n']}, wrong {up['wrong']}; "
              f"python -c pass meanwhile p50 {up['floor_p50_ms']}, p95 {up['floor_p95_ms']}")
    else:
        print(f"[{name}] (a) {up}")
    sub = out["stand_in"]
    print(f"[{name}] (a′) stand-in:   p50 {sub['p50_ms']} ms, p95 {sub['p95_ms']} ms "
          f"(not judged), n={sub['n']}, wrong {sub['wrong']}; "
          f"python -c pass meanwhile p50 {sub['floor_p50_ms']}, p95 {sub['floor_p95_ms']}")
    down = out["server_down"]
    print(f"[{name}] (b) server down: p50 {down['p50_ms']} ms, p95 {down['p95_ms']} ms "
          f"(no target), n={down['n']}, wrong {down['wrong']}; "
          f"python -c pass meanwhile p50 {down['floor_p50_ms']}", flush=True)
    out["met"] = (isinstance(up, dict) and up["p95_ms"] <= TARGET_P95_MS
                  and up["wrong"] == 0 and down["wrong"] == 0 and sub["wrong"] == 0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="200 accounts, fewer runs")
    parser.add_argument("--accounts", type=int, default=0)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    accounts = args.accounts or (200 if args.quick else 1_000)
    runs_up, runs_down, runs_floor = (30, 6, 10) if args.quick else (200, 40, 40)

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="juki-bench-keys-") as tmp:
        tmp_path = Path(tmp)
        installed_runtime(tmp_path)
        print(f"runtime: {JUKI} (installed as pip would, no editable finder)", flush=True)
        peer = floor(runs_floor)
        for label, f in peer.items():
            print(f"floor {label}: p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms", flush=True)
        figures["sqlite"] = bench_backend(
            "sqlite", f"sqlite:///{tmp_path / 'keys.sqlite3'}", tmp_path, accounts,
            runs_up, runs_down)
        if not args.no_postgres and postgres_reachable():
            with scratch_schema("bench_keys_") as url:
                figures["postgresql"] = bench_backend(
                    "postgresql", url, tmp_path, accounts, runs_up, runs_down)
        else:
            print("PostgreSQL: not reachable or skipped; no figure")
    met = all(f["met"] for f in figures.values())
    print(json.dumps({
        "bench": "ssh_keys", "figures": figures,
        "targets": {"server_up_p95_ms_max": TARGET_P95_MS, "accounts": 1_000, "keys": 2_000},
        "peer": peer, "met": met,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
