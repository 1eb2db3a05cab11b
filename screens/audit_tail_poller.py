"""The audit tail's poller: a thread that asks for what committed after the last line.

Every ``POLL_SECONDS`` the ``Poller`` reads the lines newer than the last seq it saw
(through the ``TailReader`` the screen opened) and posts them to the view as a
``TailBatch``; a refusal or an error is posted as ``TailFailed`` and the polling stops.
A database that is away (``StorageFault``) does not stop it: it is said once (a
``TailFailed`` that is not ``stopped``), asked again every ``RETRY_SECONDS``, and its
return posted as ``TailResumed`` (docs/architecture.md §12).
A thread of its own, not a worker: it lives as long as the tail is in front, and the
screen stops it (``halt``) when covered or closed.
"""

from __future__ import annotations

import threading

from textual.message import Message
from textual.widget import Widget

from core.crashlog import log_unexpected
from core.errors import JukiError, StorageFault
from core.settings import Settings
from logs.tail import TailLine
from services.audit_tail import MAX_BATCH, TailReader

POLL_SECONDS = 0.025
"""How often the poller asks for new lines: at 500 events a second a batch (13 lines)
is a fraction of a 40-row terminal, so every line is painted at least once."""


class TailBatch(Message):
    """Lines that committed after the last poll (for filter generation ``gen``)."""

    def __init__(self, gen: int, lines: list[TailLine]) -> None:
        super().__init__()
        self.gen = gen
        self.lines = lines


RETRY_SECONDS = 1.0
"""While the database is away, how often the poller asks again."""


class TailFailed(Message):
    """The poll failed: ``stopped`` when the poller gave up, else it waits and retries."""

    def __init__(self, gen: int, message: str, *, stopped: bool = True) -> None:
        super().__init__()
        self.gen = gen
        self.message = message
        self.stopped = stopped


class TailResumed(Message):
    """The database is back: the poller that waited reads again."""

    def __init__(self, gen: int) -> None:
        super().__init__()
        self.gen = gen


class Poller(threading.Thread):
    """Polls the service for new lines and posts them; stops when told or when refused.

    Posting never blocks; while the view has more than a few batches queued the poller
    waits, so a busy screen receives fewer, larger batches instead of a backlog.
    """

    def __init__(
        self, reader: TailReader, after: int, view: Widget, gen: int, settings: Settings,
    ) -> None:
        super().__init__(daemon=True, name=f"audit-tail-poll-{gen}")
        self.reader = reader
        self.settings = settings
        self.after = after
        self.view = view
        self.gen = gen
        self.halt = threading.Event()

    def run(self) -> None:
        waiting = False
        while not self.halt.is_set():
            try:
                lines, self.after = self.reader.newer(self.after)
            except StorageFault as exc:
                if not waiting:
                    self.view.post_message(TailFailed(self.gen, exc.waiting, stopped=False))
                waiting = True
                self.halt.wait(RETRY_SECONDS)
                continue
            except JukiError as exc:
                self.view.post_message(TailFailed(self.gen, exc.message))
                return
            except Exception as exc:  # the database went away: say so, stop polling
                message = log_unexpected(self.settings, exc)
                self.view.post_message(TailFailed(self.gen, message))
                return
            if waiting:
                waiting = False
                self.view.post_message(TailResumed(self.gen))
            if lines:
                self.view.post_message(TailBatch(self.gen, lines))
            while self.view.message_queue_size > 3 and not self.halt.is_set():
                self.halt.wait(0.02)
            if len(lines) < MAX_BATCH:  # a full batch: more is waiting, ask again at once
                self.halt.wait(POLL_SECONDS)
