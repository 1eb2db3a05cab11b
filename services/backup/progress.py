"""What a long step says while it runs: a line now and then on the operator's stderr.

The services take a ``Say`` (one line of text) and never print; the CLI passes one that
writes to stderr. ``ticking`` says how far a step has come every few seconds, reading the
bytes done from a function (a growing file's size, a counter), so a copy of gigabytes is
never silent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Say = Callable[[str], None]


def quiet(_line: str) -> None:
    """A ``Say`` that says nothing (tests, benches)."""


def size(n: float) -> str:
    """Bytes as a person reads them: 1.2 GB, 340 MB, 12 KB."""
    for unit, step in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{int(n)} B"


@contextmanager
def ticking(say: Say, label: str, done: Callable[[], int], total: int | None = None,
            every: float = 2.0) -> Iterator[None]:
    """Say ``label`` with the bytes ``done()`` (of ``total``) every ``every`` seconds
    while the block runs."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            try:
                now = done()
            except OSError:
                continue
            if total:
                say(f"{label}: {size(now)} / {size(total)} ({min(100, now * 100 // total)}%)")
            else:
                say(f"{label}: {size(now)}")

    thread = threading.Thread(target=tick, name="juki-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
