"""Drains the outbox in the background through the sender (TG via Sender)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot import outbox
from bot.clock import Clock
from bot.db import Database
from bot.db.models import Chat
from bot.scheduling import owner_host_and_pid
from bot.sender import Sender, Sent
from bot.ui import Button

logger = logging.getLogger(__name__)

# Called after a row was delivered, e.g. to remember the message id of a notice.
OnSent = Callable[[outbox.OutboxItem, Sent], Awaitable[None]]


# Owners of the workers running in this process (tests run several applications in one).
_LIVE_OWNERS: set[str] = set()
RECOVER_EVERY = 30.0  # seconds between looks for rows of dead processes
# A stopping worker lets the sends in flight finish this long: a send cancelled after it
# reached Telegram is delivered but never marked, and would be sent again after the restart.
STOP_GRACE_SECONDS = 10.0


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap, safe check: leave it to the lease
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
    except (OSError, IndexError):
        return True


def owner_is_dead(owner: str) -> bool:
    """True only when sure: an owner id (host:pid:random) of this host whose process is gone,
    or of this very process but no running worker (a previous life of this pid)."""
    if owner in _LIVE_OWNERS:
        return False
    host, pid = owner_host_and_pid(owner)
    if host != socket.gethostname()[:32] or pid is None:
        return False
    return pid == os.getpid() or not _pid_alive(pid)


def payload_buttons(payload: dict[str, object]) -> list[list[Button]] | None:
    rows = payload.get("buttons")
    if not isinstance(rows, list):
        return None
    return [[Button(**button) for button in row] for row in rows]


class OutboxWorker:
    """Claims pending rows in batches and sends them concurrently within the rate limits."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        clock: Clock,
        owner: str,
        *,
        concurrency: int = 16,
        lease_seconds: int = 300,
        idle_seconds: float = 2.0,
    ) -> None:
        self.db = db
        self.sender = sender
        self.clock = clock
        self.owner = owner
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.idle_seconds = idle_seconds
        self.on_sent: dict[str, OnSent] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.delivered = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            _LIVE_OWNERS.add(self.owner)
            self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Finish the sends in flight (up to ``grace`` seconds), hand back the rest, stop."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                logger.warning("outbox: sends still in flight after %.0f s; cancelling", grace)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            finally:
                self._task = None
                self._stopping = False
                _LIVE_OWNERS.discard(self.owner)

    async def recover(self) -> int:
        """Put rows claimed by dead processes back (e.g. the bot before a crash)."""
        async with self.db.session() as session:
            released = await outbox.release_dead(session, owner_is_dead)
        if released:
            logger.info("outbox: %d rows of a process that died are queued again", released)
        return released

    async def _run(self) -> None:
        recovered_at = -RECOVER_EVERY
        # Woken (a row queued in this process) or just started: claim straight away.
        # Otherwise a cheap read first; rows queued by another process (the notice
        # command line, a second bot) are found within idle_seconds either way.
        woken = True
        while not self._stopping:
            if time.monotonic() - recovered_at >= RECOVER_EVERY:
                recovered_at = time.monotonic()
                try:
                    await self.recover()
                except Exception:
                    logger.exception("outbox recovery failed; retrying later")
            try:
                sent = await self.drain_once() if woken or await self._any_ready() else 0
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("outbox drain failed; retrying shortly")
                sent = 0
            woken = sent > 0
            if sent == 0 and not self._stopping:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
                    woken = True
                except TimeoutError:
                    pass

    async def _any_ready(self) -> bool:
        async with self.db.read() as session:
            return await outbox.any_ready(session, self.clock.now())

    async def drain_once(self, batch: int | None = None) -> int:
        """Deliver claimable rows until none is left; returns how many were handled.

        Rows are claimed ``batch`` at a time (default four per concurrent send), the next
        batch while the last rows of the previous one are still in flight: a pause between
        batches would leave the rate budget unused (about 2% of a broadcast's time).
        """
        limit = batch or self.concurrency * 4
        queue: asyncio.Queue[outbox.OutboxItem] = asyncio.Queue()
        claiming = asyncio.Lock()
        exhausted = False
        handled = 0
        # Rows claimed by this drain and not yet marked: never claimed a second time.
        held: set[int] = set()

        async def claim() -> None:
            nonlocal exhausted
            async with self.db.session() as session:
                items = await outbox.claim_batch(
                    session,
                    self.owner,
                    self.clock.now(),
                    limit=limit,
                    lease=self.lease,
                    exclude=held,
                )
            exhausted = not items
            for item in items:
                held.add(item.id)
                queue.put_nowait(item)

        async def worker() -> None:
            nonlocal handled
            while not self._stopping:
                if queue.qsize() < self.concurrency and not exhausted and not claiming.locked():
                    async with claiming:
                        await claim()
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    if exhausted or not claiming.locked():
                        return
                    await asyncio.sleep(0.005)  # another worker is claiming the next rows
                    continue
                try:
                    await self._deliver(item)
                finally:
                    held.discard(item.id)
                handled += 1

        await claim()
        if queue.empty():
            return 0
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        if not queue.empty():
            # Stopping: rows never tried go back at once, for this process's successor.
            left = [queue.get_nowait().id for _ in range(queue.qsize())]
            async with self.db.session() as session:
                await outbox.release(session, left)
        return handled

    async def _deliver(self, item: outbox.OutboxItem) -> None:
        text = str(item.payload.get("text", ""))
        result = await self.sender.send(item.chat_id, text, buttons=payload_buttons(item.payload))
        now = self.clock.now()
        async with self.db.session() as session:
            if result is None:
                # Forbidden (the bot was removed) marks the chat inactive: skipped, not failed.
                chat = await session.get(Chat, item.chat_id)
                if chat is not None and not chat.active:
                    await outbox.mark(session, item.id, outbox.SKIPPED, now, error=outbox.INACTIVE)
                else:
                    await outbox.mark(session, item.id, outbox.FAILED, now, error="not delivered")
            else:
                await outbox.mark(session, item.id, outbox.SENT, now, message_id=result.message_id)
        if result is not None:
            self.delivered += 1
            hook = self.on_sent.get(item.kind)
            if hook is not None:
                try:
                    await hook(item, result)
                except Exception:
                    logger.exception("after-send hook for %s failed", item.kind)
