"""``juki hr import|staff|link|rounds``: personnel changes in (the transfer file, the staff
register), and the rights changes they make, round by round.

Run by the OS operator (``Actor.cli()``), like the other admin commands. Exit codes as
everywhere: 0 done, 1 a failed check, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands.common import EXIT_OK, Group, Subparsers, context, out
from core.actor import Actor
from core.errors import BadInput


def add_parsers(sub: Subparsers) -> None:
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


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"ファイル {path}: 読めません ({exc.strerror or exc})。") from None


def run(args: argparse.Namespace) -> int:
    # on use (start-up time): the personnel services load SQLAlchemy, core.inert Rich
    from core.inert import clean_line
    from services.jp.wareki import format_wareki
    from services.personnel.rounds import get_round, import_round, list_rounds, round_lines
    from services.personnel.staff import import_staff, link_account

    ctx = context()
    actor = Actor.cli()
    if args.hr_cmd == "import":
        done = import_round(ctx.db, ctx.settings, actor, name=Path(args.file).name,
                            data=_read(args.file), allow_earlier=args.allow_earlier)
        out(f"異動処理 #{done.round_id}: {done.rows:,} 行 ({done.people:,} 人) を取り込みました。"
            f"権限の削除・停止 {done.revokes:,} 件、付与・再開 {done.grants:,} 件。")
        if done.applied_now:
            out(f"発令日を迎えた削除・停止 {done.applied_now:,} 件を適用しました。")
        return EXIT_OK
    if args.hr_cmd == "staff":
        loaded = import_staff(ctx.db, actor, name=Path(args.file).name, data=_read(args.file))
        out(f"職員台帳: 追加 {loaded.added:,} 人、更新 {loaded.updated:,} 人、"
            f"アカウント紐付け {loaded.linked:,} 人。")
        return EXIT_OK
    if args.hr_cmd == "link":
        link_account(ctx.db, actor, args.staff_no, args.login)
        out(f"職員番号 {args.staff_no} をアカウント {args.login} に紐付けました。")
        return EXIT_OK
    if args.round is None:
        for r in list_rounds(ctx.db):
            out("\t".join(clean_line(str(v)) for v in (
                f"#{r.id}", r.source_name,
                f"{format_wareki(r.first_on)}〜{format_wareki(r.last_on)}",
                f"変更 {r.changes}", f"未適用 {r.pending}", f"適用済み {r.applied}",
                f"確認済み {r.confirmed}", f"異議 {r.disputed}",
            )))
        return EXIT_OK
    get_round(ctx.db, args.round)
    for line in round_lines(ctx.db, args.round):
        out("\t".join(clean_line(str(v)) for v in (
            f"#{line.id}", format_wareki(line.effective_on), line.staff_no, line.name,
            line.login or "-", line.action_label, line.role or "-", line.state_label,
            line.applied_by or "-", line.confirmed_by or "-", line.reason,
        )))
    return EXIT_OK


GROUP = Group("hr", add_parsers, run)
