"""``juki inspect start|list|report``: the yearly self-inspection (自己点検), one sheet a
department, from the command line.

Run by the OS operator (``Actor.cli()``); answers and sign-offs are given by signed-in
staff through the service (F6), never here. Exit codes as everywhere: 0 done, 1 a failed
check (refused, not found), 2 bad input (a year; nothing written).
"""

from __future__ import annotations

import argparse

from console.commands.common import EXIT_OK, Group, Subparsers, context, out
from console.commands.options import add_format, add_output
from core.actor import Actor
from core.clock import japan


def add_parsers(sub: Subparsers) -> None:
    inspect = sub.add_parser("inspect", help="自己点検 (年度ごとの点検表)")
    i_sub = inspect.add_subparsers(dest="inspect_cmd", required=True)
    start = i_sub.add_parser("start", help="年度の自己点検を始める (所属ごとの点検表を作る)")
    start.add_argument("year", metavar="YEAR", help="年度 (例: 2026、令和8、R8)")
    start.add_argument("--department", action="append", dest="departments", default=[],
                       metavar="所属", help="点検する所属 (繰り返し可。既定: 照会権限を持つ"
                       "アカウントの所属すべて)")
    show = i_sub.add_parser("list", help="年度の自己点検の所属ごとの状況")
    show.add_argument("year", nargs="?", metavar="YEAR", help="年度 (既定: 最新)")
    report = i_sub.add_parser("report", help="自己点検結果を PDF / CSV で出力する")
    report.add_argument("year", metavar="YEAR", help="年度 (例: 2026、令和8、R8)")
    add_format(report, "pdf", "csv")
    add_output(report, "出力先 (既定: <data_dir>/reports/ の下に新しい名前で)")


def run(args: argparse.Namespace) -> int:
    # on use (start-up time): the inspection loads SQLAlchemy, core.inert Rich
    from core.inert import clean_line
    from services.assessment import inspection
    from services.jp.wareki import format_wareki

    year = inspection.parse_year(args.year) if args.year else None
    ctx = context()
    actor = Actor.cli()
    if args.inspect_cmd == "start":
        assert year is not None
        insp = inspection.start_inspection(ctx.db, ctx.settings, actor, year,
                                           departments=args.departments)
        out(f"{insp.label}の自己点検を始めました（承認期限 {format_wareki(insp.due_on)}）: "
            f"点検項目 {len(insp.items)} 件 × 所属 {len(insp.sheets)}"
            f"（{'、'.join(clean_line(s.department) for s in insp.sheets)}）。")
        return EXIT_OK
    if args.inspect_cmd == "report":
        # on use: ReportLab, for the report alone (start-up time)
        from services.assessment.inspection_report import export_report

        assert year is not None
        done = export_report(ctx.db, ctx.settings, actor, year, args.fmt, args.output,
                             force=args.force)
        out(f"{inspection.year_label(year)}の自己点検結果 {done.rows:,} 行を "
            f"{done.format.upper()} で書き出しました: {done.path}")
        out(f"SHA-256: {done.sha256}")
        return EXIT_OK
    if year is None:
        latest = inspection.latest_inspection(ctx.db)
        if latest is None:
            out("自己点検はまだ始まっていません（juki inspect start YEAR）。")
            return EXIT_OK
        year = latest.fiscal_year
    insp = inspection.get_inspection(ctx.db, year)
    out(f"{insp.label}の自己点検（承認期限 {format_wareki(insp.due_on)}、"
        f"点検項目 {len(insp.items)} 件）")
    for sh in insp.sheets:
        out("\t".join(clean_line(str(v)) for v in (
            f"#{sh.id}", sh.department, sh.state_label, f"回答 {sh.answered}/{sh.items}",
            f"承認 {sh.signed_by} {format_wareki(japan(sh.signed_at).date())}"
            if sh.signed_at else "未承認",
        )))
    return EXIT_OK


GROUP = Group("inspect", add_parsers, run)
