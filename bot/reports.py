"""Firm reports: participation, reflections, quizzes and the ledger, per period and per member.

Pure queries over the feature tables, no Telegram. A "member" is a user the bot has
seen in the group who has not left it (Telegram does not give bots the member list),
so rates are of the members known to the bot.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import chats
from bot.chats import GROUP_TYPES
from bot.db.models import Chat, Member
from bot.db.models.ledger import ACTIVE_STATUSES, CLOSED, LedgerItem
from bot.db.models.quiz import QuizAnswer, QuizPoll
from bot.db.models.study import (
    StudyAttendance,
    StudyCheckin,
    StudyPost,
    StudyReflection,
    StudySession,
)
from bot.ledger.service import is_overdue

PeriodKind = Literal["week", "last_week", "month"]
REQUIREMENT_KEYS = ("1", "2", "3", "4", "5")
MAX_WEEKS = 60


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    start: date  # inclusive, chat-local
    end: date  # inclusive

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def utc_bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(self.start, time(0), tzinfo=zone)
        end = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=zone)
        return start, end


def week_of(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    return Period("week", monday, monday + timedelta(days=6))


def period_for(kind: PeriodKind | str, today: date) -> Period:
    if kind == "last_week":
        week = week_of(today - timedelta(days=7))
        return Period("last_week", week.start, week.end)
    if kind == "month":
        last = calendar.monthrange(today.year, today.month)[1]
        return Period("month", today.replace(day=1), today.replace(day=last))
    return week_of(today)


@dataclass
class MemberRow:
    user_id: int
    name: str
    checkins: int = 0
    reflections: int = 0
    sessions: int = 0
    quiz_answered: int = 0
    quiz_correct: int = 0
    ledger_owned: int = 0
    ledger_closed: int = 0
    ledger_overdue: int = 0

    @property
    def quiz_rate(self) -> float | None:
        return self.quiz_correct / self.quiz_answered if self.quiz_answered else None


@dataclass
class FirmReport:
    chat_id: int
    title: str
    period: Period
    members: int
    prompts: int
    checkin_rate_by_day: list[tuple[date, float | None]]
    reflections_by_day: list[tuple[date, int]]
    sessions: int
    attendance: int
    quiz_by_requirement: list[tuple[str, int, int]]  # (requirement, answered, correct)
    ledger_open: int
    ledger_overdue: int
    ledger_closed_in_period: int
    ledger_closed_total: int
    rows: list[MemberRow] = field(default_factory=list)

    @property
    def checkins(self) -> int:
        return sum(r.checkins for r in self.rows)

    @property
    def reflections(self) -> int:
        return sum(n for _, n in self.reflections_by_day)

    @property
    def checkin_rate(self) -> float | None:
        """Check-ins over (members × prompts) for the period."""
        if not self.members or not self.prompts:
            return None
        return min(1.0, self.checkins / (self.members * self.prompts))

    @property
    def quiz_answered(self) -> int:
        return sum(a for _, a, _ in self.quiz_by_requirement)

    @property
    def quiz_rate(self) -> float | None:
        correct = sum(c for _, _, c in self.quiz_by_requirement)
        return correct / self.quiz_answered if self.quiz_answered else None

    @property
    def hardest_requirement(self) -> str | None:
        rated = [(c / a, r) for r, a, c in self.quiz_by_requirement if a and r in REQUIREMENT_KEYS]
        return min(rated)[1] if rated else None


async def firm_report(
    session: AsyncSession, chat: Chat, period: Period, zone: ZoneInfo, now: datetime
) -> FirmReport:
    """Everything the firm report shows for one chat and period."""
    chat_id = chat.id
    names = await chats.members_of(session, chat_id)
    rows = {uid: MemberRow(uid, name) for uid, name in names.items()}
    start_utc, end_utc = period.utc_bounds(zone)

    posts = dict(
        (
            await session.execute(
                select(StudyPost.id, StudyPost.slot_date).where(
                    StudyPost.chat_id == chat_id,
                    StudyPost.slot_date >= period.start,
                    StudyPost.slot_date <= period.end,
                )
            )
        ).all()
    )
    checkins_by_day: dict[date, set[int]] = defaultdict(set)
    for post_id, user_id in (
        await session.execute(
            select(StudyCheckin.post_id, StudyCheckin.user_id).where(
                StudyCheckin.post_id.in_(list(posts))
            )
        )
    ).all():
        checkins_by_day[posts[post_id]].add(int(user_id))
        if int(user_id) in rows:
            rows[int(user_id)].checkins += 1
    reflections_by_day: Counter[date] = Counter()
    for post_id, user_id in (
        await session.execute(
            select(StudyReflection.post_id, StudyReflection.user_id).where(
                StudyReflection.post_id.in_(list(posts)), StudyReflection.counted.is_(True)
            )
        )
    ).all():
        reflections_by_day[posts[post_id]] += 1
        if int(user_id) in rows:
            rows[int(user_id)].reflections += 1
    post_days = set(posts.values())
    members = len(names)
    rate_by_day = [
        (
            day,
            (len(checkins_by_day[day] & names.keys()) / members if members else 0.0)
            if day in post_days
            else None,
        )
        for day in period.days
    ]

    session_ids = list(
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
    attendance = 0
    for (user_id,) in (
        await session.execute(
            select(StudyAttendance.user_id).where(StudyAttendance.session_id.in_(session_ids))
        )
    ).all():
        attendance += 1
        if int(user_id) in rows:
            rows[int(user_id)].sessions += 1

    right = func.sum(case((QuizAnswer.correct.is_(True), 1), else_=0))
    quiz: dict[str, list[int]] = {}
    for requirement, user_id, answered, correct in (
        await session.execute(
            select(QuizPoll.requirement, QuizAnswer.user_id, func.count(QuizAnswer.id), right)
            .join(QuizPoll, QuizPoll.poll_id == QuizAnswer.poll_id)
            .where(
                QuizAnswer.chat_id == chat_id,
                QuizAnswer.retracted_at.is_(None),
                QuizAnswer.answered_at >= start_utc,
                QuizAnswer.answered_at < end_utc,
            )
            .group_by(QuizPoll.requirement, QuizAnswer.user_id)
        )
    ).all():
        slot = quiz.setdefault(str(requirement), [0, 0])
        slot[0] += int(answered)
        slot[1] += int(correct or 0)
        if int(user_id) in rows:
            rows[int(user_id)].quiz_answered += int(answered)
            rows[int(user_id)].quiz_correct += int(correct or 0)
    quiz_rows: list[tuple[str, int, int]] = [
        (r, quiz.get(r, [0, 0])[0], quiz.get(r, [0, 0])[1]) for r in REQUIREMENT_KEYS
    ]
    quiz_rows += [(r, a, c) for r, (a, c) in sorted(quiz.items()) if r not in REQUIREMENT_KEYS]

    items = (await session.scalars(select(LedgerItem).where(LedgerItem.chat_id == chat_id))).all()
    ledger_open = ledger_overdue = closed_in_period = closed_total = 0
    for item in items:
        overdue = is_overdue(item, now, zone)
        if item.status in ACTIVE_STATUSES:
            ledger_open += 1
            ledger_overdue += overdue
        if item.status == CLOSED:
            closed_total += 1
            if item.closed_at is not None and start_utc <= item.closed_at < end_utc:
                closed_in_period += 1
        owner = rows.get(item.owner_user_id or 0)
        if owner is not None and item.status != "cancelled":
            owner.ledger_owned += 1
            owner.ledger_closed += item.status == CLOSED
            owner.ledger_overdue += overdue

    return FirmReport(
        chat_id=chat_id,
        title=chat.title or str(chat_id),
        period=period,
        members=members,
        prompts=len(posts),
        checkin_rate_by_day=rate_by_day,
        reflections_by_day=[(day, reflections_by_day[day]) for day in period.days],
        sessions=len(session_ids),
        attendance=attendance,
        quiz_by_requirement=quiz_rows,
        ledger_open=ledger_open,
        ledger_overdue=ledger_overdue,
        ledger_closed_in_period=closed_in_period,
        ledger_closed_total=closed_total,
        rows=list(rows.values()),
    )


async def first_activity(session: AsyncSession, chat: Chat, zone: ZoneInfo) -> date:
    """The first day worth a weekly sheet: the first prompt, else when the chat joined."""
    first_post = await session.scalar(
        select(func.min(StudyPost.slot_date)).where(StudyPost.chat_id == chat.id)
    )
    joined = chat.created_at.astimezone(zone).date()
    return min(first_post, joined) if first_post else joined


def weeks_between(first: date, today: date) -> list[Period]:
    """Every Monday-to-Sunday week from ``first``'s to ``today``'s, newest last (capped)."""
    weeks = []
    start = week_of(first).start
    while start <= today:
        weeks.append(Period("week", start, start + timedelta(days=6)))
        start += timedelta(days=7)
    return weeks[-MAX_WEEKS:]


@dataclass(frozen=True, slots=True)
class FirmRow:
    """A firm group in the association's overview."""

    chat_id: int
    title: str
    members: int
    participants: int
    overdue: int

    @property
    def participation(self) -> float | None:
        return self.participants / self.members if self.members else None


