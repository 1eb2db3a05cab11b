"""``juki access …``: rights changes applied when due, the role policy checked, the
periodic full review (棚卸し) started, listed and closed, and a round's report.

Run by the OS operator (``Actor.cli()``), like the other admin commands; the review's
decisions themselves (keep / revoke) are taken by signed-in reviewers through the
service, never here. Exit codes as everywhere: 0 done, 1 a failed check (refused, not
found), 2 bad input (a date, a policy file; nothing written).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from console.commands.common import EXIT_OK, Group, Subparsers, context, out, run_chosen
from console.commands.options import add_format, add_output
from core.actor import Actor
from core.errors import BadInput

if TYPE_CHECKING:
    from services.personnel.inventory import LineView


def add_parsers(sub: Subparsers) -> None:
    access = sub.add_parser("access", help="権限の管理と見直し").add_subparsers(
        dest="access_cmd", required=True
    )
    due = access.add_parser(
        "apply-due", help="発令日を迎えた権限の削除・利用停止を適用する (cron / systemd timer 用)"
    )
    due.add_argument("--date", metavar="DATE", help="この日までを適用する (既定: 今日)")
    due.set_defaults(handler=_apply_due)
    policy = access.add_parser("policy-check", help="役割ポリシー (TOML) を検査する")
    policy.add_argument("file", nargs="?", metavar="FILE.toml",
                        help="検査するファイル (既定: 設定 role_policy)")
    policy.set_defaults(handler=_policy_check)
    inv = access.add_parser("inventory", help="権限の棚卸し (全アカウントの定期見直し)")
    inv.set_defaults(handler=_inventory)
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
    report = access.add_parser(
        "report", help="異動処理の権限変更一覧 (帳票) を PDF / CSV で出力する"
    )
    report.add_argument("round", type=int, metavar="ROUND", help="異動処理の番号 (#N の N)")
    add_format(report, "pdf", "csv")
    add_output(report, "出力先 (既定: <data_dir>/reports/ の下に新しい名前で)")
    report.set_defaults(handler=_report)


def _apply_due(args: argparse.Namespace) -> int:
    # on use (start-up time): the personnel services load SQLAlchemy
    from services.jp.wareki import parse_date
    from services.personnel.apply import apply_due

    day = parse_date(args.date, field="--date (適用日)") if args.date else None
    ctx = context()
    done = apply_due(ctx.db, ctx.settings, Actor.cli(), today=day)
    out(f"職員台帳への反映 {done.registry:,} 件、権限の削除・停止 {done.rights:,} 件、"
        f"終了したセッション {done.sessions:,} 件。")
    return EXIT_OK


def _policy_check(args: argparse.Namespace) -> int:
    # on use (start-up time): the personnel services load SQLAlchemy
    from services.personnel.policy import load_policy, parse_policy

    if args.file:
        try:
            text = Path(args.file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.__class__.__name__
            raise BadInput(f"ファイル {args.file}: 読めません ({why})。") from None
        policy = parse_policy(text, args.file)
    else:
        policy = load_policy(context().settings)
    out(f"役割ポリシー {policy.source}: ルール {len(policy.rules)} 件、問題はありません。")
    for (department, post), roles in sorted(policy.rules.items()):
        out(f"  {department}・{post or '（全職）'} → {', '.join(sorted(roles)) or '（なし）'}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    # on use (start-up time): the report loads SQLAlchemy and ReportLab
    from services.personnel.report import export_round_report, title

    ctx = context()
    done = export_round_report(ctx.db, ctx.settings, Actor.cli(), args.round, args.fmt,
                               path=args.output, force=args.force)
    out(f"{title(done.round_id)} {done.rows:,} 件を {done.format.upper()} で書き出しました:"
        f" {done.path}")
    out(f"SHA-256: {done.sha256}")
    return EXIT_OK


def _inventory(args: argparse.Namespace) -> int:
    # on use (start-up time): the personnel services load SQLAlchemy, core.inert Rich
    from core.inert import clean_line
    from services.jp.wareki import format_wareki, parse_date
    from services.personnel import inventory

    if args.inventory_cmd == "start":
        deadline = parse_date(args.deadline, field="--deadline (期限)")
        ctx = context()
        actor = Actor.cli()
        camp = inventory.start_campaign(ctx.db, ctx.settings, actor, deadline=deadline)
        lines = inventory.campaign_lines(ctx.db, actor, camp.id)
        out(f"棚卸し #{camp.id} を開始しました（期限 {format_wareki(camp.deadline)}）: "
            f"アカウント {camp.lines:,} 件、要確認 {camp.flagged:,} 件"
            f"（{_flag_counts(lines)}）。")
        unassigned = sum(1 for ln in lines if not ln.reviewer_login)
        if unassigned:
            out(f"所属に確認者がいない {unassigned:,} 件はセキュリティ管理者が確認します。")
        return EXIT_OK
    ctx = context()
    actor = Actor.cli()
    if args.inventory_cmd == "list":
        if args.campaign is None:
            for c in inventory.list_campaigns(ctx.db, actor):
                out("\t".join(clean_line(str(v)) for v in (
                    f"#{c.id}", c.state_label, f"期限 {format_wareki(c.deadline)}",
                    f"開始 {format_wareki(c.snapshot_on)} {c.started_by}",
                    f"アカウント {c.lines:,}", f"要確認 {c.flagged:,}", f"継続 {c.kept:,}",
                    f"削除 {c.revoked:,}", f"未判定 {c.undecided:,}",
                )))
            return EXIT_OK
        camp = inventory.get_campaign(ctx.db, actor, args.campaign)
        lines = inventory.campaign_lines(ctx.db, actor, camp.id, flagged=args.flagged)
        out(f"棚卸し #{camp.id}（{camp.state_label}、期限 {format_wareki(camp.deadline)}）: "
            f"{'要確認の' if args.flagged else ''}アカウント {len(lines):,} 件"
            f"（継続 {camp.kept:,}、削除 {camp.revoked:,}、未判定 {camp.undecided:,}）")
        _print_lines(lines)
        return EXIT_OK
    done = inventory.close_campaign(ctx.db, ctx.settings, actor, args.campaign)
    camp = inventory.get_campaign(ctx.db, actor, done.campaign_id)
    out(f"棚卸し #{camp.id} を締めました: アカウント {camp.lines:,} 件、継続 {camp.kept:,}、"
        f"削除 {camp.revoked:,}、未判定 {len(done.undecided):,}。")
    if done.undecided:
        how = (f"設定 inventory_revoke_undecided により権限を削除しました"
               f"（{done.revoked_undecided:,} 件）" if ctx.settings.inventory_revoke_undecided
               else "権限はそのままです（設定 inventory_revoke_undecided で削除）")
        out(f"期限までに判定されなかったアカウント {len(done.undecided):,} 件 — {how}:")
        _print_lines(done.undecided)
    if done.suspended:
        out(f"研修の受講期限を過ぎた {len(done.suspended):,} 件の権限を停止しました"
            "（設定 inventory_suspend_untrained）:")
        _print_lines(done.suspended)
    if done.sessions:
        out(f"終了したセッション {done.sessions:,} 件。")
    return EXIT_OK


def _flag_counts(lines: Iterable[LineView]) -> str:
    # on use (start-up time): the personnel models load SQLAlchemy
    from services.personnel.inventory_models import FLAG_LABELS

    return "、".join(f"{label} {sum(1 for ln in lines if key in ln.flags):,}"
                     for key, label in FLAG_LABELS.items())


def _print_lines(lines: Iterable[LineView]) -> None:
    """One line a reviewed account: its roles, its staff record, its flags and decision."""
    # on use (start-up time): the personnel models load SQLAlchemy, core.inert Rich
    from core.inert import clean_line
    from services.jp.wareki import format_wareki
    from services.personnel.inventory_models import CLOSE_REVOKED

    for line in lines:
        staff = (f"{line.staff_no} {line.department}・{line.post or '-'}"
                 f" {line.employment}" if line.staff_no else "-")
        if line.contract_end:
            staff += f" 契約終了 {format_wareki(line.contract_end)}"
        state = line.decision_label + (f" ({line.decided_by})" if line.decided_by else "")
        if line.close_action == CLOSE_REVOKED:
            state += f" → {line.close_label}"
        if line.suspended:
            state += " 研修未受講のため停止"
        out("\t".join(clean_line(str(v)) for v in (
            f"#{line.id}", line.login, line.account_name + ("（無効）" if line.disabled else ""),
            ",".join(line.roles) or "（権限なし）", staff,
            "、".join(line.flag_labels) or "-", f"確認者 {line.reviewer_label}", state,
        )))



GROUP = Group("access", add_parsers, run_chosen)
