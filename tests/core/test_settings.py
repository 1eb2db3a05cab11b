"""Settings: defaults, the TOML file, the environment over the file, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError, documented_fields, load_settings


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    s = load_settings({})
    assert s.password_min_length == 12
    assert s.lockout_threshold == 5
    assert s.lockout_minutes == 15
    assert s.idle_lock_seconds == 300
    assert s.session_max_hours == 10
    assert s.resolved_database_url.startswith("sqlite:///")
    assert s.resolved_database_url.endswith("/var/juki.sqlite3")
    assert {name for name, *_ in documented_fields()} == set(Settings.__dataclass_fields__)
    assert all(doc for *_, doc in documented_fields())


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "juki.toml"
    cfg.write_text(
        '[juki]\nidle_lock_seconds = 60\ndatabase_url = "sqlite:////tmp/x.db"\n', "utf-8"
    )
    s = load_settings({"JUKI_CONFIG": str(cfg), "JUKI_IDLE_LOCK_SECONDS": "30"})
    assert s.idle_lock_seconds == 30.0
    assert s.resolved_database_url == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(
    ("content", "env", "words"),
    [
        ("[juki]\nno_such = 1\n", {}, "no_such"),
        ("[juki\n", {}, "書式"),
        ("", {"JUKI_LOCKOUT_THRESHOLD": "five"}, "lockout_threshold"),
    ],
)
def test_bad_settings_name_the_field(
    tmp_path: Path, content: str, env: dict[str, str], words: str
) -> None:
    cfg = tmp_path / "juki.toml"
    cfg.write_text(content, "utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings({"JUKI_CONFIG": str(cfg), **env})
    assert words in str(info.value)


def test_missing_file_is_an_error() -> None:
    with pytest.raises(SettingsError, match="見つかりません"):
        load_settings({"JUKI_CONFIG": "/nonexistent/juki.toml"})


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    for key, var, _default, _doc in documented_fields():
        assert f"| `{key}` | `{var}` |" in readme, f"README の設定表に {key} がありません"
