"""One parse of each stylesheet source per process (console/stylesheets.py), and the
console server's warm-up that fills it before any fork."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from textual.css.stylesheet import Stylesheet, StylesheetParseError

from console import stylesheets
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CSS = "Label { color: $accent; padding: 0 1; }"


def _rules(variables: dict[str, str], css: str = CSS) -> list[object]:
    sheet = Stylesheet(variables=variables)
    sheet.add_source(css, read_from=("test", "CSS"))
    sheet.parse()
    return list(sheet.rules)


def test_a_source_is_parsed_once_for_every_stylesheet_with_the_same_variables() -> None:
    assert stylesheets.share(), "Textual's Stylesheet._parse_rules changed: see the module"
    first = _rules({"accent": "#ff0000"})
    again = _rules({"accent": "#ff0000"})
    assert [id(r) for r in again] == [id(r) for r in first]  # the same rules, not a parse
    other = _rules({"accent": "#00ff00"})
    assert [id(r) for r in other] != [id(r) for r in first]  # another theme: its own parse


def test_a_bad_source_still_fails_every_time() -> None:
    stylesheets.share()
    for _ in range(2):
        with pytest.raises(StylesheetParseError):
            _rules({}, "Label { colr: red; }")


def test_the_servers_warm_up_parses_the_screens_and_leaves_no_thread_or_connection(
    settings: Settings, db: object, tmp_path: Path,
) -> None:
    """In a process of its own, as the server runs it: the sign-in and home screens' sources
    parsed, one thread left (a fork must not copy a thread's lock), no database file
    held open."""
    script = (
        "import json, os, threading\n"
        "from core.settings import load_settings\n"
        "from console.server import warm\n"
        "count = warm(load_settings(dict(os.environ)))\n"
        "fds = []\n"
        "for n in os.listdir('/proc/self/fd'):\n"
        "    try: fds.append(os.readlink(f'/proc/self/fd/{n}'))\n"
        "    except OSError: pass\n"
        "print(json.dumps({'parsed': count, 'threads': threading.active_count(),\n"
        "                  'sqlite': [f for f in fds if 'sqlite3' in f]}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8",
           "JUKI_DATABASE_URL": settings.resolved_database_url,
           "JUKI_DATA_DIR": str(settings.resolved_data_dir), "JUKI_ARGON2_PROFILE": "test"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["parsed"] >= 10, seen  # the app's, each screen's, each widget type's
    assert seen["threads"] == 1 and seen["sqlite"] == [], seen
