# Shared set-up for dev/demo and dev/test: a project virtualenv and the services tests need.
# Sourced, not run. Idempotent: a second run installs nothing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

pick_python() {
    for py in python3.11 python3.12 python3.13 python3; do
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    echo "juki: Python 3.11 以上が見つかりません。" >&2
    return 1
}

# ensure_venv [extra]: create .venv and install the project (with [extra]) when
# pyproject.toml changed since the last install.
ensure_venv() {
    local extra="${1:-}" spec="$ROOT" stamp
    [ -n "$extra" ] && spec="$ROOT[$extra]"
    stamp="$VENV/.juki-installed-${extra:-base}"
    if [ ! -x "$VENV/bin/python" ]; then
        "$(pick_python)" -m venv "$VENV"
    fi
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e "$spec"
        touch "$stamp"
    fi
}

# ensure_apt CMD PACKAGE: install a Debian package when its command is missing (root only).
ensure_apt() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        if [ -z "${_APT_UPDATED:-}" ]; then
            apt-get update -qq >/dev/null && _APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
    command -v "$1" >/dev/null 2>&1 || { echo "juki: $1 ($2) を導入できません。" >&2; return 1; }
}

# ensure_apt_file PATH PACKAGE: install a Debian package when a file it ships is missing.
ensure_apt_file() {
    [ -e "$1" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        if [ -z "${_APT_UPDATED:-}" ]; then
            apt-get update -qq >/dev/null && _APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
    [ -e "$1" ] || { echo "juki: $1 ($2) を導入できません。" >&2; return 1; }
}

# The embedded Japanese font for filed PDF reports (reportlab's CID fonts are not embedded).
IPAEX_FONT=/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf

pg_ready() {
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys
import psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
with psycopg.connect(url, connect_timeout=3) as conn:
    conn.execute("select 1")
PY
}

# ensure_postgres URL: the test server must answer; start the local cluster if it is down.
ensure_postgres() {
    local url="$1" i
    pg_ready "$url" && return 0
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        for v in /etc/postgresql/*; do
            pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
        done
        for i in $(seq 1 30); do pg_ready "$url" && return 0; sleep 1; done
    fi
    echo "juki: PostgreSQL ($url) に接続できません。" >&2
    return 1
}
