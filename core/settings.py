"""Settings from a TOML file (``JUKI_CONFIG``) overridden by ``JUKI_*`` environment variables.

One table of fields, each with its default and a one-line meaning, so the README's
settings table and the code cannot drift apart (``juki settings`` prints it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.settings_file import DEFAULT_SERVER_SOCKET, SettingsError, read_table


def _default_data_dir() -> str:
    return os.path.join(os.getcwd(), "var")


def _doc(text: str, **kw: Any) -> Any:
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Settings:
    data_dir: str = _doc("データ置き場 (demo DB, audit JSONL). Default: ./var", default="")
    database_url: str = _doc(
        "SQLAlchemy URL. Default: sqlite:///<data_dir>/juki.sqlite3; "
        "PostgreSQL: postgresql+psycopg://user@host/db",
        default="",
    )
    audit_jsonl: str = _doc(
        "structlog JSON-lines copy of each audit event, written before the act returns (the "
        "witness verify reads after the newest anchor); '-' turns it off and each commit is "
        "anchored instead. Default: <data_dir>/audit.jsonl",
        default="",
    )
    audit_anchor: str = _doc(
        "anchor file: the chain head (seq, hash) appended as JSON lines, so a cut tail is "
        "found; '-' turns it off. Default: <data_dir>/audit-anchor.jsonl",
        default="",
    )
    audit_signing_key_file: str = _doc(
        "the Ed25519 key that signs every anchor (base64; mode 0600; made by `juki db init`, "
        "its public half beside it as <file>.pub). Never in the database nor its backups; "
        "back it up apart. Default: <data_dir>/audit-signing.key",
        default="",
    )
    audit_anchor_every_events: int = _doc(
        "a process writes an anchor after this many of its events at most (after every "
        "commit when audit_jsonl is '-')", default=1000,
    )
    audit_anchor_every_seconds: float = _doc(
        "a process writes an anchor at its next event once this long has passed", default=60.0,
    )
    audit_forward_url: str = _doc(
        "collector that `juki audit forward` POSTs events to (<url>events); empty: off",
        default="",
    )
    audit_forward_spool: str = _doc(
        "where `juki audit forward` keeps batches not yet acknowledged and its state. "
        "Default: <data_dir>/audit-spool",
        default="",
    )
    audit_forward_batch: int = _doc("events in one forwarded batch (spool file)", default=500)
    audit_forward_backoff_max_seconds: float = _doc(
        "longest wait between retries while the collector is down (backoff doubles up to it)",
        default=30.0,
    )
    audit_forward_timeout_seconds: float = _doc(
        "how long one request to the collector may take", default=10.0,
    )
    sqlite_busy_timeout_ms: int = _doc("SQLite busy timeout in ms", default=30000)
    password_min_length: int = _doc("minimum password length", default=12)
    password_max_length: int = _doc("maximum password length accepted", default=128)
    lockout_threshold: int = _doc("failed sign-ins before the account locks", default=5)
    lockout_minutes: float = _doc("how long a locked account stays locked", default=15.0)
    idle_lock_seconds: float = _doc("idle time before the screen locks", default=300.0)
    session_max_hours: float = _doc("absolute session limit", default=10.0)
    ssh_key_binding: str = _doc(
        "SSH key to account binding at sign-in: required (a key bound to the login must "
        "have been used), optional (a bound key opens only its account), off",
        default="optional",
    )
    console_server_socket: str = _doc(
        "the pre-started console server's Unix socket (juki console-server); the SSH "
        "door's programs ask it first and start the console directly when it is down",
        default=DEFAULT_SERVER_SOCKET,
    )
    ssh_connect_command: str = _doc(
        "the forced command written into each key line `juki ssh authorized-keys` "
        "prints (the key's fingerprint is appended as --key SHA256:…)",
        default="/opt/juki/deploy/juki-console",
    )
    lookup_purposes: tuple[str, ...] = _doc(
        "事務 (purposes) a lookup may declare; TOML list or comma-separated variable",
        default=(
            "住民票の写し等の交付",
            "転入・転居・転出届の審査",
            "世帯変更届の審査",
            "個人番号カード・通知カード事務",
            "個人番号の紐付け確認",
            "印鑑登録証明事務",
            "国民健康保険の資格事務",
            "児童手当・子育て支援事務",
            "選挙人名簿の登録事務",
            "職権による記載・修正の調査",
        ),
    )
    lookup_max_results: int = _doc("most rows a lookup returns (the cap is said on screen)",
                                   default=50)
    lookup_max_share: float = _doc(
        "no browsing: the most of the register (a share, by rough per-item shares) a "
        "query of two partial items may leave; codes and whole names pass alone",
        default=0.0025,
    )
    lookup_whole_name_family_min: int = _doc(
        "a whole name 「氏 名」 alone: fewest 氏 characters as written", default=2)
    lookup_whole_name_given_min: int = _doc(
        "a whole name alone: fewest 名 characters as written", default=1)
    lookup_whole_name_family_min_kana: int = _doc(
        "a whole name alone: fewest 氏 characters in kana", default=3)
    lookup_whole_name_given_min_kana: int = _doc(
        "a whole name alone: fewest 名 characters in kana", default=2)
    lookup_address_min_chars: int = _doc(
        "an address part counts toward narrowing from this many characters", default=2)
    reveal_seconds: float = _doc("how long a revealed My Number stays visible", default=30.0)
    linkage_approvals: int = _doc(
        "reviewers (besides the proposer) who must approve a My Number link; at least 1",
        default=1,
    )
    role_policy: str = _doc(
        "役割ポリシー TOML (所属・職 → roles); empty: the built-in one "
        "(services/personnel/default_policy.toml)",
        default="",
    )
    access_confirm_days: float = _doc(
        "days after an applied rights change before its missing re-confirmation is overdue",
        default=7.0,
    )
    inventory_dormant_days: int = _doc(
        "棚卸し: an account with no sign-in for this many days (since it was made, if never) "
        "is flagged as dormant",
        default=90,
    )
    inventory_training_months: int = _doc(
        "棚卸し: staff whose last security training is older than this many months (or "
        "missing) are flagged",
        default=12,
    )
    inventory_revoke_undecided: bool = _doc(
        "棚卸し: closing revokes the roles of lines still undecided (otherwise only reported)",
        default=False,
    )
    inventory_suspend_untrained: bool = _doc(
        "棚卸し: closing suspends (revokes) the roles of staff flagged for overdue training",
        default=False,
    )
    alert_opens_per_hour: int = _doc(
        "alert: distinct residents one user opens within an hour", default=50)
    alert_work_hours: str = _doc(
        "alert: working hours (JST) as HH:MM-HH:MM; activity outside them is flagged",
        default="08:00-19:00",
    )
    alert_work_days: tuple[str, ...] = _doc(
        "alert: working weekdays (mon…sun); national holidays (jpholiday) are off too",
        default=("mon", "tue", "wed", "thu", "fri"),
    )
    alert_closed_days: tuple[str, ...] = _doc(
        "alert: further office closures as MM-DD (年末年始)",
        default=("12-29", "12-30", "12-31", "01-02", "01-03"),
    )
    alert_failed_signins: int = _doc(
        "alert: failed sign-ins of one login, then a success, within the window", default=3)
    alert_failed_window_minutes: float = _doc(
        "alert: the window for failed sign-ins before a success", default=30.0)
    alert_users_per_resident_day: int = _doc(
        "alert: distinct users opening the same resident on one day", default=5)
    alert_scan_seconds: float = _doc(
        "how often `juki audit watch` looks for new events", default=1.0)
    capture_dir: str = _doc(
        "where screen captures (画面の保存) are written, mode 0600. Default: <data_dir>/captures",
        default="",
    )
    identifier_key_file: str = _doc(
        "the key that seals My Numbers in the database (64 random bytes, base64; mode "
        "0600; made by `juki db init`). Back it up apart from the database. "
        "Default: <data_dir>/identifier.key",
        default="",
    )
    backup_recipients: tuple[str, ...] = _doc(
        "age public keys (age1…) that `juki db backup` encrypts for; TOML list or "
        "comma-separated. Keep the matching identities off this host: it cannot read its "
        "own backups", default=(),
    )
    backup_dir: str = _doc(
        "where `juki db backup` writes when no --output is given, and where `juki db drill` "
        "takes the newest backup from (folder made 0700). Default: <data_dir>/backups",
        default="",
    )
    step_up_minutes: float = _doc(
        "sensitive acts (reveal, approve, grant, revoke) ask for the password again when "
        "the last authentication is older than this",
        default=15.0,
    )
    report_font: str = _doc(
        "TrueType font embedded in PDF reports (Japanese glyphs needed); "
        "Default: IPAex Gothic (Debian fonts-ipaexfont-gothic)",
        default="/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    )
    jukinet_url: str = _doc(
        "住基ネット (市町村CS) 照会の接続先; the query is POSTed to <url>query. "
        "`juki jukinet-sim` listens on the default",
        default="http://127.0.0.1:8765/",
    )
    jukinet_timeout_seconds: float = _doc(
        "how long a 住基ネット query waits for an answer before it gives up", default=5.0,
    )
    inspection_items: str = _doc(
        "自己点検の点検項目 TOML ([[item]] code, area, question); empty: the built-in one "
        "(services/assessment/inspection_items.toml, from the assessment's section IV)",
        default="",
    )
    inspection_due: str = _doc(
        "自己点検: the sign-off deadline as MM-DD within the fiscal year (April–March)",
        default="03-31",
    )
    transfer_config: str = _doc(
        "転送先と転送してよい項目 TOML ([destination.<DEST>] name, url, items = {項目 = 根拠}); "
        "empty: the built-in one (services/transfer/destinations.toml)",
        default="",
    )
    transfer_batch_size: int = _doc("records in one transfer batch (`juki transfer send`)",
                                    default=100)
    transfer_timeout_seconds: float = _doc(
        "how long `juki transfer send` waits for a batch to be acknowledged", default=10.0,
    )
    transfer_attempts: int = _doc(
        "tries per batch before `juki transfer send` stops (exit 1; the next run resumes)",
        default=3,
    )
    argon2_profile: str = _doc(
        "argon2id parameters: rfc9106_low_memory (default) or test (cheap, tests only)",
        default="rfc9106_low_memory",
    )
    start_trace: str = _doc(
        "diagnostic: a JSON-lines file the console appends to when the sign-in form is first "
        "painted and when the database layer has loaded behind it (the time, and which "
        "database modules were loaded then); empty: off",
        default="",
    )

    @property
    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir or _default_data_dir())

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'juki.sqlite3'}"

    @property
    def resolved_audit_jsonl(self) -> Path | None:
        if self.audit_jsonl == "-":
            return None
        if self.audit_jsonl:
            return Path(self.audit_jsonl)
        return self.resolved_data_dir / "audit.jsonl"

    @property
    def resolved_audit_anchor(self) -> Path | None:
        if self.audit_anchor == "-":
            return None
        if self.audit_anchor:
            return Path(self.audit_anchor)
        return self.resolved_data_dir / "audit-anchor.jsonl"

    @property
    def resolved_audit_signing_key_file(self) -> Path:
        if self.audit_signing_key_file:
            return Path(self.audit_signing_key_file)
        return self.resolved_data_dir / "audit-signing.key"

    @property
    def resolved_identifier_key_file(self) -> Path:
        if self.identifier_key_file:
            return Path(self.identifier_key_file)
        return self.resolved_data_dir / "identifier.key"

    @property
    def resolved_backup_dir(self) -> Path:
        if self.backup_dir:
            return Path(self.backup_dir)
        return self.resolved_data_dir / "backups"

    @property
    def resolved_audit_forward_spool(self) -> Path:
        if self.audit_forward_spool:
            return Path(self.audit_forward_spool)
        return self.resolved_data_dir / "audit-spool"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def documented_fields() -> list[tuple[str, str, Any, str]]:
    """(TOML key, environment variable, default, meaning) for every setting."""
    return [
        (f.name, f"JUKI_{f.name.upper()}", f.default, f.metadata.get("doc", ""))
        for f in fields(Settings)
    ]


def _coerce(name: str, raw: Any, kind: type) -> Any:
    try:
        if kind is tuple:
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(str(i).strip() for i in items if str(i).strip())
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"設定 {name} の値 {raw!r} を解釈できません。") from exc


RETIRED = ("group_shared_files",)
"""Settings that are gone. ``group_shared_files`` made the data group-shared for per-staff
OS accounts; with one service account the private files are its alone
(``core.private_files``). Set true it is refused, naming where it was set, so an old
set-up is migrated on purpose instead of starting half-shared; false is ignored."""

_RETIRED_SAID = ("設定 {key} ({where}) は廃止されました。データベース・個人番号の暗号鍵・"
                 "設定ファイルはサービスアカウントだけが読み書きします。この設定を外し、"
                 "docs/ssh.md \"Private data\" の移行手順に従ってください。")


def _refuse_retired(key: str, raw: Any, where: str) -> None:
    if _coerce(key, raw, bool):
        raise SettingsError(_RETIRED_SAID.format(key=key, where=where))


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read ``JUKI_CONFIG`` (if set) then ``JUKI_*`` variables; unknown keys are errors,
    a retired one set true too (``RETIRED``)."""
    env = dict(os.environ if env is None else env)
    types = {f.name: type(f.default) for f in fields(Settings)}
    values: dict[str, Any] = {}
    path = env.get("JUKI_CONFIG")
    if path:
        for key, raw in read_table(path).items():
            if key in RETIRED:
                _refuse_retired(key, raw, f"設定ファイル {path}")
                continue
            if key not in types:
                raise SettingsError(f"設定ファイル {path}: 不明な項目 {key} があります。")
            values[key] = _coerce(key, raw, types[key])
    for key in RETIRED:
        var = f"JUKI_{key.upper()}"
        if env.get(var):
            _refuse_retired(key, env[var], f"環境変数 {var}")
    for key, kind in types.items():
        var = f"JUKI_{key.upper()}"
        if var in env and env[var] != "":
            values[key] = _coerce(key, env[var], kind)
    return Settings(**values)
