"""``juki assess threshold|incident``: the threshold judgment (特定個人情報保護評価) and the
incidents it counts, from the command line.

Run by the OS operator (``Actor.cli()``), like the other admin commands. Exit codes as
everywhere: 0 done, 1 a failed check (refused, not found), 2 bad input (a date; nothing
written).
"""

from __future__ import annotations

import argparse

from console.commands.common import EXIT_OK, Group, Subparsers, context, out
from core.actor import Actor


def add_parsers(sub: Subparsers) -> None:
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


def run(args: argparse.Namespace) -> int:
    # on use (start-up time): the assessment loads SQLAlchemy, core.inert Rich
    from core.inert import clean_line
    from services.assessment import incidents
    from services.assessment.assess import assess_threshold
    from services.jp.wareki import format_wareki, parse_date
    from services.personnel.inventory import office_day

    if args.assess_cmd == "threshold":
        day = parse_date(args.as_of, field="--as-of (基準日)") if args.as_of else None
        ctx = context()
        result = assess_threshold(ctx.db, Actor.cli(), day)
        for line in result.lines():
            out(line)
        for inc in result.incidents:
            out(clean_line(f"  重大事故 #{inc.id} {format_wareki(inc.occurred_on)} "
                           f"{inc.summary}"))
        return EXIT_OK
    if args.incident_cmd == "add":
        day = parse_date(args.date, field="--date (発生日)")
        ctx = context()
        added = incidents.add_incident(ctx.db, Actor.cli(), occurred_on=day,
                                       summary=args.summary, serious=args.serious,
                                       today=office_day())
        out(f"{added.kind_label} #{added.id}（{format_wareki(added.occurred_on)}）を記録しました。")
        return EXIT_OK
    ctx = context()
    rows = incidents.list_incidents(ctx.db, Actor.cli())
    if not rows:
        out("記録された事故はありません。")
    for row in rows:
        out("\t".join(clean_line(str(v)) for v in (
            f"#{row.id}", format_wareki(row.occurred_on), row.kind_label, row.summary,
            f"記録 {row.recorded_by}",
        )))
    return EXIT_OK


GROUP = Group("assess", add_parsers, run)
