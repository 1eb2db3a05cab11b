"""``juki access inventory …``: the periodic full review (棚卸し) from the command line.

Run by the OS operator (``Actor.cli()``), like the other admin commands; the decisions
themselves (keep / revoke) are taken by signed-in reviewers through the service, never
here. Exit codes as everywhere: 0 done, 1 a failed check (refused, not found), 2 bad
input (a date; nothing written).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from console.cli_io import context as _context
from console.cli_io import out as _out

if TYPE_CHECKING:  # the services load when a command runs, not when the CLI starts
    from services.personnel.inventory import LineView

EXIT_OK = 0


def _flag_counts(lines: Sequence[LineView]) -> str:
    from services.personnel.inventory_models import FLAG_LABELS

    return "、".join(f"{label} {sum(1 for ln in lines if key in ln.flags):,}"
                     for key, label in FLAG_LABELS.items())


def _line_cells(line: LineView) -> list[str]:
    from services.jp.wareki import format_wareki
    from services.personnel.inventory_models import CLOSE_REVOKED

    staff = (f"{line.staff_no} {line.department}・{line.post or '-'}"
             f" {line.employment}" if line.staff_no else "-")
    if line.contract_end:
        staff += f" 契約終了 {format_wareki(line.contract_end)}"
    state = line.decision_label + (f" ({line.decided_by})" if line.decided_by else "")
    if line.close_action == CLOSE_REVOKED:
        state += f" → {line.close_label}"
    if line.suspended:
        state += " 研修未受講のため停止"
    return [
        f"#{line.id}", line.login, line.account_name + ("（無効）" if line.disabled else ""),
        ",".join(line.roles) or "（権限なし）", staff,
        "、".join(line.flag_labels) or "-", f"確認者 {line.reviewer_label}", state,
    ]


def _print_lines(lines: Iterable[LineView]) -> None:
    from core.inert import clean_line

    for line in lines:
        _out("\t".join(clean_line(str(v)) for v in _line_cells(line)))


def cmd_inventory(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from core.inert import clean_line
    from services.jp.wareki import format_wareki, parse_date
    from services.personnel import inventory

    if args.inventory_cmd == "start":
        deadline = parse_date(args.deadline, field="--deadline (期限)")
        ctx = _context()
        actor = Actor.cli()
        camp = inventory.start_campaign(ctx.db, ctx.settings, actor, deadline=deadline)
        lines = inventory.campaign_lines(ctx.db, actor, camp.id)
        _out(f"棚卸し #{camp.id} を開始しました（期限 {format_wareki(camp.deadline)}）: "
             f"アカウント {camp.lines:,} 件、要確認 {camp.flagged:,} 件"
             f"（{_flag_counts(lines)}）。")
        unassigned = sum(1 for ln in lines if not ln.reviewer_login)
        if unassigned:
            _out(f"所属に確認者がいない {unassigned:,} 件はセキュリティ管理者が確認します。")
        return EXIT_OK
    ctx = _context()
    actor = Actor.cli()
    if args.inventory_cmd == "list":
        if args.campaign is None:
            for c in inventory.list_campaigns(ctx.db, actor):
                _out("\t".join(clean_line(str(v)) for v in (
                    f"#{c.id}", c.state_label, f"期限 {format_wareki(c.deadline)}",
                    f"開始 {format_wareki(c.snapshot_on)} {c.started_by}",
                    f"アカウント {c.lines:,}", f"要確認 {c.flagged:,}", f"継続 {c.kept:,}",
                    f"削除 {c.revoked:,}", f"未判定 {c.undecided:,}",
                )))
            return EXIT_OK
        camp = inventory.get_campaign(ctx.db, actor, args.campaign)
        lines = inventory.campaign_lines(ctx.db, actor, camp.id, flagged=args.flagged)
        _out(f"棚卸し #{camp.id}（{camp.state_label}、期限 {format_wareki(camp.deadline)}）: "
             f"{'要確認の' if args.flagged else ''}アカウント {len(lines):,} 件"
             f"（継続 {camp.kept:,}、削除 {camp.revoked:,}、未判定 {camp.undecided:,}）")
        _print_lines(lines)
        return EXIT_OK
    done = inventory.close_campaign(ctx.db, ctx.settings, actor, args.campaign)
    camp = inventory.get_campaign(ctx.db, actor, done.campaign_id)
    _out(f"棚卸し #{camp.id} を締めました: アカウント {camp.lines:,} 件、継続 {camp.kept:,}、"
         f"削除 {camp.revoked:,}、未判定 {len(done.undecided):,}。")
    if done.undecided:
        how = (f"設定 inventory_revoke_undecided により権限を削除しました"
               f"（{done.revoked_undecided:,} 件）" if ctx.settings.inventory_revoke_undecided
               else "権限はそのままです（設定 inventory_revoke_undecided で削除）")
        _out(f"期限までに判定されなかったアカウント {len(done.undecided):,} 件 — {how}:")
        _print_lines(done.undecided)
    if done.suspended:
        _out(f"研修の受講期限を過ぎた {len(done.suspended):,} 件の権限を停止しました"
             "（設定 inventory_suspend_untrained）:")
        _print_lines(done.suspended)
    if done.sessions:
        _out(f"終了したセッション {done.sessions:,} 件。")
    return EXIT_OK
