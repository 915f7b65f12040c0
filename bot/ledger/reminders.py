"""The reminder ladder of an item and the weekly digest, on top of the scheduling core.

Each open item has one recurring daily schedule (kind ``ledger_reminder``, ref
``"<item id>:ladder"``) at the chat's reminder time whose ``next_due_at`` jumps straight to
the next day that has a reminder: the offsets before the deadline (3 and 1 days by
default), the day itself, then every day while overdue. A recurring schedule never dies
when a slot is missed (a one-off would), each slot is claimed once in the DB (restarts,
two processes), and the core replays a slot missed within the grace window once.
A snooze adds a one-off (ref ``"<item id>:snooze"``) a day later and holds the ladder back
until then. Closing, cancelling or submitting an item removes both (``cancel_prefix``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import parse_hhmm
from bot.db.models import Chat
from bot.db.models.ledger import OPEN, LedgerItem
from bot.scheduling import Scheduler, SlotRun, local_to_utc

KIND_REMINDER = "ledger_reminder"
KIND_DIGEST = "ledger_digest"
DIGEST_DAYS = "weekdays:1"  # Monday, at the reminder time

StageKind = Literal["before", "due", "overdue"]


@dataclass(frozen=True, slots=True)
class Stage:
    kind: StageKind
    # Days left (before), 0 (due), days overdue (overdue).
    days: int


@dataclass(frozen=True, slots=True)
class LadderSettings:
    zone: ZoneInfo
    time_of_day: str
    offsets: tuple[int, ...]
    escalate_after: int

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> LadderSettings:
        offsets = tuple(int(d) for d in settings["ledger.reminder_offsets_days"])
        return cls(
            zone=ZoneInfo(str(settings["timezone"])),
            time_of_day=str(settings["ledger.reminder_time"]),
            offsets=tuple(sorted({d for d in offsets if d > 0}, reverse=True)),
            escalate_after=int(settings["ledger.escalate_after_days"]),
        )


def ladder_ref(item_id: int) -> str:
    return f"{item_id}:ladder"


def snooze_ref(item_id: int) -> str:
    return f"{item_id}:snooze"


def item_prefix(item_id: int) -> str:
    return f"{item_id}:"


def parse_ref(ref: str) -> tuple[int, str] | None:
    head, _, which = ref.partition(":")
    if not head.isdigit() or which not in ("ladder", "snooze"):
        return None
    return int(head), which


def stage_for(deadline: date, day: date, offsets: Sequence[int]) -> Stage | None:
    """What the ladder says on ``day``: a reminder before, on, or after the deadline, or none."""
    delta = (deadline - day).days
    if delta > 0:
        return Stage("before", delta) if delta in offsets else None
    if delta == 0:
        return Stage("due", 0)
    return Stage("overdue", -delta)


def describe(deadline: date, day: date) -> Stage:
    """The stage of any day, ladder or not (a snoozed reminder lands on any day)."""
    delta = (deadline - day).days
    if delta > 0:
        return Stage("before", delta)
    return Stage("due", 0) if delta == 0 else Stage("overdue", -delta)


def next_ladder_day(deadline: date, start: date, offsets: Sequence[int]) -> date:
    """The first day on or after ``start`` that has a reminder."""
    before = sorted(
        deadline - timedelta(days=o) for o in offsets if deadline - timedelta(days=o) >= start
    )
    if before:
        return before[0]
    return max(start, deadline)


def slot_of(day: date, ladder: LadderSettings) -> datetime:
    return local_to_utc(day, parse_hhmm(ladder.time_of_day), ladder.zone)


def next_ladder_slot(deadline: date, after: datetime, ladder: LadderSettings) -> datetime:
    """The first reminder moment strictly after ``after``."""
    day = next_ladder_day(deadline, after.astimezone(ladder.zone).date(), ladder.offsets)
    slot = slot_of(day, ladder)
    if slot <= after:
        slot = slot_of(next_ladder_day(deadline, day + timedelta(days=1), ladder.offsets), ladder)
    return slot


async def sync_item(
    session: AsyncSession,
    scheduler: Scheduler,
    item: LedgerItem,
    ladder: LadderSettings,
    now: datetime,
) -> datetime | None:
    """Make the item's schedules match it: armed while open, gone otherwise."""
    if item.status != OPEN:
        await scheduler.cancel_prefix(session, item.chat_id, KIND_REMINDER, item_prefix(item.id))
        return None
    schedule = await scheduler.upsert(
        session,
        chat_id=item.chat_id,
        kind=KIND_REMINDER,
        days="daily",
        time_of_day=ladder.time_of_day,
        timezone=ladder.zone.key,
        ref=ladder_ref(item.id),
    )
    due = next_ladder_slot(item.deadline_date, now, ladder)
    schedule.next_due_at = due
    if item.snoozed_until is not None and item.snoozed_until > now:
        await scheduler.schedule_once(
            session,
            chat_id=item.chat_id,
            kind=KIND_REMINDER,
            ref=snooze_ref(item.id),
            run_at=item.snoozed_until,
            timezone=ladder.zone.key,
        )
    else:
        await scheduler.cancel(session, item.chat_id, KIND_REMINDER, snooze_ref(item.id))
    await session.flush()
    if scheduler.on_change is not None:
        scheduler.on_change(due)
    return due


