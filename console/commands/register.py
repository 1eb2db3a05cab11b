"""``juki register import FILE [--full]``: the register system's files in (issue 9).

Run by the OS operator (``Actor.cli()``), typically from the nightly job that fetches
the register system's export. Progress goes to stderr (every 10,000 rows), the summary to
stdout. Exit codes: 0 applied (or the same file applied before: nothing changed), 2 the
file was refused (every bad row named by line and column; nothing applied).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands.common import EXIT_OK, Group, Subparsers, context, err, out
from core.actor import Actor
from core.errors import BadInput


def add_parsers(sub: Subparsers) -> None:
    reg = sub.add_parser("register", help="住民記録 (既存住民基本台帳システムからの取込)")
    r_sub = reg.add_subparsers(dest="register_cmd", required=True)
    imp = r_sub.add_parser(
        "import", help="住民記録ファイル (CSV/TSV, UTF-8 / CP932) を取り込む (既定: 異動分)")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--full", action="store_true",
                     help="全件の取込 (空の住民記録に、住民記録全体を読み込む)")


def _progress(phase: str, done: int, total: int) -> None:
    of = f" / {total:,}" if total else ""
    err(f"取込: {done:,}{of} 行を{'検査' if phase == '検査' else '書き込み'}しました")


def run(args: argparse.Namespace) -> int:
    # on use (start-up time): the import loads SQLAlchemy, core.inert Rich
    import services.linkage  # noqa: F401 - registers the import's linkage drift hook
    from core.inert import clean_line
    from services.register.importer import import_register

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"FILE: {clean_line(str(path))} を読めません ({exc.strerror})。") from None
    ctx = context()
    result = import_register(ctx.db, Actor.cli(), data, name=path.name, full=args.full,
                             progress=_progress)
    for line in result.summary():
        out(clean_line(line))
    return EXIT_OK


GROUP = Group("register", add_parsers, run)
