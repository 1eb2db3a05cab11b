"""Over SSH through the door: connect → sign-in painted beside a bare SSH session, 20
simultaneous sign-ins, CPU and memory per console, and the local start.

A real OpenSSH server on 127.0.0.1 (tests/console/sshd_rig.py) laid out as deploy/ says:
the repository's sshd snippet, one service OS user whose keys come from
``juki ssh authorized-keys``, the forced command deploy/juki-console → ``juki connect``,
and ``juki console-server`` running as that user, its socket at the deployed place
(/run/juki/console.sock, which the settings file then leaves out, when that place is free;
printed). The accounts use the production argon2 profile (64 MiB per hash), as a real
office would. Measured in one run:

1. ``ssh -tt`` spawned in a fresh 120×40 pty → the sign-in form written to it, against
   the bare session ``ssh peer@host true`` (a second OS user of the same sshd with a
   plain authorized_keys file: handshake, key, session, exit — what OpenSSH costs
   alone). Alternated after one warm-up of each; medians of 7 (``--quick``: 3).
   Target: door ≤ bare + 150 ms.
2. 20 ssh clients started at once (``--quick``: 5), each typing its password as soon as
   its form is painted: spawn → home screen painted. Target: all reach home, p95 ≤ 5 s.
   Printed beside it, the floor: N × (the bare session's ssh client and sshd CPU + one
   argon2id + the console at its 0.3 s target) ÷ cores — what no console could beat on
   this host — and the same without the ssh clients (on an office's PCs, not the server).
3. CPU per sign-in: each console's utime + stime (/proc/PID/stat; a forked console
   counts from its fork) once home, less one argon2id verification of the same profile
   measured here (its CPU, all lanes' threads). Target ≤ 0.3 s. Printed beside it: the
   console's CPU up to the sign-in form (read in 1, one connection at a time), the
   connect client's and the door command's, and what one connection costs the ssh
   client and sshd's side (its children as the listener reaps them), door and bare.
4. Memory per console at home: USS (Private_Clean + Private_Dirty of
   /proc/PID/smaps_rollup) under the server, target ≤ 30 MB; with the server stopped, the
   console the client starts directly: RSS, target ≤ 80 MB.
5. The local start: bench/startup.py run as it is (sign-in painted ÷ a bare Textual app
   painting one label), target ≤ 1.5×.

Needs root (OS users, sshd). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from startup import COLS, ROWS, _stop  # noqa: E402

from tests.console.sshd_rig import Rig, cmdline, make_rig, unavailable  # noqa: E402

MARK = "ログイン名"
HOME_MARK = "サインイン中の職員"
PASSWORD = "yoru-no-sora-ni-hoshi-ga-furu"
PROFILE = "rfc9106_low_memory"
TARGET_OVER_BARE_MS = 150.0
TARGET_P95 = 5.0
TARGET_CPU = 0.3
TARGET_USS_MB = 30.0
TARGET_DIRECT_RSS_MB = 80.0
TARGET_LOCAL_RATIO = 1.5


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUKI_", "TEXTUAL", "TMUX"))}
    env.update(TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS),
               LANG=env.get("LANG") or "C.UTF-8")
    return env


def _setup(rig: Rig, users: int) -> dict[str, Path]:
    from auth.accounts import add_user
    from auth.ssh_keys import add_keys
    from core.actor import Actor
    from core.db import Database

    rig.write_settings(argon2_profile=PROFILE)
    done = rig.juki("db", "init")
    if done.returncode != 0:
        raise RuntimeError(f"juki db init: {done.stdout}{done.stderr}")
    settings = rig.settings()
    db = Database.for_settings(settings)
    admin = Actor(login="os:bench")
    keys: dict[str, Path] = {}
    try:
        for n in range(1, users + 1):
            login = f"staff{n:02d}"
            keys[login] = rig.keygen(login)
            add_user(db, settings, admin, login=login, name=f"職員 {n}", roles=["clerk"],
                     password=PASSWORD, department="市民課")
            add_keys(db, admin, login, Path(f"{keys[login]}.pub").read_text(), f"{login}.pub")
    finally:
        db.dispose()
    rig.give_data_to_user()
    keys["peer"] = rig.keygen("peer")
    rig.authorize_peer(keys["peer"])
    rig.start_server()
    rig.start_sshd()
    return keys


# --- /proc ---------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reaped_cpu_seconds(pid: int) -> float:
    """CPU seconds of the children ``pid`` has reaped (cutime + cstime): for the sshd
    listener, every connection's processes once they end (the door command and the
    forced command among them)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU of one connection on each side: the ssh client (reaped by this process) and
    sshd's side (reaped by the listener). Read after the connection has ended."""

    def __init__(self, rig: Rig) -> None:
        assert rig.sshd is not None
        self.sshd = rig.sshd.pid

    def _now(self) -> tuple[float, float]:
        own = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime, _reaped_cpu_seconds(self.sshd)

    def around(self, run: Any) -> tuple[Any, float, float]:
        """``run()``'s value, and the client's and sshd's CPU seconds it cost."""
        client0, sshd0 = self._now()
        value = run()
        time.sleep(0.3)  # the connection's sshd processes end just after the client
        client1, sshd1 = self._now()
        return value, client1 - client0, sshd1 - sshd0