SortKey = Literal["participation", "overdue", "name"]


async def firms_overview(
    session: AsyncSession, now: datetime, zone: ZoneInfo, sort: SortKey | str = "participation"
) -> list[FirmRow]:
    """Every active firm group: this week's participation and its overdue ledger items.

    A few grouped queries, whatever the number of chats. "This week" and "overdue" are
    judged in the association's zone (config ``timezone``).
    """
    today = now.astimezone(zone).date()
    week = week_of(today)
    groups = (
        await session.execute(
            select(Chat.id, Chat.title).where(Chat.active.is_(True), Chat.type.in_(GROUP_TYPES))
        )
    ).all()
    members = dict(
        (
            await session.execute(
                select(Member.chat_id, func.count())
                .where(Member.status.not_in(chats.ABSENT))
                .group_by(Member.chat_id)
            )
        ).all()
    )
    participants = dict(
        (
            await session.execute(
                select(StudyCheckin.chat_id, func.count(func.distinct(StudyCheckin.user_id)))
                .join(StudyPost, StudyPost.id == StudyCheckin.post_id)
                .join(
                    Member,
                    (Member.chat_id == StudyCheckin.chat_id)
                    & (Member.user_id == StudyCheckin.user_id),
                )
                .where(
                    StudyPost.slot_date >= week.start,
                    StudyPost.slot_date <= week.end,
                    Member.status.not_in(chats.ABSENT),
                )
                .group_by(StudyCheckin.chat_id)
            )
        ).all()
    )
    overdue: Counter[int] = Counter()
    due = await session.execute(
        select(LedgerItem.chat_id, LedgerItem.deadline_date, LedgerItem.deadline_time).where(
            LedgerItem.status.in_(ACTIVE_STATUSES), LedgerItem.deadline_date <= today
        )
    )
    local_now = now.astimezone(zone)
    for chat_id, deadline, at in due.all():
        if deadline < today or (at is not None and local_now.strftime("%H:%M") > at):
            overdue[int(chat_id)] += 1
    rows = [
        FirmRow(
            chat_id=int(chat_id),
            title=title or str(chat_id),
            members=int(members.get(chat_id, 0)),
            participants=int(participants.get(chat_id, 0)),
            overdue=overdue[int(chat_id)],
        )
        for chat_id, title in groups
    ]
    return sort_firms(rows, sort)


def sort_firms(rows: Iterable[FirmRow], sort: SortKey | str) -> list[FirmRow]:
    if sort == "overdue":
        return sorted(rows, key=lambda r: (-r.overdue, r.title))
    if sort == "name":
        return sorted(rows, key=lambda r: r.title)
    # Lowest participation first: the firms that need a nudge.
    return sorted(
        rows, key=lambda r: (r.participation if r.participation is not None else -1, r.title)
    )


def requirement_names(requirements: Sequence[tuple[int, str]]) -> dict[str, str]:
    """Requirement number (as text) -> short name, from the content's requirements."""
    # "1" -> "践行者"
    return {str(number): name for number, name in requirements}
