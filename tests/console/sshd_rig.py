"""A real OpenSSH server on loopback serving the console, for tests/console/test_sshd_e2e.py
and bench/ssh.py.

What it builds (root only; everything under one world-readable temporary directory):

- a runtime another OS user can run: a venv of the system Python (the developer's
  interpreter may live under /root, which other users cannot read) that sees this
  checkout's installed packages (added with a ``.pth`` line, or copied when the checkout
  is not readable by others) and a copy of the project's source and deploy/juki-console;
- an OS group and user of their own (removed at the end), with a key-only login;
- sshd on 127.0.0.1 at a free high port, with its own host key and a config made of the
  repository's deploy/sshd_config.d/juki.conf (group and wrapper path substituted);
- a SQLite data directory owned by that user, and the settings file the wrapper names
  (0600, that user's: docs/ssh.md "Private data").
"""

from __future__ import annotations

import os
import shutil
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
PACKAGES = ("core", "logs", "auth", "services", "screens", "console")


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
    return None


def _system_python() -> Path | None:
    py = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    return py if py.exists() else None


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


@dataclass
class Rig:
    base: Path
    user: str
    group: str
    port: int = 0
    data: Path = field(init=False)
    settings_file: Path = field(init=False)
    sshd: subprocess.Popen[str] | None = None

    def __post_init__(self) -> None:
        self.data = self.base / "data"
        self.settings_file = self.base / "juki.toml"

    # --- runtime --------------------------------------------------------------------

    def build_runtime(self) -> None:
        rt = self.base / "rt"
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
        launcher = rt / "juki"
        launcher.write_text(f"#!{rt / 'venv' / 'bin' / 'python'}\n"
                            "import sys\nfrom console.cli import main\nsys.exit(main())\n")
        launcher.chmod(0o755)
        shutil.copy2(ROOT / "deploy" / "juki-console", rt / "juki-console")
        (rt / "console.conf").write_text(
            f"# test\nJUKI_BIN={launcher}\nJUKI_CONFIG={self.settings_file}\nJUKI_LANG=C.UTF-8\n")
        for dirpath, dirnames, _files in os.walk(rt):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), 0o755)
        os.chmod(rt, 0o755)

    @property
    def launcher(self) -> Path:
        return self.base / "rt" / "juki"

    # --- OS user, data, settings -----------------------------------------------------

    def create_user(self) -> None:
        _run("groupadd", self.group)
        _run("useradd", "-M", "-d", str(self.base / "home"), "-s", "/bin/bash",
             "-g", self.group, self.user)
        _run("usermod", "-p", "*", self.user)  # no password, not locked: keys only
        (self.base / "home").mkdir(mode=0o755)
        shutil.chown(self.base / "home", self.user, self.group)

    def write_settings(self, **extra: object) -> None:
        self.data.mkdir(exist_ok=True)
        values: dict[str, object] = {"data_dir": str(self.data), "argon2_profile": "test"}
        values.update(extra)
        lines = [f"{key} = {value!r}".replace("'", '"') for key, value in values.items()]
        self.settings_file.write_text("\n".join(lines) + "\n")
        os.chmod(self.settings_file, 0o600)  # the account's alone, or no console starts
        shutil.chown(self.settings_file, self.user, self.group)

    def give_data_to_user(self) -> None:
        for dirpath, _dirs, files in os.walk(self.data):
            shutil.chown(dirpath, self.user, self.group)
            for name in files:
                shutil.chown(os.path.join(dirpath, name), self.user, self.group)

    def settings(self):  # type: ignore[no-untyped-def]
        from core.settings import load_settings

        return load_settings({"JUKI_CONFIG": str(self.settings_file)})

    # --- keys and sshd ---------------------------------------------------------------

    def keygen(self, name: str) -> Path:
        key = self.base / "keys" / name
        key.parent.mkdir(exist_ok=True, mode=0o755)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key))
        os.chmod(f"{key}.pub", 0o644)
        return key

    def authorize(self, *keys: Path) -> None:
        ak = self.base / "authorized_keys"
        ak.mkdir(exist_ok=True, mode=0o755)
        text = "".join(Path(f"{k}.pub").read_text() for k in keys)
        (ak / self.user).write_text(text)
        os.chmod(ak / self.user, 0o644)

    def sshd_config(self) -> str:
        snippet = (ROOT / "deploy" / "sshd_config.d" / "juki.conf").read_text()
        wrapper = f"{self.base / 'rt' / 'juki-console'} {self.base / 'rt' / 'console.conf'}"
        snippet = snippet.replace("Match Group juki", f"Match Group {self.group}")
        snippet = snippet.replace("ForceCommand /opt/juki/deploy/juki-console",
                                  f"ForceCommand {wrapper}")
        return "\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1",
            f"HostKey {self.base / 'host_ed25519'}", f"PidFile {self.base / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.base / 'authorized_keys'}/%u",
            "StrictModes no", "UsePAM no", "PrintMotd no", "PrintLastLog no",
            f"AllowGroups {self.group}", "LogLevel VERBOSE", "MaxStartups 100:30:200",
            "", snippet,
        ])

    def start_sshd(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.base / "host_ed25519"))
        self.port = _free_port()
        config = self.base / "sshd_config"
        config.write_text(self.sshd_config())
        _run(str(SSHD), "-t", "-f", str(config))  # the snippet is valid sshd syntax
        log = open(self.base / "sshd.log", "w")  # kept open: sshd writes its log there
        self.sshd = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)],
                                     stdout=log, stderr=subprocess.STDOUT, text=True)
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

    def ssh_command(self, key: Path) -> str:
        return (f"ssh -tt -F /dev/null -p {self.port} -i {key} -o IdentitiesOnly=yes "
                "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                f"-o LogLevel=ERROR {self.user}@127.0.0.1")

    def user_processes(self) -> list[int]:
        """Live processes of the OS user (the consoles; sshd's session children)."""
        uid = int(_run("id", "-u", self.user).stdout)
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if fields.get("State", "").strip().startswith(("Z", "X")):
                continue
            if int(fields.get("Uid", "-1").split()[0]) == uid:
                found.append(int(entry.name))
        return found

    def close(self) -> None:
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.terminate()
            try:
                self.sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sshd.kill()
                self.sshd.wait()
        deadline = time.monotonic() + 10
        while self.user_exists() and self.user_processes() and time.monotonic() < deadline:
            for pid in self.user_processes():
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        subprocess.run(["userdel", self.user], capture_output=True, timeout=60)
        subprocess.run(["groupdel", self.group], capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)

    def user_exists(self) -> bool:
        return subprocess.run(["id", "-u", self.user], capture_output=True).returncode == 0


def make_rig() -> Rig:
    """Runtime, OS user and directories (sshd not yet started)."""
    base = Path(tempfile.mkdtemp(prefix="juki-sshd-", dir="/tmp"))
    os.chmod(base, 0o755)
    tag = uuid.uuid4().hex[:6]
    rig = Rig(base=base, user=f"jukie2e{tag}", group=f"jukig{tag}")
    try:
        rig.build_runtime()
        rig.create_user()
    except BaseException:
        rig.close()
        raise
    return rig