def _kb(path: str, *names: str) -> float:
    """The sum of the named ``Name: N kB`` lines of a /proc file, in MB."""
    total = 0
    for line in Path(path).read_text().splitlines():
        name, _, value = line.partition(":")
        if name in names:
            total += int(value.split()[0])
    return total / 1024


def _uss_mb(pid: int) -> float:
    return _kb(f"/proc/{pid}/smaps_rollup", "Private_Clean", "Private_Dirty")


def _rss_mb(pid: int) -> float:
    return _kb(f"/proc/{pid}/status", "VmRSS")


def _argon2_cpu(runs: int = 3) -> float:
    """CPU seconds of one verification with the accounts' profile (every lane's thread)."""
    from auth.passwords import hash_password, verify_password

    stored = hash_password(PASSWORD, PROFILE)
    spent = []
    for _ in range(runs):
        started = time.process_time()
        assert verify_password(stored, PASSWORD, PROFILE)
        spent.append(time.process_time() - started)
    return statistics.median(spent)


def _door_cost(rig: Rig, key: Path, runs: int = 5) -> tuple[float, float]:
    """CPU and wall seconds of one ``juki ssh authorized-keys`` as sshd runs it (server
    up; the wall time includes starting it as the service user)."""
    key_type, blob = Path(f"{key}.pub").read_text().split()[:2]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for _ in range(runs):
        done = rig.juki("ssh", "authorized-keys", "--config", str(rig.settings_file),
                        rig.user, key_type, blob)
        if not done.stdout.startswith("restrict"):
            raise RuntimeError(f"the door refused the bench's key: {done.stderr}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return spent / runs, wall / runs


def _connect_clients(rig: Rig) -> list[int]:
    """The forced commands' clients (``juki connect``) of the open connections."""
    children = set(rig.server_children())
    return [pid for pid in rig.session_processes()
            if pid not in children and " connect " in f"{cmdline(pid)} "]


# --- clients -------------------------------------------------------------------------


def _to_form(argv: list[str], env: dict[str, str], rig: Rig) -> tuple[float, float, float]:
    """Spawn ``argv`` on a fresh pty until the sign-in form is written to it: seconds, and
    the console's CPU seconds and USS (MB) at that moment (the server's child, or the
    client itself when it started the console directly)."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    seen = b""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    try:
        while MARK.encode() not in seen:
            if time.perf_counter() - started > 60:
                raise TimeoutError(f"the sign-in form did not come: {seen[-400:]!r}")
            if select.select([master], [], [], 0.5)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk and proc.poll() is not None:
                    raise RuntimeError(f"ssh ended before the form: {seen[-400:]!r}")
                seen += chunk
        spent = time.perf_counter() - started
        consoles = rig.server_children() or _connect_clients(rig)
        cpu = sum(_cpu_seconds(p) for p in consoles)
        uss = sum(_uss_mb(p) for p in consoles)
        return spent, cpu, uss
    finally:
        _stop(proc, master)


def _bare_session(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                          timeout=60)
    spent = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"bare ssh session failed: {done.stderr!r}")
    return spent


class Client(threading.Thread):
    """One ssh client on its own pty: waits for the form, types the password (the key
    fixed the login), waits for home, then holds the session until released."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.argv, self.env = argv, env
        self.painted: float | None = None
        self.home: float | None = None
        self.error = ""
        self.release = threading.Event()

    def run(self) -> None:
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        started = time.perf_counter()
        proc = subprocess.Popen(self.argv, stdin=slave, stdout=slave, stderr=slave,
                                env=self.env, start_new_session=True, close_fds=True)
        os.close(slave)
        seen = b""
        try:
            while not self.release.is_set():
                if time.perf_counter() - started > 120 and self.home is None:
                    self.error = f"timeout: {seen[-300:]!r}"
                    break
                ready, _, _ = select.select([master], [], [], 0.2)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    self.error = f"closed: {seen[-300:]!r}"
                    break
                if self.home is not None:
                    continue  # keep draining so the console never blocks on output
                seen += chunk
                if self.painted is None and MARK.encode() in seen:
                    self.painted = time.perf_counter() - started
                    os.write(master, f"{PASSWORD}\r".encode())
                    seen = b""
                elif self.painted is not None and HOME_MARK.encode() in seen:
                    self.home = time.perf_counter() - started
            self.release.wait(300)
        finally:
            _stop(proc, master)


def _crowd(argvs: list[list[str]], env: dict[str, str],
           measure: Any) -> tuple[list[Client], Any]:
    """Start every client at once; when all are home (or failed), ``measure()``; release."""
    crowd = [Client(argv, env) for argv in argvs]
    for c in crowd:
        c.start()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and any(c.home is None and not c.error for c in crowd):
        time.sleep(0.1)
    time.sleep(0.5)
    try:
        measured = measure()
    finally:
        for c in crowd:
            c.release.set()
        for c in crowd:
            c.join(30)
    return crowd, measured


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def _local_start(quick: bool) -> dict[str, Any]:
    """bench/startup.py as it is; its JSON line."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "startup.py"),
                           *(["--quick"] if quick else [])],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench/startup.py failed: {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 start runs, 5 sign-ins")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--verbose", action="store_true", help="each client's times")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 7)
    clients = args.clients or (5 if args.quick else 20)

    why = unavailable()
    if why is not None:
        print(f"bench/ssh: cannot run here: {why}")
        print(json.dumps({"bench": "ssh", "figures": {}, "targets": {}, "peer": {},
                          "met": False, "skipped": why}, ensure_ascii=False))
        return 2

    env = _env()
    rig = make_rig(peer=True, deployed_socket=True)
    try:
        keys = _setup(rig, clients)
        print(f"the console server's socket: {rig.socket_path}"
              + ("" if rig.owns_run_dir else " (/run/juki was taken: the settings name it)"))
        assert rig.peer is not None
        first = next(k for k in keys if k != "peer")
        door_argv = rig.ssh_argv(keys[first])
        bare_argv = [*rig.ssh_argv(keys["peer"], user=rig.peer, tty=False), "true"]

        # 1. The door against the bare session, alternated after a warm-up of each.
        _to_form(door_argv, env, rig)
        _bare_session(bare_argv, env)
        door, bare, form_cpu, form_uss = [], [], [], []
        meter = CpuMeter(rig)
        side: dict[str, list[float]] = {"bare_client": [], "bare_sshd": [],
                                        "door_client": [], "door_sshd": []}
        for _ in range(runs):
            spent_bare, client, sshd = meter.around(lambda: _bare_session(bare_argv, env))
            bare.append(spent_bare)
            side["bare_client"].append(client)
            side["bare_sshd"].append(sshd)
            (spent, cpu_then, uss_then), client, sshd = meter.around(
                lambda: _to_form(door_argv, env, rig))
            door.append(spent)
            form_cpu.append(cpu_then)
            form_uss.append(uss_then)
            side["door_client"].append(client)
            side["door_sshd"].append(sshd)
        time.sleep(1)

        # 2–4. The crowd under the server: home times, then CPU and memory of each.
        argon2 = _argon2_cpu()
        door_cpu, door_wall = _door_cost(rig, keys[first])

        def under_server() -> dict[str, list[float]]:
            consoles = rig.server_children()
            return {"cpu": [_cpu_seconds(p) for p in consoles],
                    "uss": [_uss_mb(p) for p in consoles],
                    "rss": [_rss_mb(p) for p in consoles],
                    "client_cpu": [_cpu_seconds(p) for p in _connect_clients(rig)]}

        crowd, served = _crowd([rig.ssh_argv(keys[k]) for k in keys if k != "peer"], env,
                               under_server)
        time.sleep(1)

        # 4. The server stopped: one console started directly by the client.
        rig.stop_server(signal.SIGTERM)
        direct_paint = _to_form(door_argv, env, rig)[0]

        def direct() -> dict[str, list[float]]:
            clients_now = _connect_clients(rig)
            return {"rss": [_rss_mb(p) for p in clients_now],
                    "uss": [_uss_mb(p) for p in clients_now],
                    "cpu": [_cpu_seconds(p) for p in clients_now]}

        alone, direct_mem = _crowd([door_argv], env, direct)
    finally:
        rig.close()

    local = _local_start(args.quick)

    # --- figures ---------------------------------------------------------------------
    door_med, bare_med = statistics.median(door), statistics.median(bare)
    over_bare_ms = (door_med - bare_med) * 1000
    homes = [c.home for c in crowd if c.home is not None]
    all_home = len(homes) == len(crowd)
    p95 = _p95(homes) if homes else float("inf")
    cpu = served["cpu"]
    cpu_mean = statistics.mean(cpu) if cpu else float("inf")
    cpu_aside = cpu_mean - argon2
    uss_max = max(served["uss"], default=float("inf"))
    direct_rss = max(direct_mem["rss"], default=float("inf"))
    direct_home = alone[0].home is not None
    local_ratio = float(local["figures"]["ratio_to_floor"])
    local_ratios = {k.removesuffix("ratio_to_floor").rstrip("_") or "juki": float(v)
                    for k, v in local["figures"].items() if k.endswith("ratio_to_floor")}
    local_met = bool(local.get("met"))

    print(f"ssh → sign-in painted (door):   median {door_med * 1000:7.1f} ms  runs "
          f"{_ms(door)}")
    print(f"ssh peer@host true (bare):      median {bare_med * 1000:7.1f} ms  runs "
          f"{_ms(bare)}")
    print(f"  the door adds {over_bare_ms:.0f} ms to the bare session "
          f"(target ≤ {TARGET_OVER_BARE_MS:.0f} ms)")
    print(f"{len(crowd)} simultaneous sign-ins: {len(homes)} reached home; spawn → home "
          f"p50 {statistics.median(homes) if homes else float('nan'):.2f} s, p95 {p95:.2f} s, "
          f"max {max(homes, default=float('nan')):.2f} s (target p95 ≤ {TARGET_P95:.0f} s)")
    print(f"CPU per sign-in, console (forked): mean {cpu_mean:.3f} s, of which argon2id "
          f"{argon2:.3f} s ({PROFILE}); argon2 aside {cpu_aside:.3f} s "
          f"(target ≤ {TARGET_CPU} s)")
    print(f"  of which up to the sign-in form painted (one connection at a time): median "
          f"{statistics.median(form_cpu):.3f} s; the console's USS then "
          f"{statistics.median(form_uss):.1f} MB")
    med = {k: statistics.median(v) for k, v in side.items()}
    print(f"CPU of one connection beside the console: ssh client {med['door_client']:.3f} s "
          f"(bare {med['bare_client']:.3f} s), sshd's side {med['door_sshd']:.3f} s with the "
          f"door command, the wrapper and the connect client (bare {med['bare_sshd']:.3f} s); "
          "tick-counted, short processes read low")
    client_cpu = served["client_cpu"]
    print(f"  beside it: the connect client {statistics.mean(client_cpu) if client_cpu else 0:.3f}"
          f" s, the door command {door_cpu:.3f} s a run ({door_wall * 1000:.0f} ms wall; sshd "
          "runs it twice a connection)")
    print(f"USS per console under the server: max {uss_max:.1f} MB, mean "
          f"{statistics.mean(served['uss']) if served['uss'] else float('nan'):.1f} MB "
          f"(target ≤ {TARGET_USS_MB:.0f} MB); RSS max "
          f"{max(served['rss'], default=float('nan')):.1f} MB (shared pages counted)")
    print(f"server stopped, console started directly: sign-in painted in "
          f"{direct_paint * 1000:.0f} ms, home {'reached' if direct_home else 'NOT reached'}, "
          f"RSS {direct_rss:.1f} MB (target ≤ {TARGET_DIRECT_RSS_MB:.0f} MB), USS "
          f"{max(direct_mem['uss'], default=float('nan')):.1f} MB, CPU "
          f"{max(direct_mem['cpu'], default=float('nan')):.2f} s")
    print(f"local start (bench/startup.py): juki {local['figures']['juki_median_ms']} ms, "
          f"bare Textual {local['peer']['bare_textual_label_median_ms']} ms; ratio "
          + ", ".join(f"{name} {r:.2f}" for name, r in local_ratios.items())
          + f" (target ≤ {TARGET_LOCAL_RATIO}; its own verdict: "
          f"{'met' if local_met else 'not met'})")
    # The crowd's floor: the CPU that N sign-ins need at least (the bare session's ssh client
    # and sshd side, one argon2id verification, the console at its own target), spread over
    # every core; with the clients elsewhere (an office's PCs) the ssh client is left out.
    cores = os.cpu_count() or 1
    per_signin = med["bare_sshd"] + argon2 + TARGET_CPU
    floor_here = len(crowd) * (per_signin + med["bare_client"]) / cores
    floor_server = len(crowd) * per_signin / cores
    print(f"  the crowd's floor on {cores} cores: {len(crowd)} × (ssh client "
          f"{med['bare_client']:.3f} + sshd {med['bare_sshd']:.3f} + argon2id {argon2:.3f} + "
          f"console at its target {TARGET_CPU}) s ÷ {cores} = {floor_here:.2f} s "
          f"(the clients elsewhere: {floor_server:.2f} s); p95 target {TARGET_P95:.0f} s")
    if args.verbose:
        for c in crowd:
            print(f"  form {c.painted} s, home {c.home} s {c.error}")
    for c in [*crowd, *alone]:
        if c.home is None:
            print(f"  not home: {c.error}")

    met = (over_bare_ms <= TARGET_OVER_BARE_MS and all_home and p95 <= TARGET_P95
           and cpu_aside <= TARGET_CPU and uss_max <= TARGET_USS_MB and direct_home
           and direct_rss <= TARGET_DIRECT_RSS_MB and local_met
           and max(local_ratios.values()) <= TARGET_LOCAL_RATIO)
    print(json.dumps({
        "bench": "ssh",
        "figures": {
            "door_signin_median_ms": round(door_med * 1000, 1),
            "door_runs_ms": [round(t * 1000, 1) for t in door],
            "door_over_bare_ms": round(over_bare_ms, 1),
            "clients": len(crowd), "reached_home": len(homes),
            "signin_p95_s": round(p95, 3),
            "signin_runs_s": [round(t, 3) for t in sorted(homes)],
            "cpu_per_signin_s": round(cpu_mean, 3),
            "cpu_per_signin_argon2_aside_s": round(cpu_aside, 3),
            "connect_client_cpu_s": round(statistics.mean(client_cpu), 3) if client_cpu else None,
            "door_command_cpu_s": round(door_cpu, 3),
            "door_command_wall_ms": round(door_wall * 1000, 1),
            "door_sshd_side_cpu_s": round(med["door_sshd"], 3),
            "door_ssh_client_cpu_s": round(med["door_client"], 3),
            "cpu_to_signin_form_s": round(statistics.median(form_cpu), 3),
            "uss_per_console_max_mb": round(uss_max, 1),
            "uss_at_signin_form_mb": round(statistics.median(form_uss), 1),
            "direct_signin_painted_ms": round(direct_paint * 1000, 1),
            "direct_rss_mb": round(direct_rss, 1),
            "local_start_ratio": round(local_ratio, 3),
            "local_start_ratios": {k: round(v, 3) for k, v in local_ratios.items()},
            "argon2_profile": PROFILE, "server_socket": str(rig.socket_path),
        },
        "targets": {"door_over_bare_ms_max": TARGET_OVER_BARE_MS, "all_reach_home": True,
                    "signin_p95_s_max": TARGET_P95, "cpu_per_signin_argon2_aside_s_max":
                    TARGET_CPU, "uss_per_console_mb_max": TARGET_USS_MB,
                    "direct_rss_mb_max": TARGET_DIRECT_RSS_MB,
                    "local_start_ratio_max": TARGET_LOCAL_RATIO},
        "peer": {"bare_ssh_session_median_ms": round(bare_med * 1000, 1),
                 "bare_runs_ms": [round(t * 1000, 1) for t in bare],
                 "argon2_verify_cpu_s": round(argon2, 3),
                 "bare_sshd_side_cpu_s": round(med["bare_sshd"], 3),
                 "bare_ssh_client_cpu_s": round(med["bare_client"], 3),
                 "bare_textual_label_median_ms": local["peer"]["bare_textual_label_median_ms"],
                 "crowd_floor_s": round(floor_here, 2),
                 "crowd_floor_clients_elsewhere_s": round(floor_server, 2), "cores": cores,
                 "local_juki_median_ms": local["figures"]["juki_median_ms"]},
        "met": met,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