async def ensure_digest(
    session: AsyncSession, scheduler: Scheduler, chat_id: int, ladder: LadderSettings
) -> None:
    """The weekly digest: Mondays at the reminder time, in the chat's zone."""
    await scheduler.upsert(
        session,
        chat_id=chat_id,
        kind=KIND_DIGEST,
        days=DIGEST_DAYS,
        time_of_day=ladder.time_of_day,
        timezone=ladder.zone.key,
    )


@dataclass(frozen=True, slots=True)
class ReminderPlan:
    """What a reminder slot should do; the handler sends, then calls ``mark_done``."""

    item_id: int
    chat_id: int
    day: date
    stage: Stage
    # Send the reminder to the owner (False: held back by a snooze, or sent already).
    remind: bool
    # Tell the admins (the item is overdue long enough and they were not told yet).
    escalate: bool
    snoozed: bool


async def plan_reminder(
    session: AsyncSession,
    scheduler: Scheduler,
    run: SlotRun,
    ladder: LadderSettings,
) -> ReminderPlan | None:
    """Decide what this slot does and re-arm the ladder at its next reminder day."""
    parsed = parse_ref(run.ref)
    if parsed is None:
        return None
    item_id, which = parsed
    item = await session.get(LedgerItem, item_id)
    chat = await session.get(Chat, run.chat_id)
    if item is None or item.chat_id != run.chat_id or item.status != OPEN:
        await scheduler.cancel_prefix(session, run.chat_id, KIND_REMINDER, item_prefix(item_id))
        return None
    if chat is None or not chat.active:
        return None
    day = run.slot_at.astimezone(ladder.zone).date()
    if which == "snooze":
        item.snoozed_until = None
        return ReminderPlan(
            item.id,
            item.chat_id,
            day,
            describe(item.deadline_date, day),
            remind=True,
            escalate=False,
            snoozed=True,
        )
    following = slot_of(
        next_ladder_day(item.deadline_date, day + timedelta(days=1), ladder.offsets), ladder
    )
    schedule = await scheduler.get(session, run.chat_id, KIND_REMINDER, run.ref)
    if following <= run.now:
        # Caught up after downtime with a newer reminder also due: that one speaks.
        return None
    if schedule is not None:
        schedule.next_due_at = following
    stage = stage_for(item.deadline_date, day, ladder.offsets)
    if stage is None:
        return None  # not a reminder day (the schedule was re-derived from "now")
    held = item.snoozed_until is not None and run.slot_at < item.snoozed_until
    escalate = (
        stage.kind == "overdue"
        and stage.days >= ladder.escalate_after
        and item.escalated_at is None
    )
    remind = not held and item.reminded_on != day
    if not (remind or escalate):
        return None
    return ReminderPlan(
        item.id, item.chat_id, day, stage, remind=remind, escalate=escalate, snoozed=False
    )


async def mark_done(session: AsyncSession, plan: ReminderPlan, now: datetime) -> None:
    """After sending: remember the day (a retaken slot will not repeat it)."""
    item = await session.get(LedgerItem, plan.item_id)
    if item is None:
        return
    if plan.remind and not plan.snoozed:
        item.reminded_on = plan.day
    if plan.escalate:
        item.escalated_at = now
