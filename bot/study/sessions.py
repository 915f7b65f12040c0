"""Collective study sessions: schedule, remind, open and close attendance.

A session's reminders (a day and an hour before), its opening and its closing are
one-off schedules of the scheduling core, so they survive restarts and run once.
Refs: ``<id>:day`` / ``<id>:hour`` for reminders, ``<id>`` for opening and closing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chats import effective_settings
from bot.config import Config
from bot.db.dml import insert_ignore
from bot.db.models import Chat, User
from bot.db.models.study import StudyAttendance, StudySession
from bot.scheduling import Scheduler

KIND_REMIND = "session_reminder"
KIND_OPEN = "session_open"
KIND_CLOSE = "session_close"
KINDS = (KIND_REMIND, KIND_OPEN, KIND_CLOSE)
TOPIC_MAX = 100
REMINDERS = (("day", timedelta(days=1)), ("hour", timedelta(hours=1)))


def session_minutes(chat: Chat | None, config: Config) -> int:
    """The chat's session length: its setting ``study.session_minutes`` or the config's."""
    return int(effective_settings(chat, config)["study.session_minutes"])


def ends_at(row: StudySession) -> datetime:
    return row.starts_at + timedelta(minutes=row.minutes)


async def create_session(
    session: AsyncSession,
    scheduler: Scheduler,
    *,
    chat_id: int,
    topic: str,
    starts_at: datetime,
    minutes: int,
    created_by: int | None,
    now: datetime,
    timezone: str,
) -> StudySession:
    """Store the session and schedule its reminders, opening and closing."""
    row = StudySession(
        chat_id=chat_id,
        topic=topic[:TOPIC_MAX],
        starts_at=starts_at,
        minutes=minutes,
        status="scheduled",
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    for which, before in REMINDERS:
        at = starts_at - before
        if at > now:
            await scheduler.schedule_once(
                session,
                chat_id=chat_id,
                kind=KIND_REMIND,
                ref=f"{row.id}:{which}",
                run_at=at,
                timezone=timezone,
                payload={"session": row.id, "which": which},
            )
    for kind, at in ((KIND_OPEN, starts_at), (KIND_CLOSE, ends_at(row))):
        await scheduler.schedule_once(
            session,
            chat_id=chat_id,
            kind=kind,
            ref=str(row.id),
            run_at=at,
            timezone=timezone,
            payload={"session": row.id},
        )
    return row


async def set_announcement(session: AsyncSession, session_id: int, message_id: int) -> None:
    row = await session.get(StudySession, session_id)
    if row is not None:
        row.announce_message_id = message_id


async def cancel_session(
    session: AsyncSession, scheduler: Scheduler, session_id: int, chat_id: int
) -> StudySession | None:
    """Cancel a session that has not started; None if it cannot be (started, unknown)."""
    row = await session.get(StudySession, session_id, with_for_update=True)
    if row is None or row.chat_id != chat_id or row.status != "scheduled":
        return None
    row.status = "cancelled"
    await scheduler.cancel_prefix(session, chat_id, KIND_REMIND, f"{row.id}:")
    await scheduler.cancel(session, chat_id, KIND_OPEN, str(row.id))
    await scheduler.cancel(session, chat_id, KIND_CLOSE, str(row.id))
    return row


async def due_reminder(session: AsyncSession, session_id: int) -> StudySession | None:
    """The session to remind of, if it is still planned."""
    row = await session.get(StudySession, session_id)
    return row if row is not None and row.status == "scheduled" else None


async def begin_opening(
    session: AsyncSession, session_id: int, now: datetime
) -> StudySession | None:
    """Mark a planned session open; None if there is nothing to open.

    A session whose whole length passed while the bot was down is closed quietly.
    """
    row = await session.get(StudySession, session_id, with_for_update=True)
    if row is None or row.status != "scheduled":
        return None
    if now >= ends_at(row):
        row.status = "closed"
        row.closed_at = now
        return None
    row.status = "open"
    row.opened_at = now
    return row


async def set_open_message(session: AsyncSession, session_id: int, message_id: int) -> None:
    row = await session.get(StudySession, session_id)
    if row is not None:
        row.open_message_id = message_id


async def close(session: AsyncSession, session_id: int, now: datetime) -> StudySession | None:
    """Close attendance; the session if it was open (so a summary is due), else None."""
    row = await session.get(StudySession, session_id, with_for_update=True)
    if row is None or row.status in ("closed", "cancelled"):
        return None
    was_open = row.status == "open"
    row.status = "closed"
    row.closed_at = now
    return row if was_open else None


@dataclass(frozen=True, slots=True)
class AttendResult:
    # done | already | closed | not_open | unknown
    status: str
    at: datetime | None = None
    session: StudySession | None = None


async def attend(
    session: AsyncSession, session_id: int, user_id: int, now: datetime
) -> AttendResult:
    row = await session.get(StudySession, session_id)
    if row is None:
        return AttendResult("unknown")
    if row.status == "scheduled":
        return AttendResult("not_open", session=row)
    if row.status in ("closed", "cancelled") or now >= ends_at(row):
        return AttendResult("closed", session=row)
    created = await insert_ignore(
        session,
        StudyAttendance,
        {"session_id": row.id, "chat_id": row.chat_id, "user_id": user_id, "attended_at": now},
        ("session_id", "user_id"),
    )
    at = await session.scalar(
        select(StudyAttendance.attended_at).where(
            StudyAttendance.session_id == row.id, StudyAttendance.user_id == user_id
        )
    )
    return AttendResult("done" if created else "already", at or now, row)


async def attendance_count(session: AsyncSession, session_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(StudyAttendance)
            .where(StudyAttendance.session_id == session_id)
        )
        or 0
    )


async def attendee_names(session: AsyncSession, session_id: int) -> list[str]:
    rows = await session.execute(
        select(StudyAttendance.user_id, User)
        .outerjoin(User, User.id == StudyAttendance.user_id)
        .where(StudyAttendance.session_id == session_id)
        .order_by(StudyAttendance.attended_at, StudyAttendance.id)
    )
    return [user.display_name if user else str(uid) for uid, user in rows.all()]
