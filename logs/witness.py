"""Witnesses of the trail's tail kept outside the database, besides the anchor file.

Anchors come every ``audit_anchor_every_events`` events, so on their own they leave the
events after the newest anchor unseen: cut them and rewrite ``audit_head`` and the chain
still fits. Two more records outside the database say how far the trail had reached:

* the JSON-lines copy (``logs.stream``): each event's line, carrying its seq and hash,
  is written after the commit and before the act returns to its caller;
* the forwarder's state (``juki audit forward``): the highest seq the collector has
  acknowledged.

This module only reads them; ``logs.anchor.verify`` compares them with the table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logs.trail import Trail

# Lines read back from the end of the JSON-lines copy at most: its newest events, which is
# all a check of the tail needs (the chain vouches for everything before a matching one).
MAX_LINES = 20_000
# Lines read past the first one at or below the floor: processes append in commit order
# only roughly, so a few newer lines may sit just above an older one.
SLACK = 256
_BLOCK = 1 << 16


@dataclass(frozen=True)
class Witness:
    seq: int
    hash: str | None  # None: only the seq is known (the forwarder's acknowledgement)
    source: str  # where it was read, as shown in verify's message
    kind: str  # which witness, in a word or two


def _backwards(path: Path) -> Iterator[bytes]:
    """The file's lines from the last to the first (a last line cut short included)."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        carry = b""
        while end > 0:
            start = max(0, end - _BLOCK)
            fh.seek(start)
            pieces = (fh.read(end - start) + carry).split(b"\n")
            end = start
            carry = pieces.pop(0) if start > 0 else b""  # may begin mid-line: keep it
            yield from reversed(pieces)


def _seq_hash(data: object) -> tuple[int, str] | None:
    if not isinstance(data, dict):
        return None
    seq, hash_ = data.get("seq"), data.get("hash")
    if type(seq) is int and seq > 0 and isinstance(hash_, str) and len(hash_) == 64:
        return seq, hash_
    return None


def _mine(data: dict[str, Any], seq: int, trail: Trail | None) -> bool:
    """Whether a line is of ``trail``: it names it, or it names none (written before the
    trail was named) and lies within the head of that moment. Any line when ``trail`` is
    None (a database from before names)."""
    if trail is None:
        return True
    named = data.get("trail")
    if named is None or named == "":
        return seq <= trail.legacy_seq
    return named == trail.id


def from_stream(path: Path, floor: int = 0, trail: Trail | None = None) -> list[Witness]:
    """Events (and anchors) of ``trail`` in the newest lines of the JSON-lines copy above
    ``floor``; another trail's lines (another database writing the same copy) are passed
    over.

    A line that is not JSON (one cut short by a kill) is passed over: the copy is a
    witness, not evidence to be verified itself.
    """
    if not path.is_file():
        return []
    found: list[Witness] = []
    left: int | None = None
    for count, raw in enumerate(_backwards(path)):
        if count >= MAX_LINES or left == 0:
            break
        if left is not None:
            left -= 1
        if b'"seq"' not in raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        event = _seq_hash(data)
        source = f"JSON-lines の写し {path.name}"
        holder: Any = data
        if event is None:
            holder = data.get("anchor")
            event = _seq_hash(holder)
            source = f"JSON-lines の写しのアンカー {path.name}"
        if event is None or not _mine(holder, event[0], trail):
            continue
        if event[0] > floor:
            found.append(Witness(event[0], event[1], source, "JSON-lines の写し"))
        elif left is None:
            left = SLACK
    return found


def from_forwarder(spool: Path, trail: Trail | None = None) -> list[Witness]:
    """The collector's acknowledged seq as the forwarder keeps it (none if it never ran,
    or when it forwarded another trail)."""
    from logs.forward import read_acked

    acked = read_acked(spool, trail.id if trail is not None else None)
    if acked <= 0:
        return []
    return [Witness(acked, None, f"転送先が受信済み、{spool.name}/state.json", "転送の受信済み")]
