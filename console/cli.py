"""The ``juki`` command. Exit codes: 0 success, 1 a failed check, 2 bad input.

Messages are Japanese; no traceback reaches the user (an unexpected error prints one
line and the path of a log with the details).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

from console.cli_io import add_output as _add_output
from console.cli_io import context as _context
from console.cli_io import err as _err
from console.cli_io import out as _out
from core.errors import BadInput, JukiError
from core.settings import SettingsError, documented_fields

if TYPE_CHECKING:
    from console.context import Context

EXIT_OK, EXIT_CHECK, EXIT_BAD = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        _err(f"入力が正しくありません: {message}")
        self.exit(EXIT_BAD)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="juki", description="住民記録 業務コンソール")
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)

    sub.add_parser("demo", help="デモ用データベースを用意してコンソールを起動する")
    sub.add_parser("settings", help="設定項目と既定値を表示する")

    db = sub.add_parser("db", help="データベース").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("init", help="スキーマを作成・更新する (二度実行しても変化なし)")
    db.add_parser("rotate-key", help="個人番号の暗号鍵を新しくし、保存済みの番号を暗号化し直す")
    seed = db.add_parser("seed", help="合成の住民記録を作る")
    seed.add_argument("--residents", type=int, required=True, help="住民の人数")
    seed.add_argument("--seed", type=int, default=1, help="乱数の種")

    user = sub.add_parser("user", help="アカウント").add_subparsers(dest="user_cmd", required=True)
    add = user.add_parser("add", help="アカウントを追加する (パスワードは標準入力から)")
    add.add_argument("login")
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", required=True, dest="roles")
    add.add_argument("--department", default="")
    user.add_parser("list", help="アカウントの一覧")
    dis = user.add_parser("disable", help="アカウントを無効にする")
    dis.add_argument("login")
    # --- juki user key (SSH 鍵の登録; console/cli_ssh.py) ---
    key = user.add_parser("key", help="SSH 公開鍵の登録 (1つの鍵で1つのアカウント)")
    key_sub = key.add_subparsers(dest="key_cmd", required=True)
    key_add = key_sub.add_parser("add", help="公開鍵ファイル (OpenSSH 形式) の鍵を登録する")
    key_add.add_argument("login")
    key_add.add_argument("file", metavar="FILE", help="公開鍵ファイル (例: id_ed25519.pub)")
    key_list = key_sub.add_parser("list", help="登録された鍵の一覧 (SHA256 指紋)")
    key_list.add_argument("login")
    key_rm = key_sub.add_parser("remove", help="鍵の登録を外す")
    key_rm.add_argument("login")
    key_rm.add_argument("fingerprint", metavar="FINGERPRINT", help="SHA256:… の指紋")
    # --- end juki user key ---

    audit = sub.add_parser("audit", help="操作ログ").add_subparsers(dest="audit_cmd", required=True)
    audit.add_parser("verify", help="ハッシュ連鎖を検証する")
    tail = audit.add_parser("tail", help="操作ログを表示する")
    tail.add_argument("-f", "--follow", action="store_true", help="新しい事象を追い続ける")
    tail.add_argument("--json", action="store_true", help="1行に1つの JSON で出力する")
    tail.add_argument("-n", "--lines", type=int, default=20, help="最初に表示する件数")
    audit.add_parser("anchor", help="連鎖の末尾 (seq とハッシュ) をアンカーに書く (cron 用)")
    export = audit.add_parser("export", help="期間の操作ログを JSON lines / CSV で書き出す")
    export.add_argument("--from", dest="date_from", required=True, metavar="WHEN",
                        help="開始 (ISO: 2026-04-01、2026-04-01T09:00。時差なしは日本時間)")
    export.add_argument("--to", dest="date_to", required=True, metavar="WHEN",
                        help="終了 (この日・この時刻を含む)")
    export.add_argument("--format", dest="fmt", choices=("jsonl", "csv"), default="jsonl",
                        help="出力形式 (既定: jsonl)")
    _add_output(export, "出力先 (既定: 標準出力)")
    fwd = audit.add_parser("forward", help="操作ログを収集先 (audit_forward_url) へ転送する")
    fwd.add_argument("--once", action="store_true", help="いまある事象を送り終えたら終わる")
    fwd.add_argument("--attempts", type=int, default=8,
                     help="--once で続けて失敗したらあきらめる回数 (既定: 8)")
    col = audit.add_parser("collector", help="操作ログ収集先のシミュレータ (試験用)")
    col.add_argument("--host", default="127.0.0.1", help="待ち受けるアドレス (既定: 127.0.0.1)")
    col.add_argument("--port", type=int, default=8766, help="ポート (既定: 8766。0 は空き番号)")
    col.add_argument("--out", required=True, metavar="FILE",
                     help="受信した事象の保存先 (JSON lines)")
    watch = audit.add_parser("watch", help="警告ルールで新しい事象を監視し、警告を記録する")
    watch.add_argument("--once", action="store_true", help="いまある事象を判定し終えたら終わる")

    linkage = sub.add_parser("linkage", help="個人番号の紐付け").add_subparsers(
        dest="linkage_cmd", required=True
    )
    linkage.add_parser(
        "check", help="有効な紐付けを点検する (検査用数字・番号の重複・4情報の変更)"
    )
    report = linkage.add_parser(
        "report", help="紐付け記録 (申請者・確認者・確認書類) を CSV / PDF で出力する"
    )
    report.add_argument("--from", dest="date_from", required=True, metavar="DATE",
                        help="開始日 (例: 令和7年12月1日、R7.12.1、2025-12-01)")
    report.add_argument("--to", dest="date_to", required=True, metavar="DATE",
                        help="終了日 (この日を含む)")
    report.add_argument("--format", dest="fmt", choices=("csv", "pdf"), default="csv",
                        help="出力形式 (既定: csv)")
    _add_output(report, "出力先 (既定: <data_dir>/reports/ の下に新しい名前で)")
    report.add_argument("--exclude-migration", action="store_true",
                        help="初期移行の紐付け (申請の記録がないもの) を含めない")

    hr = sub.add_parser("hr", help="人事異動と職員台帳").add_subparsers(
        dest="hr_cmd", required=True
    )
    hr_import = hr.add_parser(
        "import", help="人事異動ファイル (CSV, UTF-8 / CP932) を取り込み、権限の変更を計算する"
    )
    hr_import.add_argument("file", metavar="FILE.csv")
    hr_import.add_argument("--allow-earlier", action="store_true",
                           help="適用済みの異動より前の発令日の行を、確認のうえ取り込む"
                           " (監査記録に残る)")
    hr_staff = hr.add_parser("staff", help="職員台帳 (CSV) を取り込む (職員番号で追加・更新)")
    hr_staff.add_argument("file", metavar="FILE.csv")
    hr_link = hr.add_parser("link", help="職員とアカウントを紐付ける")
    hr_link.add_argument("staff_no", metavar="職員番号")
    hr_link.add_argument("login", metavar="ログイン名")
    hr_rounds = hr.add_parser("rounds", help="異動処理の一覧、または1件の権限変更の明細")
    hr_rounds.add_argument("round", nargs="?", type=int, metavar="ROUND")

    access = sub.add_parser("access", help="権限の管理と見直し").add_subparsers(
        dest="access_cmd", required=True
    )
    due = access.add_parser(
        "apply-due", help="発令日を迎えた権限の削除・利用停止を適用する (cron / systemd timer 用)"
    )
    due.add_argument("--date", metavar="DATE", help="この日までを適用する (既定: 今日)")
    policy = access.add_parser("policy-check", help="役割ポリシー (TOML) を検査する")
    policy.add_argument("file", nargs="?", metavar="FILE.toml",
                        help="検査するファイル (既定: 設定 role_policy)")
    # --- juki access inventory (棚卸し) ---
    inv = access.add_parser("inventory", help="権限の棚卸し (全アカウントの定期見直し)")
    inv_sub = inv.add_subparsers(dest="inventory_cmd", required=True)
    inv_start = inv_sub.add_parser("start", help="棚卸しを始める (全アカウントを記録し判定を依頼)")
    inv_start.add_argument("--deadline", required=True, metavar="DATE",
                           help="期限 (例: 令和8年12月25日、R8.12.25、2026-12-25)")
    inv_list = inv_sub.add_parser("list", help="棚卸しの一覧、または1件のアカウントと判定")
    inv_list.add_argument("campaign", nargs="?", type=int, metavar="ID")
    inv_list.add_argument("--flagged", action="store_true",
                          help="要確認 (長期未使用・契約終了・研修・ひも付きなし) のみ")
    inv_close = inv_sub.add_parser("close", help="期限後に棚卸しを締める (未判定を報告)")
    inv_close.add_argument("campaign", type=int, metavar="ID")
    # --- end juki access inventory ---
    report = access.add_parser(
        "report", help="異動処理の権限変更一覧 (帳票) を PDF / CSV で出力する"
    )
    report.add_argument("round", type=int, metavar="ROUND", help="異動処理の番号 (#N の N)")
    report.add_argument("--format", dest="fmt", choices=("pdf", "csv"), default="pdf",
                        help="出力形式 (既定: pdf)")
    _add_output(report, "出力先 (既定: <data_dir>/reports/ の下に新しい名前で)")

    # --- juki assess / juki inspect (issue 7: console/cli_assess.py) ---
    from console.cli_assess import add_parsers as _assess_parsers

    _assess_parsers(sub)
    # --- juki transfer (issue 7: console/cli_transfer.py) ---
    from console.cli_transfer import add_parsers as _transfer_parsers

    _transfer_parsers(sub)
    # --- juki register import (issue 9: console/cli_register.py) ---
    from console.cli_register import add_parsers as _register_parsers

    _register_parsers(sub)
    sim = sub.add_parser(
        "jukinet-sim", help="住基ネット照会のシミュレータ (デモ・試験用、ループバックのみ)"
    )
    sim.add_argument("--host", default=None,
                     help="待ち受けるアドレス (既定: 設定 jukinet_url のホスト、127.0.0.1)")
    sim.add_argument("--port", type=int, default=None,
                     help="ポート (既定: 設定 jukinet_url のポート、8765。0 は空き番号)")
    sim.add_argument("--fail-rate", type=float, default=0.0, help="HTTP 500 を返す割合 (0〜1)")
    sim.add_argument("--delay", type=float, default=0.0, help="応答を遅らせる秒数")
    return p


def _require_tty() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise BadInput(
            "端末 (TTY) がないためコンソールを起動できません。"
            "ssh -t で接続するか、端末から実行してください。"
        )


def cmd_console(args: argparse.Namespace) -> int:
    _require_tty()
    from console.app import run_console

    return run_console(_context())


def cmd_demo(args: argparse.Namespace) -> int:
    from console.demo import prepare_demo

    ctx = _context()
    prepare_demo(ctx, _out)
    _require_tty()
    from console.app import run_console

    return run_console(ctx)


def cmd_settings(args: argparse.Namespace) -> int:
    for key, var, default, doc in documented_fields():
        _out(f"{key:24} {var:32} {default!r:24} {doc}")
    return EXIT_OK


def _rotate_key(ctx: Context) -> int:
    from core.actor import Actor
    from core.sealed import SealingError
    from logs.audit import record_alone
    from services.rekey import ACTION, rotate_key

    try:
        done = rotate_key(ctx.db, Actor.cli())
    except SealingError as exc:
        record_alone(ctx.db, Actor.cli(), ACTION, target="identifier_key", outcome="refused",
                     severity="high",
                     details={"reason": "identifier_key", "message": exc.message})
        raise
    total = sum(done.resealed.values())
    _out(f"個人番号の暗号鍵を新しくしました: {done.key_file} (保存済みの番号 {total:,} 件を"
         "新しい鍵で暗号化し直しました)。")
    _out(f"これまでの鍵は {done.old_key} に残しました。鍵の変更より前のバックアップを"
         "読むのに必要です: そのバックアップと一緒に保管し、このサーバーからは削除してください。")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from core.sealed import SealingError
    from logs.audit import record_alone
    from services.schema import current_revision, ensure_key_file, init_schema

    ctx = _context()
    if args.db_cmd == "init":
        try:
            key_made = ensure_key_file(ctx.db)
            changed = init_schema(ctx.db)
        except SealingError as exc:
            if current_revision(ctx.db) is not None:  # the trail exists: record it there
                record_alone(ctx.db, Actor.cli(), "db.init", outcome="refused",
                             severity="high",
                             details={"reason": "identifier_key", "message": exc.message})
            raise
        record_alone(ctx.db, Actor.cli(), "db.init",
                     details={"changed": changed, "key_created": key_made})
        if key_made:
            _out(f"個人番号の暗号鍵を作成しました: {ctx.settings.resolved_identifier_key_file}"
                 " (データベースとは別にバックアップしてください)")
        _out("スキーマを作成しました。" if changed else "スキーマは最新です。変更はありません。")
        return EXIT_OK
    if args.db_cmd == "rotate-key":
        return _rotate_key(ctx)
    if args.residents < 1:
        raise BadInput("--residents: 1以上の人数を指定してください。")
    from services.register.seed import seed_register

    init_schema(ctx.db)
    started = time.perf_counter()
    summary = seed_register(ctx.db, Actor.cli(), residents=args.residents, seed=args.seed)
    _out(f"{summary} ({time.perf_counter() - started:.1f} 秒)")
    return EXIT_OK


def _read_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise BadInput("パスワード: 標準入力から読めませんでした。")
        return line.rstrip("\r\n")
    first = getpass.getpass("パスワード: ")
    second = getpass.getpass("パスワード (確認): ")
    if first != second:
        raise BadInput("パスワード: 2回の入力が一致しません。")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    from auth.accounts import add_user, disable_user, list_users
    from auth.roles import role_label
    from core.actor import Actor

    if args.user_cmd == "key":
        from console.cli_ssh import cmd_user_key

        return cmd_user_key(args)
    ctx = _context()
    if args.user_cmd == "add":
        password = _read_password()
        acct = add_user(
            ctx.db, ctx.settings, Actor.cli(), login=args.login, name=args.name,
            roles=args.roles, password=password, department=args.department,
        )
        _out(f"アカウント {acct.login} ({acct.name}) を追加しました。役割: {', '.join(acct.roles)}")
        return EXIT_OK
    if args.user_cmd == "list":
        from logs.audit import record_alone

        accounts = list_users(ctx.db)
        record_alone(ctx.db, Actor.cli(), "user.list", details={"count": len(accounts)})
        for a in accounts:
            state = "無効" if a.disabled else ("ロック中" if a.locked else "有効")
            roles = ",".join(f"{r}({role_label(r)})" for r in a.roles)
            _out(f"{a.login}\t{a.name}\t{a.department}\t{roles}\t{state}")
        return EXIT_OK
    disable_user(ctx.db, Actor.cli(), args.login)
    _out(f"アカウント {args.login} を無効にしました。")
    return EXIT_OK


def _format_event(ev: dict, as_json: bool) -> str:
    from core.inert import clean_line as inert_plain
    from core.inert import dumps

    if as_json:  # controls escaped as \uXXXX: inert on the terminal, exact for json.loads
        out = dict(ev)
        out["details"] = json.loads(ev["details"])
        return dumps(out, sort_keys=True)

    fields = [
        f"#{ev['seq']}", ev["ts"], ev["actor"], ev["action"], ev["outcome"],
        ev["target"], ev["client_addr"], ev["details"],
    ]
    return "\t".join(inert_plain(str(f)) for f in fields)


def cmd_audit(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from logs.audit import events_after, record_alone

    if args.audit_cmd in _AUDIT_MORE:
        return _AUDIT_MORE[args.audit_cmd](args)
    ctx = _context()
    if args.audit_cmd == "verify":
        from logs import anchor

        started = time.perf_counter()
        st = ctx.settings
        checked = anchor.verify(ctx.db, st.resolved_audit_anchor,
                                stream_path=st.resolved_audit_jsonl,
                                spool=st.resolved_audit_forward_spool)
        result = checked.result
        took = time.perf_counter() - started
        if result.ok:
            _out(f"操作ログの連鎖は正常です: {result.count} 件 ({took:.2f} 秒)")
            if checked.anchors:
                _out(f"アンカー {checked.anchors:,} 件とも一致しました"
                     f" (最新のアンカーは #{checked.anchored_seq})。")
            if checked.witnessed_seq:
                _out(f"アンカーより後の事象も{'・'.join(checked.witnessed_by)}と一致しました"
                     f" (#{checked.witnessed_seq} まで)。")
            elif st.resolved_audit_anchor is None and st.resolved_audit_jsonl is None:
                _out("アンカーも JSON-lines の写しも無効のため、末尾の欠落は確かめていません。")
            elif not checked.anchors:
                _out("アンカーがまだないため、末尾の欠落は確かめていません。")
            record_alone(ctx.db, Actor.cli(), "audit.verify", details={
                "count": result.count, "anchors": checked.anchors,
                "anchored_seq": checked.anchored_seq, "witnessed_seq": checked.witnessed_seq,
            })
            return EXIT_OK
        _out(f"操作ログの検証に失敗しました: {result.reason} (正常だった件数 {result.count})")
        try:
            record_alone(
                ctx.db, Actor.cli(), "audit.verify", outcome="failure", severity="high",
                details={"bad_seq": result.bad_seq, "reason": result.reason},
            )
        except Exception:  # a broken chain may refuse new events too
            _err("検証の失敗を操作ログに記録できませんでした (連鎖が壊れています)。")
        return EXIT_CHECK
    ev = record_alone(ctx.db, Actor.cli(), "audit.tail", details={"follow": args.follow})
    own = ev["seq"]
    after = max(0, own - 1 - max(0, args.lines))
    while True:
        rows = events_after(ctx.db, after, 1000)
        for row in rows:
            after = row["seq"]
            if row["seq"] != own:  # the tail's own record is not part of what was asked
                _out(_format_event(row, args.json))
        if not args.follow:
            if not rows or after >= own:
                return EXIT_OK
            continue
        if not rows:
            time.sleep(0.25)


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from logs import anchor
    from logs.audit import record_alone

    ctx = _context()
    path = ctx.settings.resolved_audit_anchor
    if path is None:
        raise BadInput("設定 audit_anchor が '-' (無効) のため、アンカーを書けません。")
    record_alone(ctx.db, Actor.cli(), "audit.anchor", details={"file": str(path)})
    written = anchor.anchor_now(ctx.db, path, ctx.settings.data_file_mode)
    _out(f"アンカーを書きました: #{written['seq']} {written['hash']} → {path}")
    return EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from logs.export import check_period, export_events, parse_bound

    start = parse_bound(args.date_from, field="--from (開始)")
    end = parse_bound(args.date_to, field="--to (終了)", end=True)
    check_period(start, end)
    ctx = _context()
    done = export_events(
        ctx.db, Actor.cli(), start=start, end=end, fmt=args.fmt, output=args.output,
        stdout=sys.stdout.buffer, force=args.force,
    )
    summary = f"操作ログ {done.count:,} 件を {args.fmt.upper()} で書き出しました"
    if done.path is not None:
        _out(f"{summary}: {done.path}")
        _out(f"SHA-256: {done.sha256}")
    else:
        _err(f"{summary} (SHA-256 {done.sha256})。")
    return EXIT_OK


def cmd_audit_forward(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from logs.forward import run

    ctx = _context()
    st = ctx.settings
    return run(
        ctx.db, Actor.cli(), _out, url=st.audit_forward_url,
        spool=st.resolved_audit_forward_spool, batch=st.audit_forward_batch,
        backoff_max=st.audit_forward_backoff_max_seconds,
        timeout=st.audit_forward_timeout_seconds, once=args.once, attempts=args.attempts,
    )


def cmd_audit_collector(args: argparse.Namespace) -> int:
    from logs.collector import run

    return run(Path(args.out), _out, host=args.host, port=args.port)


def _watch(args: argparse.Namespace) -> int:
    from services.alerts.engine import watch

    ctx = _context()
    return watch(ctx.db, ctx.settings, _out, once=args.once)


_AUDIT_MORE: dict[str, Callable[[argparse.Namespace], int]] = {
    "anchor": cmd_audit_anchor,
    "export": cmd_audit_export,
    "forward": cmd_audit_forward,
    "collector": cmd_audit_collector,
    "watch": lambda args: _watch(args),
}


def cmd_linkage_report(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from services.jp import format_wareki, parse_date
    from services.linkage.report import check_period
    from services.linkage.report_export import export_report

    start = parse_date(args.date_from, field="--from (開始日)")
    end = parse_date(args.date_to, field="--to (終了日)")
    check_period(start, end)
    ctx = _context()
    done = export_report(
        ctx.db, ctx.settings, Actor.cli(), start=start, end=end, fmt=args.fmt,
        path=args.output, include_migration=not args.exclude_migration, force=args.force,
    )
    _out(f"紐付け記録 ({format_wareki(start)}〜{format_wareki(end)}) {done.rows:,} 件を"
         f" {done.format.upper()} で書き出しました: {done.path}")
    _out(f"SHA-256: {done.sha256}")
    return EXIT_OK


def cmd_linkage(args: argparse.Namespace) -> int:
    if args.linkage_cmd == "report":
        return cmd_linkage_report(args)
    from core.actor import Actor
    from core.inert import clean_line
    from services.linkage.check import check_links

    ctx = _context()
    report = check_links(ctx.db, Actor.cli())
    _out(f"紐付けの点検: 有効な紐付け {report.links:,} 件を点検しました。")
    if report.baselined:
        _out(
            f"照合の基準がなかった紐付け {report.baselined:,} 件 (初期移行など) は、"
            "現在の住民記録の4情報を基準として記録しました。"
        )
    if report.ok:
        _out("問題は見つかりませんでした。")
        return EXIT_OK
    _out(f"問題が {len(report.findings):,} 件見つかりました:")
    for f in report.findings:
        _out("\t".join(clean_line(str(v)) for v in (
            f.kind, f"紐付け #{f.link_id}", f"住民 #{f.resident_id}",
            f"住民票コード {f.resident_code}", f.number_masked, f.detail,
        )))
    return EXIT_CHECK


def cmd_jukinet_sim(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from services.jukinet.sim import default_address, run

    ctx = _context()
    host, port = default_address(ctx.settings.jukinet_url)
    return run(
        ctx.db, Actor.cli(), _out, host=args.host or host,
        port=port if args.port is None else args.port,
        fail_rate=args.fail_rate, delay=args.delay,
    )


def cmd_access_inventory(args: argparse.Namespace) -> int:
    """``juki access inventory start|list|close`` (棚卸し; console/cli_inventory.py)."""
    from console.cli_inventory import cmd_inventory

    return cmd_inventory(args)


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: cmd_console,
    "demo": cmd_demo,
    "settings": cmd_settings,
    "db": cmd_db,
    "user": cmd_user,
    "audit": cmd_audit,
    "linkage": cmd_linkage,
    "jukinet-sim": cmd_jukinet_sim,
    "hr": lambda args: _personnel().cmd_hr(args),
    "assess": lambda args: _assess().cmd_assess(args),
    "inspect": lambda args: _assess().cmd_inspect(args),
    "transfer": lambda args: _transfer().cmd_transfer(args),
    "register": lambda args: _register().cmd_register(args),
    "access": lambda args: (cmd_access_inventory(args) if args.access_cmd == "inventory"
                            else _personnel().cmd_access(args)),
}


def _assess() -> ModuleType:
    from console import cli_assess

    return cli_assess


def _transfer() -> ModuleType:
    from console import cli_transfer

    return cli_transfer


def _register() -> ModuleType:
    from console import cli_register

    return cli_register


def _personnel() -> ModuleType:
    from console import cli_personnel

    return cli_personnel


def _unexpected(exc: BaseException) -> str:
    """Log ``exc`` in the data directory the settings name (file or variables) and
    return the user's line; settings that cannot be read fall back to the default."""
    from core.crashlog import log_unexpected
    from core.settings import Settings, load_settings

    try:
        settings = load_settings()
    except SettingsError:
        settings = Settings()
    return log_unexpected(settings, exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](args)
    except JukiError as exc:
        _err(exc.message)
        return exc.exit_code
    except SettingsError as exc:
        _err(str(exc))
        return EXIT_BAD
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        _err(_unexpected(exc))
        return EXIT_CHECK


if __name__ == "__main__":
    sys.exit(main())
