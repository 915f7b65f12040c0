"""Scheduling core: schedules live in the DB; each due slot is claimed once, then run.

The JobQueue only wakes ``Scheduler.tick`` up. A tick finds schedules whose
``next_due_at`` has passed, and for every slot between then and now inserts a row
in ``slot_claims`` (unique per chat, kind, ref and slot time) *before* acting, so a
slot is acted on once across restarts and across processes sharing one database.
A slot older than the grace window when it is first seen is recorded as missed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import WorkCalendar
from bot.clock import Clock
from bot.config import SchedulingConfig, check_days, parse_hhmm
from bot.db import Database
from bot.db.models import Schedule, SlotClaim

logger = logging.getLogger(__name__)

ONCE = "once"
# A schedule that slept longer than this is not replayed slot by slot.
MAX_SLOTS_PER_TICK = 400
# Chats whose due slots run at once in a tick. Sending is mostly waiting (Telegram's
# latency, the rate limiter): one slot after another served a busy morning at about half
# of Telegram's 30 messages/s (bench/morning). The sender keeps the rate either way.
TICK_CONCURRENCY = 16
_SEARCH_DAYS = 400
# Finished slot claims (done, failed, missed) are deleted once their slot is this old. No
# slot that old can come due again (the grace window is at most 7 days), and a bot for
# 10,000 groups adds ~28,000 claims a day. A tick deletes one batch at most (500 rows,
# ~20 ms of a tick on SQLite per bench/scale --history-days 90): every tick while there
# is a backlog (a bot upgraded with months of claims), then once an hour.
CLAIM_RETENTION = timedelta(days=60)
PRUNE_EVERY = timedelta(hours=1)
PRUNE_BATCH = 500


def process_id() -> str:
    """Identifies this process in claims (host, pid and a random part for restarts)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_host_and_pid(owner: str) -> tuple[str, int | None]:
    """The host and pid of a ``process_id()`` (pid None if the id is not one)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    return host, int(pid_text) if pid_text.isdigit() else None


def day_matches(days: str, day: date, calendar: WorkCalendar) -> bool:
    if days == "daily":
        return True
    if days == "workdays":
        return calendar.is_workday(day)
    if days.startswith("weekdays:"):
        wanted = {int(part) for part in days.split(":", 1)[1].split(",")}
        return day.isoweekday() in wanted
    raise ValueError(f"unknown days rule {days!r}")


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time in a zone as UTC.

    A time skipped by a DST change (02:30 on a spring-forward day) resolves to the
    same instant as the offset before the change would give, i.e. 03:30 summer time;
    a repeated time (autumn) resolves to its first occurrence. Either way one instant.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_slot_after(
    after: datetime,
    days: str,
    time_of_day: str,
    zone: ZoneInfo,
    calendar: WorkCalendar,
) -> datetime | None:
    """The first slot strictly after ``after`` (UTC), or None if none within a year."""
    at = parse_hhmm(time_of_day)
    day = after.astimezone(zone).date() - timedelta(days=1)
    for _ in range(_SEARCH_DAYS):
        if day_matches(days, day, calendar):
            slot = local_to_utc(day, at, zone)
            if slot > after:
                return slot
        day += timedelta(days=1)
    return None


def slots_between(
    start: datetime,
    end: datetime,
    days: str,
    time_of_day: str,
    zone: ZoneInfo,
    calendar: WorkCalendar,
) -> list[datetime]:
    """Every slot s with start <= s <= end."""
    found: list[datetime] = []
    slot: datetime | None = start - timedelta(microseconds=1)
    while True:
        assert slot is not None
        slot = next_slot_after(slot, days, time_of_day, zone, calendar)
        if slot is None or slot > end:
            return found
        found.append(slot)


@dataclass(frozen=True, slots=True)
class SlotRun:
    """What an action is told: which schedule, which slot, and when it runs."""

    schedule_id: int
    chat_id: int
    kind: str
    ref: str
    slot_at: datetime
    now: datetime
    payload: dict[str, Any]
    # True when the slot is being run late (caught up after downtime).
    late: bool


Action = Callable[[SlotRun], Awaitable[None]]


@dataclass
class TickResult:
    ran: list[SlotRun] = field(default_factory=list)
    missed: list[tuple[int, str, str, datetime]] = field(default_factory=list)
    failed: list[tuple[SlotRun, str]] = field(default_factory=list)
    skipped: int = 0


class Scheduler:
    """Owns the schedules table and runs due slots exactly once."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: SchedulingConfig,
        calendar: WorkCalendar,
        owner: str | None = None,
        concurrency: int = TICK_CONCURRENCY,
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.calendar = calendar
        self.owner = owner or process_id()
        self.concurrency = max(1, concurrency)
        self.actions: dict[str, Action] = {}
        # Called with the new next_due_at after a change, so the app can wake up then.
        self.on_change: Callable[[datetime], None] | None = None
        self.last_tick_at: datetime | None = None
        # When finished claims are next looked for (None: at the next tick).
        self._prune_at: datetime | None = None

    def register(self, kind: str, action: Action) -> None:
        if kind in self.actions:
            raise ValueError(f"an action for {kind!r} is already registered")
        self.actions[kind] = action

    # --- changing schedules (inside the caller's session; the caller commits) ---

    def _next_due(self, schedule: Schedule, after: datetime) -> datetime | None:
        if schedule.days == ONCE:
            return schedule.run_at if schedule.run_at and schedule.run_at > after else None
        assert schedule.time_of_day is not None
        return next_slot_after(
            after, schedule.days, schedule.time_of_day, ZoneInfo(schedule.timezone), self.calendar
        )

    async def upsert(
        self,
        session: AsyncSession,
        *,
        chat_id: int,
        kind: str,
        days: str,
        time_of_day: str,
        timezone: str,
        ref: str = "",
        enabled: bool = True,
        payload: dict[str, Any] | None = None,
    ) -> Schedule:
        """Create or change a recurring schedule; its next slot is derived from now."""
        days = check_days(days)
        parsed = parse_hhmm(time_of_day)
        time_of_day = f"{parsed.hour:02d}:{parsed.minute:02d}"
        ZoneInfo(timezone)
        schedule = await self.get(session, chat_id, kind, ref)
        if schedule is None:
            schedule = Schedule(chat_id=chat_id, kind=kind, ref=ref, payload=payload or {})
            session.add(schedule)
        schedule.days = days
        schedule.time_of_day = time_of_day
        schedule.run_at = None
        schedule.timezone = timezone
        schedule.enabled = enabled
        if payload is not None:
            schedule.payload = payload
        schedule.next_due_at = self._next_due(schedule, self.clock.now()) if enabled else None
        await session.flush()
        self._changed(schedule)
        return schedule

    async def schedule_once(
        self,
        session: AsyncSession,
        *,
        chat_id: int,
        kind: str,
        ref: str,
        run_at: datetime,
        timezone: str = "UTC",
        payload: dict[str, Any] | None = None,
    ) -> Schedule:
        """Create or move a one-off action (a reminder, a session opening)."""
        if run_at.tzinfo is None:
            raise ValueError("run_at must be aware")
        schedule = await self.get(session, chat_id, kind, ref)
        if schedule is None:
            schedule = Schedule(chat_id=chat_id, kind=kind, ref=ref, payload=payload or {})
            session.add(schedule)
        schedule.days = ONCE
        schedule.time_of_day = None
        schedule.run_at = run_at.astimezone(UTC)
        schedule.timezone = timezone
        schedule.enabled = True
        if payload is not None:
            schedule.payload = payload
        # A one-off moved into the past still runs (once) if inside the grace window.
        schedule.next_due_at = schedule.run_at
        await session.flush()
        self._changed(schedule)
        return schedule

    async def cancel(self, session: AsyncSession, chat_id: int, kind: str, ref: str = "") -> bool:
        result = await session.execute(
            delete(Schedule).where(
                Schedule.chat_id == chat_id, Schedule.kind == kind, Schedule.ref == ref
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def cancel_prefix(
        self, session: AsyncSession, chat_id: int, kind: str, ref_prefix: str
    ) -> int:
        """Cancel every schedule of a kind whose ref starts with a prefix (an item's ladder)."""
        result = await session.execute(
            delete(Schedule).where(
                Schedule.chat_id == chat_id,
                Schedule.kind == kind,
                Schedule.ref.startswith(ref_prefix, autoescape=True),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def set_enabled(self, session: AsyncSession, chat_id: int, enabled: bool) -> None:
        """Pause or resume every schedule of a chat (bot removed / added back)."""
        rows = (await session.scalars(select(Schedule).where(Schedule.chat_id == chat_id))).all()
        now = self.clock.now()
        for schedule in rows:
            schedule.enabled = enabled
            schedule.next_due_at = self._next_due(schedule, now) if enabled else None

    async def get(
        self, session: AsyncSession, chat_id: int, kind: str, ref: str = ""
    ) -> Schedule | None:
        return await session.scalar(
            select(Schedule).where(
                Schedule.chat_id == chat_id, Schedule.kind == kind, Schedule.ref == ref
            )
        )

    def _changed(self, schedule: Schedule) -> None:
        if self.on_change is not None and schedule.next_due_at is not None:
            self.on_change(schedule.next_due_at)

    # --- running ---

    async def next_due_at(self) -> datetime | None:
        """The earliest pending slot of any enabled schedule."""
        async with self.db.session() as session:
            return await session.scalar(
                select(Schedule.next_due_at)
                .where(Schedule.enabled.is_(True), Schedule.next_due_at.is_not(None))
                .order_by(Schedule.next_due_at)
                .limit(1)
            )

    async def tick(self, batch: int = 500) -> TickResult:
        """Run every slot that is due now; safe to call from several processes at once."""
        now = self.clock.now()
        self.last_tick_at = now
        result = TickResult()
        await self._retake_expired(now, result)
        await self._prune_finished(now)
        while True:
            async with self.db.session() as session:
                due = (
                    await session.scalars(
                        select(Schedule)
                        .where(Schedule.enabled.is_(True), Schedule.next_due_at <= now)
                        .order_by(Schedule.next_due_at, Schedule.id)
                        .limit(batch)
                    )
                ).all()
            if not due:
                return result
            await self._run_due(due, now, result)
            if len(due) < batch:
                return result

    async def _run_due(self, due: Sequence[Schedule], now: datetime, result: TickResult) -> None:
        """Run due schedules: up to ``concurrency`` chats at once, one chat's in due order.

        Each slot is still claimed in the DB before its action runs, so running chats side
        by side changes nothing about once-only. A failure (the DB gone) stops the tick as
        before, after the chats already running have finished: cancelling a send that
        reached Telegram would send it again when its claim is retaken.
        """
        by_chat: dict[int, list[Schedule]] = {}
        for schedule in due:
            by_chat.setdefault(schedule.chat_id, []).append(schedule)
        waiting = collections.deque(by_chat.values())
        errors: list[Exception] = []

        async def worker() -> None:
            while waiting and not errors:
                for schedule in waiting.popleft():
                    try:
                        await self._run_schedule(schedule, now, result)
                    except Exception as exc:
                        errors.append(exc)
                        return

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(by_chat)))))
        if errors:
            raise errors[0]

    def _due_slots(self, schedule: Schedule, now: datetime) -> list[datetime]:
        start = schedule.next_due_at
        assert start is not None
        if schedule.days == ONCE:
            return [start] if start <= now else []
        assert schedule.time_of_day is not None
        slots = slots_between(
            start,
            now,
            schedule.days,
            schedule.time_of_day,
            ZoneInfo(schedule.timezone),
            self.calendar,
        )
        if len(slots) > MAX_SLOTS_PER_TICK:
            logger.warning(
                "schedule %s (%s) slept through %d slots; recording the last %d",
                schedule.id,
                schedule.kind,
                len(slots),
                MAX_SLOTS_PER_TICK,
            )
            slots = slots[-MAX_SLOTS_PER_TICK:]
        return slots

    async def _run_schedule(self, schedule: Schedule, now: datetime, result: TickResult) -> None:
        slots = self._due_slots(schedule, now)
        grace = self.config.grace
        for slot in slots:
            if now - slot > grace:
                if await self._claim(schedule, slot, now, status="missed"):
                    result.missed.append((schedule.chat_id, schedule.kind, schedule.ref, slot))
                    logger.info(
                        "missed %s for chat %s at %s (older than the grace window)",
                        schedule.kind,
                        schedule.chat_id,
                        slot.isoformat(),
                    )
                else:
                    result.skipped += 1
                continue
            if not await self._claim(schedule, slot, now, status="running"):
                result.skipped += 1
                continue
            run = SlotRun(
                schedule_id=schedule.id,
                chat_id=schedule.chat_id,
                kind=schedule.kind,
                ref=schedule.ref,
                slot_at=slot,
                now=now,
                payload=dict(schedule.payload or {}),
                late=now - slot > timedelta(minutes=1),
            )
            await self._execute(run, result)
        await self._advance(schedule, now)

    async def _execute(self, run: SlotRun, result: TickResult) -> None:
        action = self.actions.get(run.kind)
        error: str | None = None
        if action is None:
            error = f"no action registered for {run.kind!r}"
            logger.error("%s (chat %s)", error, run.chat_id)
        else:
            try:
                await action(run)
            except Exception as exc:
                # One chat's failure must not stop the others' slots.
                logger.exception("scheduled %s for chat %s failed", run.kind, run.chat_id)
                error = f"{type(exc).__name__}: {exc}"[:1000]
        async with self.db.session() as session:
            await session.execute(
                update(SlotClaim)
                .where(
                    SlotClaim.chat_id == run.chat_id,
                    SlotClaim.kind == run.kind,
                    SlotClaim.ref == run.ref,
                    SlotClaim.slot_at == run.slot_at,
                )
                .values(
                    status="failed" if error else "done",
                    finished_at=self.clock.now(),
                    error=error,
                )
            )
        if error:
            result.failed.append((run, error))
        else:
            result.ran.append(run)

    async def _claim(
        self, schedule: Schedule, slot: datetime, now: datetime, *, status: str
    ) -> bool:
        """Insert the slot's claim; False if another tick (or process) has it already."""
        try:
            async with self.db.session() as session:
                session.add(
                    SlotClaim(
                        chat_id=schedule.chat_id,
                        kind=schedule.kind,
                        ref=schedule.ref,
                        slot_at=slot,
                        status=status,
                        claimed_by=self.owner,
                        claimed_at=now,
                        lease_until=now + timedelta(seconds=self.config.lease_seconds)
                        if status == "running"
                        else None,
                        finished_at=now if status == "missed" else None,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def _advance(self, schedule: Schedule, now: datetime) -> None:
        """Move the schedule past ``now``; a finished one-off is disabled."""
        async with self.db.session() as session:
            fresh = await session.get(
                Schedule, schedule.id, with_for_update=self.db.dialect != "sqlite"
            )
            if fresh is None:
                return  # cancelled while its slot ran
            if fresh.next_due_at is not None and fresh.next_due_at > now:
                return  # another process, or the action itself, moved it already
            if fresh.days == ONCE:
                if fresh.run_at is not None and fresh.run_at > now:
                    fresh.next_due_at = fresh.run_at  # the action re-armed it
                else:
                    fresh.next_due_at = None
                    fresh.enabled = False
            else:
                fresh.next_due_at = self._next_due(fresh, now)

    async def _prune_finished(self, now: datetime) -> None:
        """Delete a batch of finished claims past CLAIM_RETENTION, if it is time to look."""
        if self._prune_at is not None and now < self._prune_at:
            return
        oldest = (
            select(SlotClaim.id)
            .where(SlotClaim.slot_at < now - CLAIM_RETENTION, SlotClaim.status != "running")
            .order_by(SlotClaim.slot_at)
            .limit(PRUNE_BATCH)
        )
        async with self.db.session() as session:
            result = await session.execute(
                delete(SlotClaim).where(SlotClaim.id.in_(oldest.scalar_subquery()))
            )
        deleted = int(getattr(result, "rowcount", 0) or 0)
        if deleted:
            logger.info("deleted %d finished slot claims older than %s", deleted, CLAIM_RETENTION)
        self._prune_at = now if deleted >= PRUNE_BATCH else now + PRUNE_EVERY

    async def _retake_expired(self, now: datetime, result: TickResult) -> None:
        """Run again the slots whose claimer died mid-action (lease expired)."""
        async with self.db.session() as session:
            stale = (
                await session.scalars(
                    select(SlotClaim)
                    .where(SlotClaim.status == "running", SlotClaim.lease_until < now)
                    .limit(100)
                )
            ).all()
        for claim in stale:
            async with self.db.session() as session:
                taken = await session.execute(
                    update(SlotClaim)
                    .where(
                        SlotClaim.id == claim.id,
                        SlotClaim.status == "running",
                        SlotClaim.claimed_by == claim.claimed_by,
                    )
                    .values(
                        claimed_by=self.owner,
                        claimed_at=now,
                        lease_until=now + timedelta(seconds=self.config.lease_seconds),
                    )
                )
                if not getattr(taken, "rowcount", 0):
                    continue
                schedule = await session.scalar(
                    select(Schedule).where(
                        Schedule.chat_id == claim.chat_id,
                        Schedule.kind == claim.kind,
                        Schedule.ref == claim.ref,
                    )
                )
            if now - claim.slot_at > self.config.grace:
                async with self.db.session() as session:
                    await session.execute(
                        update(SlotClaim)
                        .where(SlotClaim.id == claim.id)
                        .values(status="missed", finished_at=now, error="claimer died; too late")
                    )
                result.missed.append((claim.chat_id, claim.kind, claim.ref, claim.slot_at))
                continue
            logger.warning(
                "taking over %s for chat %s at %s from %s",
                claim.kind,
                claim.chat_id,
                claim.slot_at.isoformat(),
                claim.claimed_by,
            )
            run = SlotRun(
                schedule_id=schedule.id if schedule else 0,
                chat_id=claim.chat_id,
                kind=claim.kind,
                ref=claim.ref,
                slot_at=claim.slot_at,
                now=now,
                payload=dict(schedule.payload or {}) if schedule else {},
                late=True,
            )
            await self._execute(run, result)

    async def claims(self, chat_id: int, kind: str | None = None) -> Sequence[SlotClaim]:
        """The claims of a chat, oldest first (reports and tests)."""
        async with self.db.session() as session:
            query = select(SlotClaim).where(SlotClaim.chat_id == chat_id)
            if kind is not None:
                query = query.where(SlotClaim.kind == kind)
            return (await session.scalars(query.order_by(SlotClaim.slot_at, SlotClaim.id))).all()
