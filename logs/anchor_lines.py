"""An anchor line: what it holds, what is signed, and whose it is
(docs/architecture.md §10).

A line is one JSON object: ``{"hash", "seq", "sig", "trail", "ts"}``. ``trail`` names
the trail it belongs to (``logs.trail``); ``sig`` is the Ed25519 signature
(``logs.signing``), in base64, over ``MESSAGE_TAG`` followed by the other four fields as
compact JSON with sorted keys (``message``) — so neither the seq, the hash, the time nor
the trail can be changed without the key.

Whose a line is, for one trail (``sort_out``):

* it names this trail: it must carry a good signature under this trail's public key,
  or the file was rewritten (the line is named);
* it names another trail: another database's anchor in the same file (two databases
  given the same data directory): counted, never checked against this table;
* it names no trail (written before migration 0015): a legacy line, trusted as before
  and checked against the table when it is older than the trail's name and its seq is
  within the head of that moment (``legacy_seq``); another database's when it is older
  but beyond that head; a line written after the trail was named and carrying no name
  and no signature is refused (a rewrite, or a process that could not read the key).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logs import signing
from logs.trail import Trail

MESSAGE_TAG = b"juki audit anchor v1\n"


def message(seq: int, hash_: str, trail: str, ts: str) -> bytes:
    """The bytes an anchor's signature is made over."""
    body = {"hash": hash_, "seq": seq, "trail": trail, "ts": ts}
    return MESSAGE_TAG + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    ts: str
    line: int
    trail: str | None = None
    sig: str | None = None


class BadAnchorFile(ValueError):
    pass


def parse(data: Any) -> Anchor | None:
    """An anchor from a decoded line (``line`` left 0), or None when it is not one."""
    if not isinstance(data, dict):
        return None
    seq, hash_, ts = data.get("seq"), data.get("hash"), data.get("ts")
    trail, sig = data.get("trail"), data.get("sig")
    if type(seq) is not int or seq < 0 or not isinstance(hash_, str) or len(hash_) != 64:
        return None
    if not isinstance(ts, str) or not all(x is None or isinstance(x, str) for x in (trail, sig)):
        return None
    return Anchor(seq, hash_, ts, 0, trail, sig)


def read_anchors(path: Path) -> Iterator[Anchor]:
    """Every anchor in the file, in file order; a line that is not one raises."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise BadAnchorFile(
                    f"アンカーファイル {path} の {number} 行目を読めません (改ざんの疑い)。"
                ) from exc
            anchor = parse(data)
            if anchor is None:
                raise BadAnchorFile(
                    f"アンカーファイル {path} の {number} 行目の内容が正しくありません"
                    " (改ざんの疑い)。"
                )
            yield Anchor(anchor.seq, anchor.hash, anchor.ts, number, anchor.trail, anchor.sig)


@dataclass
class Sorted:
    """One trail's anchors out of a file that may hold several trails' lines."""

    own: list[Anchor] = field(default_factory=list)  # checked against the table
    legacy: int = 0  # of ``own``: unsigned lines from before the trail was named
    other: int = 0  # another trail's lines (or unsigned lines older than ours)


def sort_out(
    anchors: Iterable[Anchor], trail: Trail | None, public: Callable[[], bytes], where: str,
) -> Sorted:
    """This trail's anchors (``own``), each signed line's signature checked with the key
    ``public()`` gives (asked only when one is met); ``BadAnchorFile`` names the first
    line that fails. ``trail`` None (a database before migration 0015): every line is
    taken as it was before, unsigned."""
    found = Sorted()
    for a in anchors:
        if trail is None:
            found.own.append(a)
            continue
        if a.trail is None and a.sig is None and a.ts < trail.created_at:
            if a.seq <= trail.legacy_seq:
                found.own.append(a)
                found.legacy += 1
            else:
                found.other += 1
            continue
        if a.trail is not None and a.trail != trail.id:
            found.other += 1
            continue
        if not a.sig:
            raise BadAnchorFile(
                f"{where} の {a.line} 行目のアンカーに署名がありません (書き換えの疑い、"
                "または署名鍵を読めなかったプロセスの書いたもの)。")
        if a.trail is None or not signing.verify(
                public(), message(a.seq, a.hash, a.trail, a.ts), a.sig):
            raise BadAnchorFile(
                f"{where} の {a.line} 行目のアンカーの署名が正しくありません (書き換えの疑い)。")
        found.own.append(a)
    return found


def public_key_of(trail: Trail | None, key_file: Path | None) -> Callable[[], bytes]:
    """The public key anchors of ``trail`` are checked with, loaded on first use: the
    ``.pub`` beside ``key_file`` (or the key's own), whose fingerprint must be the one
    the trail's row records. Failures raise ``BadAnchorFile`` with the reason."""
    loaded: list[bytes] = []

    def public() -> bytes:
        if loaded:
            return loaded[0]
        if key_file is None:
            raise BadAnchorFile("署名の公開鍵の場所 (audit_signing_key_file) がありません。")
        try:
            key = signing.load_public(key_file)
        except signing.SigningKeyError as exc:
            raise BadAnchorFile(f"アンカーの署名を確かめられません: {exc.message}") from None
        recorded = trail.signing_key if trail is not None else ""
        if recorded != signing.fingerprint(key):
            raise BadAnchorFile(
                f"署名の公開鍵 {signing.public_path(key_file)} (指紋"
                f" {signing.fingerprint(key)}) は、この操作ログに記録された鍵"
                f" ({recorded or 'なし'}) ではありません。")
        loaded.append(key)
        return key

    return public
