"""A real OpenSSH server on loopback in front of the console, laid out as deploy/ says:
for tests/console/test_sshd_e2e.py and bench/ssh.py.

What it builds (root only):

- a root-owned base directory of mode 0755 under /srv (``/srv/juki-e2e-XXXX``): sshd
  runs the AuthorizedKeysCommand only when the program and every directory above it are
  root-owned and writable by nobody else, which rules out /tmp;
- the runtime there, as an install under /opt/juki would be: a venv of the system Python
  (the developer's interpreter may live under /root, which other users cannot read) that
  sees this checkout's installed packages (a ``.pth`` line, or a copy when the checkout is
  not readable by others), a compiled copy of the project's source, the launcher
  ``rt/juki`` (the AuthorizedKeysCommand, the console server and the console) and a copy
  of deploy/juki-console with its conf;
- ONE service OS user and its group (the ``juki`` of deploy/; removed at the end): no
  password, no key file — only the keys ``juki ssh authorized-keys`` prints open it;
- optionally a peer OS user with a plain ``authorized_keys`` file, for the bare
  ``ssh host true`` session bench/ssh.py compares against;
- the service user's private files (docs/ssh.md "Private data"): the data directory
  (0700), the settings file (0600) naming the rig's console server socket and the rig's
  wrapper as ``ssh_connect_command``;
- sshd on 127.0.0.1 at a free port with its own host key, configured by the repository's
  deploy/sshd_config.d/juki.conf with the user and paths substituted;
- ``juki console-server`` run as the service user (``start_server``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SSHD = Path("/usr/sbin/sshd")
SNIPPET = ROOT / "deploy" / "sshd_config.d" / "juki.conf"
PACKAGES = ("core", "logs", "auth", "services", "screens", "console")
BASE_PARENT = Path("/srv")


def unavailable() -> str | None:
    """Why the rig cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (creates an OS user and runs sshd); CI runs as root"
    if not SSHD.exists():
        return "OpenSSH server (/usr/sbin/sshd, Debian openssh-server) is not installed"
    for tool in ("ssh", "ssh-keygen", "tmux", "useradd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if _system_python() is None:
        return f"no system python{sys.version_info.major}.{sys.version_info.minor} in /usr/bin"
    if BASE_PARENT.exists() and not _safe_for_sshd(BASE_PARENT):
        return f"{BASE_PARENT} is not a root-owned directory writable only by root"
    return None


def _system_python() -> Path | None:
    py = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    return py if py.exists() else None


def _safe_for_sshd(path: Path) -> bool:
    """sshd's check of an AuthorizedKeysCommand: root-owned, not group/other writable, up
    to /."""
    for part in [path, *path.parents]:
        st = part.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            return False
    return True


def _world_readable(path: Path) -> bool:
    """Can any user read ``path`` (every parent searchable by others, the path readable)?"""
    path = path.resolve()
    for parent in [*reversed(path.parents), path]:
        mode = parent.stat().st_mode
        if parent.is_dir() and not mode & 0o001:
            return False
    return bool(path.stat().st_mode & 0o004)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*argv: str, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120, **kw)


def _status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, v in (ln.split(":", 1) for ln in text.splitlines() if ":" in ln)}


