"""A real ``juki console-server`` for tests/console/test_console_server.py.

The server runs as the service account would: an unprivileged OS user of its own when the
tests run as root (created here, removed at the end), so that what the kernel allows that
uid — reading another console's /proc/PID/mem, say — is what the test sees. That user
cannot run the developer's interpreter under /root, so it runs the system Python of the
same version with this checkout and the venv's site-packages on PYTHONPATH (both must be
readable by others; the rig says why it cannot run otherwise). Without root, the server
runs as the current user.

The data directory (SQLite) or a PostgreSQL schema of its own, accounts with bound keys
seeded through the services, and a settings file of mode 0600 owned by the service user.
``juki connect`` runs as that user too (the server talks to its own uid only).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from auth.accounts import disable_user
from auth.ssh_keys import add_keys
from core.db import Database
from core.settings import Settings, load_settings
from services.schema import init_schema
from tests.factories import ADMIN, account

ROOT = Path(__file__).resolve().parents[2]
SITE = next(p for p in sys.path if p.endswith("site-packages"))


def readable_by_others(path: Path) -> bool:
    path = path.resolve()
    for part in [*reversed(path.parents), path]:
        if not part.stat().st_mode & 0o005 == 0o005:
            return False
    return True


def unavailable() -> str | None:
    """Why the rig cannot run here (None when it can)."""
    for tool in ("tmux", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() == 0:
        for tool in ("useradd", "setpriv"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed"
        if not system_python().exists():
            return f"no {system_python()} for the service user"
        for path in (ROOT, Path(SITE)):
            if not readable_by_others(path):
                return f"{path} is not readable by other users"
    return None


def system_python() -> Path:
    return Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")


@dataclass
class ServiceUser:
    name: str
    uid: int
    gid: int
    created: bool

    @classmethod
    def make(cls) -> ServiceUser:
        if os.geteuid() != 0:
            import pwd

            return cls(pwd.getpwuid(os.getuid()).pw_name, os.getuid(), os.getgid(), False)
        name = f"jukisrv{uuid.uuid4().hex[:6]}"
        subprocess.run(["useradd", "-M", "-U", "-d", "/nonexistent", "-s", "/usr/sbin/nologin",
                        name], check=True, capture_output=True, timeout=60)
        import pwd

        entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, entry.pw_gid, True)

    def argv(self) -> list[str]:
        """How to run ``python`` as this user."""
        if not self.created:
            return [sys.executable]
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--", str(system_python())]

    def processes(self) -> list[int]:
        """Live processes of this user."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                if (int(fields.get("Uid", "-1").split()[0]) == self.uid
                        and not fields.get("State", "").strip().startswith(("Z", "X"))):
                    found.append(int(entry.name))
        return found

    def remove(self) -> None:
        """The user, after every process it still has (ours: the rig started them)."""
        if self.created:
            deadline = time.monotonic() + 10
            while (left := self.processes()) and time.monotonic() < deadline:
                for pid in left:  # userdel refuses while the user has a process
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
            subprocess.run(["userdel", self.name], capture_output=True, timeout=60)
            subprocess.run(["groupdel", self.name], capture_output=True, timeout=60)


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = 15, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@dataclass
class World:
    """One data set, one service user; servers and clients started on demand."""

    base: Path
    user: ServiceUser
    backend: str
    pg_schema: str = ""
    keys: dict[str, str] = field(default_factory=dict)  # login → fingerprint
    servers: list[ServerProcess] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def settings_file(self) -> Path:
        return self.base / "juki.toml"

    @property
    def socket(self) -> Path:
        return self.base / "run" / "console.sock"

    def settings(self) -> Settings:
        return load_settings({"JUKI_CONFIG": str(self.settings_file)})

    def env(self, socket: Path | None = None, *, ssh: bool = True) -> dict[str, str]:
        """A client's environment (as deploy/juki-console leaves it; ``ssh``: with an
        SSH_CONNECTION) or the server's; ``socket``: another server socket than the
        settings file's."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUKI_", "TMUX", "PYTHON", "TEXTUAL"))}
        env.update(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8",
                   JUKI_CONFIG=str(self.settings_file), PYTHONDONTWRITEBYTECODE="1",
                   PYTHONPATH=f"{ROOT}:{SITE}" if self.user.created else str(ROOT),
                   SSH_CONNECTION="198.51.100.7 50123 10.0.0.5 22")
        if not ssh:
            del env["SSH_CONNECTION"]
        if socket is not None:
            env["JUKI_CONSOLE_SERVER_SOCKET"] = str(socket)
        return env

    def juki(self, *args: str) -> str:
        """The shell command running ``juki ARGS`` as the service user."""
        return shlex.join([*self.user.argv(), "-m", "console.cli", *args])

    def connect_command(self, login: str, then: str = "; echo juki-exited-$?; sleep 60") -> str:
        """The pane's command: ``juki connect`` for ``login``'s key, then ``then``; alone,
        exec'd (the pane's process is the client, as under sshd)."""
        command = self.juki("connect", "--key", self.keys[login])
        return f"{command}{then}" if then else f"exec {command}"

    def start_server(self, socket: Path | None = None) -> ServerProcess:
        log = self.base / f"server-{len(self.servers)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*self.user.argv(), "-m", "console.cli", "console-server"],
                env=self.env(socket, ssh=False), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd="/")
        server = ServerProcess(proc, log)
        self.servers.append(server)
        deadline = time.monotonic() + 120
        while "待ち受けています" not in server.output():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the console server did not start:\n" + server.output())
            time.sleep(0.1)
        return server

    def database(self) -> Database:
        return Database.for_settings(self.settings())

    def close(self) -> None:
        for server in self.servers:
            server.stop(9, 10)
        self.user.remove()
        if self.pg_schema:
            admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {self.pg_schema} CASCADE"))
            admin.dispose()
        shutil.rmtree(self.base, ignore_errors=True)


PG_BASE = os.environ.get(
    "JUKI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def make_world(backend: str, logins: dict[str, bool]) -> World:
    """A world whose accounts ``logins`` (login → disabled) each have one bound key."""
    base = Path(tempfile.mkdtemp(prefix="juki-srv-", dir="/tmp"))
    os.chmod(base, 0o755)
    world = World(base, ServiceUser.make(), backend)
    try:
        _seed(world, logins)
    except BaseException:
        world.close()
        raise
    return world


def _seed(world: World, logins: dict[str, bool]) -> None:
    values = {"data_dir": str(world.data), "argon2_profile": "test",
              "console_server_socket": str(world.socket)}
    if world.backend == "postgresql":
        world.pg_schema = "t_" + uuid.uuid4().hex[:16]
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {world.pg_schema}"))
        admin.dispose()
        sep = "&" if "?" in PG_BASE else "?"
        values["database_url"] = f"{PG_BASE}{sep}options=-csearch_path%3D{world.pg_schema}"
    world.settings_file.write_text(
        "".join(f'{key} = "{value}"\n' for key, value in values.items()))
    os.chmod(world.settings_file, 0o600)
    for folder in (world.data, world.socket.parent, world.base / "keys"):
        folder.mkdir(mode=0o700)
    settings = world.settings()
    db = Database.for_settings(settings)
    try:
        init_schema(db)
        for login, disabled in logins.items():
            account(db, settings, login, ["clerk"], name="職員 {login}", department="")
            key = world.base / "keys" / login
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", login,
                            "-f", str(key)], check=True, timeout=60)
            bound = add_keys(db, ADMIN, login, Path(f"{key}.pub").read_text(), f"{key}.pub")
            world.keys[login] = bound[0].fingerprint
            if disabled:
                disable_user(db, ADMIN, login)
    finally:
        db.dispose()
    for path in (world.settings_file, world.socket.parent, *world.data.rglob("*"), world.data):
        os.chown(path, world.user.uid, world.user.gid)
