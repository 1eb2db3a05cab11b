"""``juki audit …``: the trail from the command line — verify the chain, recover a lost
tail, tail it, anchor its end, export a period, forward it to a collector (and the
collector simulator), and watch it with the alert rules.

A failed verification exits 1 and is itself recorded (when the broken chain still takes
an event), except a lost tail: its first number is kept free for ``recover``
(docs/architecture.md §11), and a trail held after a restore (the database refuses the
event until ``recover`` lifts the hold); ``tail`` leaves its own record out of what it
shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from console.commands.common import (
    EXIT_CHECK,
    EXIT_OK,
    Group,
    Subparsers,
    context,
    err,
    out,
    run_chosen,
)
from console.commands.options import add_format, add_output, add_period, add_simulator
from core.actor import Actor
from core.errors import BadInput, JukiError


def add_parsers(sub: Subparsers) -> None:
    audit = sub.add_parser("audit", help="操作ログ").add_subparsers(dest="audit_cmd", required=True)
    audit.add_parser("verify", help="ハッシュ連鎖を検証する").set_defaults(handler=_verify)
    tail = audit.add_parser("tail", help="操作ログを表示する")
    tail.add_argument("-f", "--follow", action="store_true", help="新しい事象を追い続ける")
    tail.add_argument("--json", action="store_true", help="1行に1つの JSON で出力する")
    tail.add_argument("-n", "--lines", type=int, default=20, help="最初に表示する件数")
    tail.set_defaults(handler=_tail)
    rec = audit.add_parser(
        "recover", help="失われた末尾の事象を収集先のファイルか JSON-lines の写しから戻す")
    rec.add_argument("--from", dest="source", required=True, metavar="FILE",
                     help="収集先のファイル (juki audit collector --out) か JSON-lines の写し")
    rec.add_argument("--dry-run", action="store_true",
                     help="確かめて戻せる事象を示すだけで、何も加えない")
    rec.set_defaults(handler=_recover)
    anc = audit.add_parser("anchor", help="連鎖の末尾 (seq とハッシュ) をアンカーに書く (cron 用)")
    anc.set_defaults(handler=_anchor)
    export = audit.add_parser("export", help="期間の操作ログを JSON lines / CSV で書き出す")
    add_period(export, "WHEN", "開始 (ISO: 2026-04-01、2026-04-01T09:00。時差なしは日本時間)",
               "終了 (この日・この時刻を含む)")
    add_format(export, "jsonl", "csv")
    add_output(export, "出力先 (既定: 標準出力)")
    export.set_defaults(handler=_export)
    fwd = audit.add_parser("forward", help="操作ログを収集先 (audit_forward_url) へ転送する")
    fwd.add_argument("--once", action="store_true", help="いまある事象を送り終えたら終わる")
    fwd.add_argument("--attempts", type=int, default=8,
                     help="--once で続けて失敗したらあきらめる回数 (既定: 8)")
    fwd.set_defaults(handler=_forward)
    col = audit.add_parser("collector", help="操作ログ収集先のシミュレータ (試験用)")
    add_simulator(col, host="待ち受けるアドレス (既定: 127.0.0.1)", port=8766,
                  port_help="ポート (既定: 8766。0 は空き番号)",
                  received="受信した事象の保存先 (JSON lines)")
    col.set_defaults(handler=_collector)
    watch = audit.add_parser("watch", help="警告ルールで新しい事象を監視し、警告を記録する")
    watch.add_argument("--once", action="store_true", help="いまある事象を判定し終えたら終わる")
    watch.set_defaults(handler=_watch)


def _verify(args: argparse.Namespace) -> int:
    # on use: the trail loads SQLAlchemy (start-up time)
    from logs import anchor, hold
    from logs.audit import record_alone

    ctx = context()
    started = time.perf_counter()
    st = ctx.settings
    checked = anchor.verify(ctx.db, st.resolved_audit_anchor,
                            stream_path=st.resolved_audit_jsonl,
                            spool=st.resolved_audit_forward_spool,
                            key_file=st.resolved_audit_signing_key_file)
    result = checked.result
    took = time.perf_counter() - started
    held = hold.state(ctx.db)
    if result.ok and held:
        out(f"操作ログの連鎖は正常です: {result.count} 件 ({took:.2f} 秒)")
        _held_said(missing=False)
        return EXIT_CHECK
    if result.ok:
        out(f"操作ログの連鎖は正常です: {result.count} 件 ({took:.2f} 秒)")
        if checked.anchors:
            out(f"アンカー {checked.anchors:,} 件とも一致しました"
                f" (最新のアンカーは #{checked.anchored_seq})。")
        if checked.legacy:
            out(f"うち {checked.legacy:,} 件は署名のない旧形式のアンカーです"
                " (操作ログに名前が付く前のもの)。")
        if checked.witnessed_seq:
            out(f"アンカーより後の事象も{'・'.join(checked.witnessed_by)}と一致しました"
                f" (#{checked.witnessed_seq} まで)。")
        elif st.resolved_audit_anchor is None and st.resolved_audit_jsonl is None:
            out("アンカーも JSON-lines の写しも無効のため、末尾の欠落は確かめていません。")
        elif not checked.anchors:
            out("アンカーがまだないため、末尾の欠落は確かめていません。")
        _other_trails(checked.other_trails)
        record_alone(ctx.db, Actor.cli(), "audit.verify", details={
            "count": result.count, "anchors": checked.anchors,
            "anchored_seq": checked.anchored_seq, "witnessed_seq": checked.witnessed_seq,
            "other_trails": checked.other_trails,
        })
        return EXIT_OK
    out(f"操作ログの検証に失敗しました: {result.reason} (正常だった件数 {result.count})")
    _other_trails(checked.other_trails)
    if held:
        _held_said(missing=checked.missing is not None)
    if checked.missing is not None:
        # Recording now would take the first lost event's number and leave the lost
        # events no place to come back to (docs/architecture.md §11).
        first, last = checked.missing
        out(f"失われた事象 #{first}〜#{last} は、収集先のファイルか JSON-lines の写しから"
            " `juki audit recover --from FILE` で戻せます。" + (
                "" if held else "戻すまでコンソールなどを動かさないでください"
                " (新しい事象が失われた番号を使ってしまいます)。"))
        out(f"この検証結果は、失われた番号 #{first} を空けておくため操作ログに記録していません"
            " (戻したときの audit.recover に記録されます)。")
        return EXIT_CHECK
    if held:
        return EXIT_CHECK
    try:
        record_alone(
            ctx.db, Actor.cli(), "audit.verify", outcome="failure", severity="high",
            details={"bad_seq": result.bad_seq, "reason": result.reason},
        )
    except Exception:  # a broken chain may refuse new events too
        err("検証の失敗を操作ログに記録できませんでした (連鎖が壊れています)。")
    return EXIT_CHECK


def _recover(args: argparse.Namespace) -> int:
    # on use: the trail loads SQLAlchemy (start-up time)
    from core.clock import japan, parse_iso
    from logs import anchor, recover
    from services.state_changes import state_change

    source = Path(args.source)
    if not source.is_file():
        raise BadInput(f"--from: {source} は読めるファイルではありません。")
    ctx = context()
    st = ctx.settings
    try:
        planned = recover.plan(
            ctx.db, source, anchor_file=st.resolved_audit_anchor,
            stream_path=st.resolved_audit_jsonl, spool=st.resolved_audit_forward_spool,
            key_file=st.resolved_audit_signing_key_file)
    except recover.NothingLost:
        if recover.lift_only(ctx.db, Actor.cli(), source, dry_run=args.dry_run):
            return _lifted(args.dry_run)
        raise
    except JukiError:
        err("この拒否は、失われた番号を空けておくため操作ログに記録していません。")
        raise
    first, last = planned.missing
    out(f"失われた事象: #{first}〜#{last}。{source} と照らし合わせました"
        f" (アンカー・写しとの一致 {planned.anchors_checked:,} 件)。")
    if planned.other_trails:
        out(f"別の操作ログの行 {planned.other_trails:,} 件は読み飛ばしました。")
    if planned.cut_line:
        out("途中で切れた最後の行は読み飛ばしました。")
    if planned.left_out is not None:
        a, b = planned.left_out
        out(f"事象 #{a}〜#{b} はどのアンカーにも JSON-lines の写しにもないため戻しません。")
    got = planned.events
    if args.dry_run:
        out(f"戻せる事象: #{got[0]['seq']}〜#{got[-1]['seq']} ({len(got):,} 件)。"
            "--dry-run のため何も加えていません。" if got else "戻せる事象はありません。")
        changes = [(ev, kind) for ev in got if (kind := state_change(ev)) is not None]
    else:
        changes = recover.apply(ctx.db, Actor.cli(), planned, source, state_change)
        out(f"事象 #{got[0]['seq']}〜#{got[-1]['seq']} ({len(got):,} 件) を元の番号・時刻・"
            "ハッシュのまま戻し、audit.recover として記録しました。復元の後の保留も解きました。")
    if changes:
        out(f"状態を変えた操作が {len(changes):,} 件あります。再実行はしていません:"
            " 戻したデータベースにはその変更がありません。内容を確かめ、必要なら改めて"
            "行ってください。")
        for ev, kind in changes:
            when = japan(parse_iso(ev["ts"])).strftime("%Y-%m-%d %H:%M:%S")
            out(f"  #{ev['seq']}  {when}  {ev['actor']}  {ev['action']}  {ev['target']}"
                f"  [{kind}]")
    if args.dry_run:
        return EXIT_OK
    checked = anchor.verify(ctx.db, st.resolved_audit_anchor,
                            stream_path=st.resolved_audit_jsonl,
                            spool=st.resolved_audit_forward_spool,
                            key_file=st.resolved_audit_signing_key_file)
    if checked.ok:
        out(f"検証: 操作ログの連鎖とアンカーは正常です ({checked.result.count:,} 件)。")
        return EXIT_OK
    out(f"検証: まだ正常ではありません: {checked.result.reason}")
    return EXIT_CHECK


def _lifted(dry_run: bool) -> int:
    """Nothing lost, the trail held after a restore: the hold lifted (or, dry, not)."""
    if dry_run:
        out("操作ログに失われた末尾はありません。復元の後の保留を解けます。"
            "--dry-run のため解いていません。")
    else:
        out("操作ログに失われた末尾はありません (復元したバックアップが最新の状態でした)。"
            "復元の後の保留を解き、audit.recover として記録しました。記録を伴う操作を"
            "再開できます。")
    return EXIT_OK


def _held_said(missing: bool) -> None:
    """A held trail, as verify says it (docs/architecture.md §11)."""
    out("このデータベースは復元の後で、操作ログの回復を待っています (保留中): 記録を伴う"
        "操作はデータベースが拒みます。" + (
            "下の失われた事象を戻すと保留が解けます。" if missing else
            "失われた事象がなければ `juki audit recover --from <収集先の写し>` で保留を"
            "解いてください。"))
    out("この検証結果は、保留中のため操作ログに記録していません。")


def _other_trails(count: int) -> None:
    if count:
        out(f"アンカーファイルには別の操作ログ (同じデータ置き場を使う別のデータベース) の"
            f"アンカーも {count:,} 件あります。それらは確かめていません。")


def _tail(args: argparse.Namespace) -> int:
    # on use: the trail loads SQLAlchemy (start-up time)
    from logs.audit import events_after, record_alone

    ctx = context()
    ev = record_alone(ctx.db, Actor.cli(), "audit.tail", details={"follow": args.follow})
    own = ev["seq"]
    after = max(0, own - 1 - max(0, args.lines))
    while True:
        rows = events_after(ctx.db, after, 1000)
        for row in rows:
            after = row["seq"]
            if row["seq"] != own:  # the tail's own record is not part of what was asked
                out(_format_event(row, args.json))
        if not args.follow:
            if not rows or after >= own:
                return EXIT_OK
            continue
        if not rows:
            time.sleep(0.25)


def _format_event(ev: dict[str, Any], as_json: bool) -> str:
    from core.inert import clean_line, dumps  # on use: loads Rich (start-up time)

    if as_json:  # controls escaped as \uXXXX: inert on the terminal, exact for json.loads
        shown = dict(ev)
        shown["details"] = json.loads(ev["details"])
        return dumps(shown, sort_keys=True)

    fields = [
        f"#{ev['seq']}", ev["ts"], ev["actor"], ev["action"], ev["outcome"],
        ev["target"], ev["client_addr"], ev["details"],
    ]
    return "\t".join(clean_line(str(f)) for f in fields)


def _anchor(args: argparse.Namespace) -> int:
    # on use: the trail loads SQLAlchemy (start-up time)
    from logs import anchor
    from logs.audit import record_alone
    from logs.signing import SigningKeyError, load_signer

    ctx = context()
    path = ctx.settings.resolved_audit_anchor
    if path is None:
        raise BadInput("設定 audit_anchor が '-' (無効) のため、アンカーを書けません。")
    key = ctx.settings.resolved_audit_signing_key_file
    try:
        load_signer(key)
    except SigningKeyError as exc:
        record_alone(ctx.db, Actor.cli(), "audit.anchor", outcome="refused",
                     severity="warning", details={"file": str(path), "reason": "signing_key",
                                                  "message": exc.message})
        raise
    record_alone(ctx.db, Actor.cli(), "audit.anchor", details={"file": str(path)})
    written = anchor.anchor_now(ctx.db, path, key)
    out(f"アンカーを書きました: #{written['seq']} {written['hash']} → {path}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from logs.export import check_period, export_events, parse_bound  # on use: SQLAlchemy

    start = parse_bound(args.date_from, field="--from (開始)")
    end = parse_bound(args.date_to, field="--to (終了)", end=True)
    check_period(start, end)
    ctx = context()
    done = export_events(
        ctx.db, Actor.cli(), start=start, end=end, fmt=args.fmt, output=args.output,
        stdout=sys.stdout.buffer, force=args.force,
    )
    summary = f"操作ログ {done.count:,} 件を {args.fmt.upper()} で書き出しました"
    if done.path is not None:
        out(f"{summary}: {done.path}")
        out(f"SHA-256: {done.sha256}")
    else:
        err(f"{summary} (SHA-256 {done.sha256})。")
    return EXIT_OK


def _forward(args: argparse.Namespace) -> int:
    from logs.forward import run as forward  # on use: the trail loads SQLAlchemy

    ctx = context()
    st = ctx.settings
    return forward(
        ctx.db, Actor.cli(), out, url=st.audit_forward_url,
        spool=st.resolved_audit_forward_spool, batch=st.audit_forward_batch,
        backoff_max=st.audit_forward_backoff_max_seconds,
        timeout=st.audit_forward_timeout_seconds, once=args.once, attempts=args.attempts,
        warn=err,
    )


def _collector(args: argparse.Namespace) -> int:
    from logs.collector import run as collect  # on use: loads Rich (start-up time)

    return collect(Path(args.out), out, host=args.host, port=args.port)


def _watch(args: argparse.Namespace) -> int:
    from services.alerts.engine import watch  # on use: the rules load SQLAlchemy

    ctx = context()
    return watch(ctx.db, ctx.settings, out, once=args.once, warn=err)


GROUP = Group("audit", add_parsers, run_chosen)
