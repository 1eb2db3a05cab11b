"""Options several ``juki`` commands take alike: an output file, a format, a period."""

from __future__ import annotations

import argparse


def add_output(parser: argparse.ArgumentParser, help: str) -> None:
    """``--output FILE`` and ``--force``, alike for every command that writes a file
    (the rules: ``core.files.check_output``)."""
    parser.add_argument("--output", metavar="FILE", help=help)
    parser.add_argument("--force", action="store_true",
                        help="--output のファイルが既にあれば置き換える (通常のファイルだけ。"
                             "デバイス・FIFO・フォルダ・シンボリックリンクには書きません)")


def add_format(parser: argparse.ArgumentParser, *choices: str) -> None:
    """``--format`` among ``choices``, the first the default (as ``args.fmt``)."""
    parser.add_argument("--format", dest="fmt", choices=choices, default=choices[0],
                        help=f"出力形式 (既定: {choices[0]})")


def add_period(parser: argparse.ArgumentParser, metavar: str, start: str, end: str) -> None:
    """``--from`` and ``--to`` (as ``args.date_from`` / ``args.date_to``), both required."""
    parser.add_argument("--from", dest="date_from", required=True, metavar=metavar, help=start)
    parser.add_argument("--to", dest="date_to", required=True, metavar=metavar, help=end)


def add_simulator(parser: argparse.ArgumentParser, *, host: str, port: int, port_help: str,
                  received: str) -> None:
    """``--host``, ``--port`` and ``--out FILE`` of a simulator: where it listens (default
    127.0.0.1) and where it keeps what it received."""
    parser.add_argument("--host", default="127.0.0.1", help=host)
    parser.add_argument("--port", type=int, default=port, help=port_help)
    parser.add_argument("--out", required=True, metavar="FILE", help=received)