def cmdline(pid: int) -> str:
    """The process's command line, words joined by spaces ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@dataclass
class Rig:
    base: Path
    user: str
    group: str
    peer: str | None = None
    port: int = 0
    data: Path = field(init=False)
    settings_file: Path = field(init=False)
    socket_path: Path = field(init=False)
    sshd: subprocess.Popen[str] | None = None
    server: subprocess.Popen[str] | None = None
    owns_run_dir: bool = False
    """The socket's directory is the deployed one (/run/juki), made for this rig."""

    def __post_init__(self) -> None:
        self.data = self.base / "data"
        self.settings_file = self.base / "etc" / "juki.toml"
        self.socket_path = self.base / "run" / "console.sock"

    def use_deployed_socket(self) -> bool:
        """Put the server's socket where an installation has it (``/run/juki``, the
        default: the settings file does not name it, so the door's programs do not parse
        the file, as deployed) when that place is free; True when it is."""
        from core.settings_file import DEFAULT_SERVER_SOCKET

        default = Path(DEFAULT_SERVER_SOCKET)
        if os.geteuid() != 0 or os.path.lexists(default.parent):
            return False
        self.socket_path, self.owns_run_dir = default, True
        return True

    # --- runtime --------------------------------------------------------------------

    @property
    def rt(self) -> Path:
        return self.base / "rt"

    @property
    def launcher(self) -> Path:
        """The ``juki`` program (what /opt/juki/.venv/bin/juki is on a host)."""
        return self.rt / "juki"

    @property
    def wrapper(self) -> Path:
        return self.rt / "juki-console"

    @property
    def wrapper_conf(self) -> Path:
        return self.rt / "console.conf"

    def build_runtime(self) -> None:
        rt = self.rt
        py = _system_python()
        assert py is not None
        _run(str(py), "-m", "venv", "--without-pip", str(rt / "venv"))
        site = Path(next(p for p in sys.path if p.endswith("site-packages")))
        if not _world_readable(site):
            shutil.copytree(site, rt / "site-packages", symlinks=True)
            site = rt / "site-packages"
        src = rt / "src"
        for pkg in PACKAGES:
            shutil.copytree(ROOT / pkg, src / pkg,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # Compiled now, as an install would be: the console runs with
        # PYTHONDONTWRITEBYTECODE (the wrapper) and could not write here anyway.
        _run(str(py), "-m", "compileall", "-q", str(src))
        venv_site = next((rt / "venv" / "lib").glob("python*/site-packages"))
        # The source copy first, then the installed dependencies (not the editable finder).
        (venv_site / "juki-e2e.pth").write_text(f"{src}\n{site}\n")
        self.launcher.write_text(f"#!{rt / 'venv' / 'bin' / 'python'}\n"
                                 "import sys\nfrom console.cli import main\nsys.exit(main())\n")
        self.launcher.chmod(0o755)
        shutil.copy2(ROOT / "deploy" / "juki-console", self.wrapper)
        self.wrapper.chmod(0o755)
        self.wrapper_conf.write_text(
            f"# test\nJUKI_BIN={self.launcher}\nJUKI_CONFIG={self.settings_file}\n"
            "JUKI_LANG=C.UTF-8\n")
        for dirpath, dirnames, _files in os.walk(rt):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), 0o755)
        os.chmod(rt, 0o755)

    # --- OS users, data, settings ----------------------------------------------------

    def create_users(self) -> None:
        _run("groupadd", self.group)
        for user in (self.user, self.peer):
            if user is None:
                continue
            home = self.base / f"home-{user}"
            _run("useradd", "-M", "-d", str(home), "-s", "/bin/bash", "-g", self.group, user)
            _run("usermod", "-p", "*", user)  # no password, not locked: keys only
            home.mkdir(mode=0o700)
            shutil.chown(home, user, self.group)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    @property
    def gid(self) -> int:
        return pwd.getpwnam(self.user).pw_gid

    def write_settings(self, **extra: object) -> None:
        """The settings file (0600, the service user's) and its data and run directories."""
        for path in (self.data, self.socket_path.parent, self.settings_file.parent):
            path.mkdir(mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)
            shutil.chown(path, self.user, self.group)
        values: dict[str, object] = {
            "data_dir": str(self.data), "argon2_profile": "test",
            "ssh_connect_command": f"{self.wrapper} --conf {self.wrapper_conf}",
        }
        if not self.owns_run_dir:  # else the default, which a deployed file leaves out
            values["console_server_socket"] = str(self.socket_path)
        values.update(extra)
        lines = [f"{key} = {value!r}".replace("'", '"') for key, value in values.items()]
        self.settings_file.write_text("\n".join(lines) + "\n")
        os.chmod(self.settings_file, 0o600)  # the account's alone, or no console starts
        shutil.chown(self.settings_file, self.user, self.group)

    def give_data_to_user(self) -> None:
        """What the test process (root) wrote into the data directory becomes the service
        user's (the modes stay what juki made them)."""
        for dirpath, _dirs, files in os.walk(self.data):
            shutil.chown(dirpath, self.user, self.group)
            for name in files:
                shutil.chown(os.path.join(dirpath, name), self.user, self.group)

    def settings(self):  # type: ignore[no-untyped-def]
        from core.settings import load_settings

        return load_settings({"JUKI_CONFIG": str(self.settings_file)})

    def env(self) -> dict[str, str]:
        """The service user's environment for juki commands (as the systemd units give)."""
        return {"HOME": str(self.base / f"home-{self.user}"), "USER": self.user,
                "LOGNAME": self.user, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                "JUKI_CONFIG": str(self.settings_file), "PYTHONDONTWRITEBYTECODE": "1"}

    def juki(self, *args: str, stdin: str | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``juki ARGS`` run as the service user (the operator's ``runuser -u juki``)."""
        return subprocess.run([str(self.launcher), *args], input=stdin, capture_output=True,
                              text=True, timeout=timeout, env=self.env(), cwd="/",
                              user=self.uid, group=self.gid, extra_groups=[])

    # --- the console server ----------------------------------------------------------

    def start_server(self, timeout: float = 60) -> None:
        """``juki console-server`` as the service user; returns once its socket answers."""
        assert self.server is None or self.server.poll() is not None
        log = open(self.base / "server.log", "a")  # the server writes its log there
        self.server = subprocess.Popen(
            [str(self.launcher), "console-server"], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=self.env(), cwd="/", user=self.uid,
            group=self.gid, extra_groups=[], start_new_session=True, text=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.server.poll() is not None:
                raise RuntimeError("the console server stopped:\n" + self.server_log())
            if self.socket_path.exists():
                with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
                    try:
                        probe.connect(str(self.socket_path))
                        return
                    except OSError:
                        pass
            if time.monotonic() > deadline:
                raise RuntimeError("the console server did not listen:\n" + self.server_log())
            time.sleep(0.05)

    def stop_server(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        """Send ``sig`` to the server and wait for it; its exit status."""
        if self.server is None or self.server.poll() is not None:
            return None if self.server is None else self.server.returncode
        self.server.send_signal(sig)
        try:
            return self.server.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.server.kill()
            return self.server.wait()

    def server_log(self) -> str:
        try:
            return (self.base / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def server_children(self) -> list[int]:
        """The consoles the server forked that are still running."""
        if self.server is None:
            return []
        children = []
        for pid in self.user_processes():
            try:
                if _status(pid).get("PPid") == str(self.server.pid):
                    children.append(pid)
            except OSError:
                pass
        return children

    # --- keys and sshd ---------------------------------------------------------------

    def keygen(self, name: str) -> Path:
        key = self.base / "keys" / name
        key.parent.mkdir(exist_ok=True, mode=0o700)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key))
        return key

    def authorize_peer(self, key: Path) -> None:
        """The peer user's plain authorized_keys file (the bare-session baseline)."""
        assert self.peer is not None
        ak = self.base / "authorized_keys"
        ak.mkdir(exist_ok=True, mode=0o755)
        (ak / self.peer).write_text(Path(f"{key}.pub").read_text())
        os.chmod(ak / self.peer, 0o644)

    def sshd_config(self) -> str:
        snippet = SNIPPET.read_text()
        for old, new in (
            ("Match User juki", f"Match User {self.user}"),
            ("AuthorizedKeysCommandUser juki", f"AuthorizedKeysCommandUser {self.user}"),
            ("/opt/juki/.venv/bin/juki ", f"{self.launcher} "),
            ("/etc/juki/juki.toml", str(self.settings_file)),
        ):
            assert old in snippet, f"deploy's sshd snippet no longer says {old!r}"
            snippet = snippet.replace(old, new)
        users = " ".join(u for u in (self.user, self.peer) if u)
        lines = [
            f"Port {self.port}", "ListenAddress 127.0.0.1",
            f"HostKey {self.base / 'host_ed25519'}", f"PidFile {self.base / 'sshd.pid'}",
            # The peer's keys (outside the Match: the service user has none).
            f"AuthorizedKeysFile {self.base / 'authorized_keys'}/%u",
            "StrictModes no", "UsePAM no", "PrintMotd no", "PrintLastLog no",
            f"AllowUsers {users}", "LogLevel VERBOSE", "MaxStartups 100:30:200",
        ]
        if _sshd_knows("PerSourcePenalties"):  # OpenSSH ≥ 9.8 would slow the refused keys
            lines.append("PerSourcePenalties no")
        return "\n".join([*lines, "", snippet])

    def start_sshd(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.base / "host_ed25519"))
        self.port = _free_port()
        config = self.base / "sshd_config"
        config.write_text(self.sshd_config())
        _run(str(SSHD), "-t", "-f", str(config))  # the snippet is valid sshd syntax
        log = open(self.base / "sshd.log", "w")  # sshd writes its log there
        self.sshd = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)],
                                     stdout=log, stderr=subprocess.STDOUT, text=True)
        log.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.sshd.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("sshd did not start:\n" + self.sshd_log()) from None
                time.sleep(0.1)

    def sshd_log(self) -> str:
        try:
            return (self.base / "sshd.log").read_text(errors="replace")
        except OSError:
            return ""

    def ssh_argv(self, key: Path, user: str | None = None, tty: bool = True) -> list[str]:
        return ["ssh", "-tt" if tty else "-T", "-F", "/dev/null", "-p", str(self.port),
                "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", f"{user or self.user}@127.0.0.1"]

    def ssh_command(self, key: Path, user: str | None = None) -> str:
        return " ".join(self.ssh_argv(key, user))

    # --- processes -------------------------------------------------------------------

    def user_processes(self) -> list[int]:
        """Live processes of the service user (the server, consoles, door commands)."""
        return _processes_of(self.uid)

    def session_processes(self) -> list[int]:
        """The service user's processes but the console server: what a connection leaves."""
        server = self.server.pid if self.server is not None else -1
        return [pid for pid in self.user_processes() if pid != server]

    def close(self) -> None:
        for proc in (self.sshd, self.server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for user in (self.user, self.peer):
            if user is None or not _user_exists(user):
                continue
            uid = pwd.getpwnam(user).pw_uid
            deadline = time.monotonic() + 10
            while _processes_of(uid) and time.monotonic() < deadline:
                for pid in _processes_of(uid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.2)
            subprocess.run(["userdel", user], capture_output=True, timeout=60)
        subprocess.run(["groupdel", self.group], capture_output=True, timeout=60)
        if self.owns_run_dir:
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _status(int(entry.name))
        except OSError:
            continue
        if fields.get("State", "").startswith(("Z", "X")):
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            found.append(int(entry.name))
    return found


_KNOWN: dict[str, bool] = {}


def _sshd_knows(option: str) -> bool:
    """Does this sshd accept ``option`` (a keyword newer OpenSSH versions added)?"""
    if option not in _KNOWN:
        with tempfile.TemporaryDirectory() as tmp:
            key = Path(tmp) / "k"
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
            conf = Path(tmp) / "c"
            conf.write_text(f"HostKey {key}\n{option} no\n")
            done = subprocess.run([str(SSHD), "-t", "-f", str(conf)], capture_output=True,
                                  timeout=30)
            _KNOWN[option] = done.returncode == 0
    return _KNOWN[option]


def make_rig(peer: bool = False, deployed_socket: bool = False) -> Rig:
    """Runtime and OS users (settings, sshd and the server not yet started);
    ``deployed_socket``: the server's socket at /run/juki when free (``use_deployed_socket``)."""
    BASE_PARENT.mkdir(mode=0o755, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="juki-e2e-", dir=BASE_PARENT))
    os.chmod(base, 0o755)
    tag = uuid.uuid4().hex[:6]
    rig = Rig(base=base, user=f"jukie2e{tag}", group=f"jukig{tag}",
              peer=f"jukipeer{tag}" if peer else None)
    if deployed_socket:
        rig.use_deployed_socket()
    try:
        rig.build_runtime()
        rig.create_users()
    except BaseException:
        rig.close()
        raise
    return rig
