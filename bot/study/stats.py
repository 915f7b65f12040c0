"""Study records: a member's streak and counts (/me), the week's report (/study_report).

A "study day" is a day a prompt was sent to the chat; streaks and idle runs count
study days, so weekends and holidays neither break a streak nor count as idle.
Today's prompt, while today lasts, is not yet a miss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import chats
from bot.db.models.study import (
    StudyAttendance,
    StudyCheckin,
    StudyPost,
    StudyReflection,
    StudySession,
)

IDLE_STUDY_DAYS = 3
# How far back streaks and idle runs look (study days).
HISTORY_POSTS = 400
ABSENT = chats.ABSENT


def local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def streak(posts_desc: Sequence[tuple[int, date]], checked: set[int], today: date) -> int:
    """Consecutive study days checked in, newest first; today's open prompt is skipped."""
    count = 0
    for index, (post_id, day) in enumerate(posts_desc):
        if post_id in checked:
            count += 1
            continue
        if index == 0 and day >= today:
            continue
        break
    return count


def idle_run(
    posts_desc: Sequence[tuple[int, date]], checked: set[int], today: date
) -> tuple[int, date | None]:
    """(study days missed in a row up to now, the day of the last check-in or None)."""
    missed = 0
    for index, (post_id, day) in enumerate(posts_desc):
        if post_id in checked:
            return missed, day
        if index == 0 and day >= today:
            continue
        missed += 1
    return missed, None


async def _posts_desc(session: AsyncSession, chat_id: int) -> list[tuple[int, date]]:
    rows = await session.execute(
        select(StudyPost.id, StudyPost.slot_date)
        .where(StudyPost.chat_id == chat_id, StudyPost.message_id.is_not(None))
        .order_by(StudyPost.slot_date.desc(), StudyPost.id.desc())
        .limit(HISTORY_POSTS)
    )
    return [(int(pid), day) for pid, day in rows.all()]


@dataclass(frozen=True, slots=True)
class MemberStats:
    streak: int
    week: int
    week_total: int
    month: int
    month_total: int
    reflections: int
    reflections_month: int
    excellent: int
    sessions_month: int


async def member_stats(
    session: AsyncSession, chat_id: int, user_id: int, now: datetime, zone: ZoneInfo
) -> MemberStats:
    today = now.astimezone(zone).date()
    monday = week_start(today)
    first = today.replace(day=1)
    posts = await _posts_desc(session, chat_id)
    checked = set(
        (
            await session.scalars(
                select(StudyCheckin.post_id).where(
                    StudyCheckin.chat_id == chat_id, StudyCheckin.user_id == user_id
                )
            )
        ).all()
    )
    week_posts = [pid for pid, day in posts if monday <= day <= today]
    month_posts = [pid for pid, day in posts if first <= day <= today]
    month_utc = local_midnight_utc(first, zone)
    mine = (StudyReflection.chat_id == chat_id, StudyReflection.user_id == user_id)
    counted = StudyReflection.counted.is_(True)
    reflections = await session.scalar(
        select(func.count()).select_from(StudyReflection).where(*mine, counted)
    )
    reflections_month = await session.scalar(
        select(func.count())
        .select_from(StudyReflection)
        .where(*mine, counted, StudyReflection.created_at >= month_utc)
    )
    excellent = await session.scalar(
        select(func.count())
        .select_from(StudyReflection)
        .where(*mine, StudyReflection.excellent_at.is_not(None))
    )
    sessions = await session.scalar(
        select(func.count())
        .select_from(StudyAttendance)
        .join(StudySession, StudySession.id == StudyAttendance.session_id)
        .where(
            StudyAttendance.chat_id == chat_id,
            StudyAttendance.user_id == user_id,
            StudySession.starts_at >= month_utc,
        )
    )
    return MemberStats(
        streak=streak(posts, checked, today),
        week=sum(1 for pid in week_posts if pid in checked),
        week_total=len(week_posts),
        month=sum(1 for pid in month_posts if pid in checked),
        month_total=len(month_posts),
        reflections=int(reflections or 0),
        reflections_month=int(reflections_month or 0),
        excellent=int(excellent or 0),
        sessions_month=int(sessions or 0),
    )


@dataclass(frozen=True, slots=True)
class ReportRow:
    user_id: int
    name: str
    checkins: int
    reflections: int
    attended: int


@dataclass(frozen=True, slots=True)
class IdleRow:
    user_id: int
    name: str
    missed: int
    last: date | None


@dataclass
class WeekReport:
    start: date
    end: date
    posts: int
    sessions: int
    rows: list[ReportRow] = field(default_factory=list)
    idle: list[IdleRow] = field(default_factory=list)


async def week_report(
    session: AsyncSession,
    chat_id: int,
    now: datetime,
    zone: ZoneInfo,
    *,
    idle_days: int = IDLE_STUDY_DAYS,
) -> WeekReport:
    """This week's participation per member and who has not studied for a while."""
    today = now.astimezone(zone).date()
    monday = week_start(today)
    sunday = monday + timedelta(days=6)
    names = await chats.members_of(session, chat_id)
    posts = await _posts_desc(session, chat_id)
    week_posts = {pid for pid, day in posts if monday <= day <= sunday}
    all_checkins = (
        await session.execute(
            select(StudyCheckin.post_id, StudyCheckin.user_id).where(
                StudyCheckin.chat_id == chat_id
            )
        )
    ).all()
    checked_by: dict[int, set[int]] = {}
    for pid, uid in all_checkins:
        checked_by.setdefault(int(uid), set()).add(int(pid))
    week_reflections = Counter(
        int(uid)
        for uid, pid in (
            await session.execute(
                select(StudyReflection.user_id, StudyReflection.post_id).where(
                    StudyReflection.chat_id == chat_id, StudyReflection.counted.is_(True)
                )
            )
        ).all()
        if int(pid) in week_posts
    )
    start_utc = local_midnight_utc(monday, zone)
    end_utc = local_midnight_utc(sunday + timedelta(days=1), zone)
    week_sessions = set(
        (
            await session.scalars(
                select(StudySession.id).where(
                    StudySession.chat_id == chat_id,
                    StudySession.status != "cancelled",
                    StudySession.starts_at >= start_utc,
                    StudySession.starts_at < end_utc,
                )
            )
        ).all()
    )
    attended = Counter(
        int(uid)
        for uid, sid in (
            await session.execute(
                select(StudyAttendance.user_id, StudyAttendance.session_id).where(
                    StudyAttendance.chat_id == chat_id
                )
            )
        ).all()
        if sid in week_sessions
    )
    report = WeekReport(monday, sunday, len(week_posts), len(week_sessions))
    for uid, name in names.items():
        checked = checked_by.get(uid, set())
        report.rows.append(
            ReportRow(
                uid,
                name,
                len(checked & week_posts),
                week_reflections[uid],
                attended[uid],
            )
        )
        missed, last = idle_run(posts, checked, today)
        if missed >= idle_days:
            report.idle.append(IdleRow(uid, name, missed, last))
    report.rows.sort(key=lambda r: (-r.checkins, -r.reflections, -r.attended, r.name))
    report.idle.sort(key=lambda r: (-r.missed, r.name))
    return report
