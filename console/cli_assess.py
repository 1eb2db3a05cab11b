"""``juki assess …`` and ``juki inspect …``: the threshold judgment, incidents, and the
yearly self-inspection from the command line.

Run by the OS operator (``Actor.cli()``), like the other admin commands; answers and
sign-offs are given by signed-in staff through the service (F6), never here. Exit codes
as everywhere: 0 done, 1 a failed check (refused, not found), 2 bad input (a date, a
year; nothing written).
"""

from __future__ import annotations

import argparse

from console.cli_io import add_output
from console.cli_io import context as _context
from console.cli_io import out as _out
from core.clock import japan

EXIT_OK = 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``assess`` and ``inspect`` command groups (called by console/cli.py)."""
    assess = sub.add_parser("assess", help="特定個人情報保護評価 (しきい値判断・事故の記録)")
    a_sub = assess.add_subparsers(dest="assess_cmd", required=True)
    thr = a_sub.add_parser("threshold", help="しきい値判断 (対象人数・取扱者数・重大事故)")
    thr.add_argument("--as-of", dest="as_of", metavar="DATE",
                     help="基準日 (例: 令和7年11月1日、R7.11.1、2025-11-01。既定: 今日)")
    inc = a_sub.add_parser("incident", help="事故の記録").add_subparsers(
        dest="incident_cmd", required=True)
    inc_add = inc.add_parser("add", help="事故を記録する (重大事故は --serious)")
    inc_add.add_argument("--date", required=True, metavar="DATE", help="発生日")
    inc_add.add_argument("--summary", required=True, help="概要")
    inc_add.add_argument("--serious", action="store_true", help="重大事故として記録する")
    inc.add_parser("list", help="記録した事故の一覧")

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
    report.add_argument("--format", dest="fmt", choices=("pdf", "csv"), default="pdf",
                        help="出力形式 (既定: pdf)")
    add_output(report, "出力先 (既定: <data_dir>/reports/ の下に新しい名前で)")


def cmd_assess(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from core.inert import clean_line
    from services.assessment import incidents
    from services.jp.wareki import format_wareki, parse_date

    if args.assess_cmd == "threshold":
        from services.assessment.assess import assess_threshold

        day = parse_date(args.as_of, field="--as-of (基準日)") if args.as_of else None
        ctx = _context()
        result = assess_threshold(ctx.db, Actor.cli(), day)
        for line in result.lines():
            _out(line)
        for inc in result.incidents:
            _out(clean_line(f"  重大事故 #{inc.id} {format_wareki(inc.occurred_on)} "
                            f"{inc.summary}"))
        return EXIT_OK
    if args.incident_cmd == "add":
        from services.personnel.inventory import office_day

        day = parse_date(args.date, field="--date (発生日)")
        ctx = _context()
        inc = incidents.add_incident(ctx.db, Actor.cli(), occurred_on=day,
                                     summary=args.summary, serious=args.serious,
                                     today=office_day())
        _out(f"{inc.kind_label} #{inc.id}（{format_wareki(inc.occurred_on)}）を記録しました。")
        return EXIT_OK
    ctx = _context()
    rows = incidents.list_incidents(ctx.db, Actor.cli())
    if not rows:
        _out("記録された事故はありません。")
    for inc in rows:
        _out("\t".join(clean_line(str(v)) for v in (
            f"#{inc.id}", format_wareki(inc.occurred_on), inc.kind_label, inc.summary,
            f"記録 {inc.recorded_by}",
        )))
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from core.inert import clean_line
    from services.assessment import inspection
    from services.jp.wareki import format_wareki

    year = inspection.parse_year(args.year) if args.year else None
    ctx = _context()
    actor = Actor.cli()
    if args.inspect_cmd == "start":
        assert year is not None
        insp = inspection.start_inspection(ctx.db, ctx.settings, actor, year,
                                           departments=args.departments)
        _out(f"{insp.label}の自己点検を始めました（承認期限 {format_wareki(insp.due_on)}）: "
             f"点検項目 {len(insp.items)} 件 × 所属 {len(insp.sheets)}"
             f"（{'、'.join(clean_line(s.department) for s in insp.sheets)}）。")
        return EXIT_OK
    if args.inspect_cmd == "report":
        from services.assessment.inspection_report import export_report

        assert year is not None
        done = export_report(ctx.db, ctx.settings, actor, year, args.fmt, args.output,
                             force=args.force)
        _out(f"{inspection.year_label(year)}の自己点検結果 {done.rows:,} 行を "
             f"{done.format.upper()} で書き出しました: {done.path}")
        _out(f"SHA-256: {done.sha256}")
        return EXIT_OK
    if year is None:
        latest = inspection.latest_inspection(ctx.db)
        if latest is None:
            _out("自己点検はまだ始まっていません（juki inspect start YEAR）。")
            return EXIT_OK
        year = latest.fiscal_year
    insp = inspection.get_inspection(ctx.db, year)
    _out(f"{insp.label}の自己点検（承認期限 {format_wareki(insp.due_on)}、"
         f"点検項目 {len(insp.items)} 件）")
    for sh in insp.sheets:
        _out("\t".join(clean_line(str(v)) for v in (
            f"#{sh.id}", sh.department, sh.state_label, f"回答 {sh.answered}/{sh.items}",
            f"承認 {sh.signed_by} {format_wareki(japan(sh.signed_at).date())}"
            if sh.signed_at else "未承認",
        )))
    return EXIT_OK
