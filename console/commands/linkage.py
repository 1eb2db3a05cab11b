"""``juki linkage check|report``: check the active My Number links, and the linkage record
(applicant, reviewer, documents) for a period as CSV or PDF.

``check`` exits 1 when it finds a problem (a check digit, a number linked twice, the four
items changed since the link), each named on its own line.
"""

from __future__ import annotations

import argparse

from console.commands.common import EXIT_CHECK, EXIT_OK, Group, Subparsers, context, out
from console.commands.options import add_format, add_output, add_period
from core.actor import Actor


def add_parsers(sub: Subparsers) -> None:
    linkage = sub.add_parser("linkage", help="個人番号の紐付け").add_subparsers(
        dest="linkage_cmd", required=True
    )
    linkage.add_parser(
        "check", help="有効な紐付けを点検する (検査用数字・番号の重複・4情報の変更)"
    )
    report = linkage.add_parser(
        "report", help="紐付け記録 (申請者・確認者・確認書類) を CSV / PDF で出力する"
    )
    add_period(report, "DATE", "開始日 (例: 令和7年12月1日、R7.12.1、2025-12-01)",
               "終了日 (この日を含む)")
    add_format(report, "csv", "pdf")
    add_output(report, "出力先 (既定: <data_dir>/reports/ の下に新しい名前で)")
    report.add_argument("--exclude-migration", action="store_true",
                        help="初期移行の紐付け (申請の記録がないもの) を含めない")


def run(args: argparse.Namespace) -> int:
    if args.linkage_cmd == "report":
        return _report(args)
    return _check(args)


def _check(args: argparse.Namespace) -> int:
    # on use (start-up time): the check loads SQLAlchemy, core.inert Rich
    from core.inert import clean_line
    from services.linkage.check import check_links

    ctx = context()
    report = check_links(ctx.db, Actor.cli())
    out(f"紐付けの点検: 有効な紐付け {report.links:,} 件を点検しました。")
    if report.baselined:
        out(
            f"照合の基準がなかった紐付け {report.baselined:,} 件 (初期移行など) は、"
            "現在の住民記録の4情報を基準として記録しました。"
        )
    if report.ok:
        out("問題は見つかりませんでした。")
        return EXIT_OK
    out(f"問題が {len(report.findings):,} 件見つかりました:")
    for f in report.findings:
        out("\t".join(clean_line(str(v)) for v in (
            f.kind, f"紐付け #{f.link_id}", f"住民 #{f.resident_id}",
            f"住民票コード {f.resident_code}", f.number_masked, f.detail,
        )))
    return EXIT_CHECK


def _report(args: argparse.Namespace) -> int:
    # on use (start-up time): the report loads SQLAlchemy and ReportLab
    from services.jp import format_wareki, parse_date
    from services.linkage.report import check_period
    from services.linkage.report_export import export_report

    start = parse_date(args.date_from, field="--from (開始日)")
    end = parse_date(args.date_to, field="--to (終了日)")
    check_period(start, end)
    ctx = context()
    done = export_report(
        ctx.db, ctx.settings, Actor.cli(), start=start, end=end, fmt=args.fmt,
        path=args.output, include_migration=not args.exclude_migration, force=args.force,
    )
    out(f"紐付け記録 ({format_wareki(start)}〜{format_wareki(end)}) {done.rows:,} 件を"
        f" {done.format.upper()} で書き出しました: {done.path}")
    out(f"SHA-256: {done.sha256}")
    return EXIT_OK


GROUP = Group("linkage", add_parsers, run)
