"""Group rounds: the schedule, opening a round, its polls, members' answers and the result.

Answer rules (documented for members in the round's intro):
- each member's first answer to a poll counts, 1 point when correct;
- an answer to an unknown poll, to a closed round's poll, or arriving after the poll's
  ``closes_at`` (plus a few seconds for delivery) is ignored;
- a retracted vote (``option_ids == []``) scores nothing and counts nowhere. A vote after
  a retraction is ignored too: Telegram shows a quiz's correct answer as soon as one
  votes, so a second vote would be no test. (Quiz polls do not allow retracting at all;
  the rule covers polls sent with ``allows_revoting`` and hand-made clients.)
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chats import effective_settings
from bot.config import Config
from bot.content.quizbank import Question
from bot.db.dml import insert_ignore
from bot.db.models import Chat, User
from bot.db.models.quiz import QuizAnswer, QuizPoll, QuizRound
from bot.quiz.reviews import note_answer
from bot.quiz.selection import Asked, Topic, parse_topic, select_questions, topic_key
from bot.scheduling import Scheduler

ROUND_KIND = "quiz"
CLOSE_KIND = "quiz_close"
# The close runs this long after the last poll closes, so every answer is in.
CLOSE_MARGIN = timedelta(seconds=15)
# Answers delivered this long after a poll's closes_at still count (network delay).
ANSWER_GRACE = timedelta(seconds=5)
HISTORY_DAYS = 90
BEST_SHOWN = 5


async def sync_schedule(
    session: AsyncSession, scheduler: Scheduler, chat: Chat, config: Config
) -> None:
    """Derive the chat's daily round schedule from its settings (chat hook; settings call it)."""
    if chat.type not in ("group", "supergroup"):
        return
    settings = effective_settings(chat, config)
    await scheduler.upsert(
        session,
        chat_id=chat.id,
        kind=ROUND_KIND,
        days=str(settings["quiz.days"]),
        time_of_day=str(settings["quiz.time"]),
        timezone=str(settings["timezone"]),
        enabled=bool(settings["quiz.enabled"]) and chat.active,
    )


def round_rng(chat_id: int, at: datetime) -> random.Random:
    """Reproducible choices per chat and moment (a resumed round plans the same)."""
    return random.Random(f"{chat_id}:{at.isoformat()}")


async def open_round(
    session: AsyncSession,
    *,
    chat_id: int,
    kind: str,
    now: datetime,
    bank: Sequence[Question],
    questions: int,
    open_seconds: int,
    slot_at: datetime | None = None,
    started_by: int | None = None,
) -> QuizRound:
    """A new round with its questions chosen; a daily slot's existing round is returned as is."""
    if slot_at is not None:
        existing = await session.scalar(
            select(QuizRound).where(QuizRound.chat_id == chat_id, QuizRound.slot_at == slot_at)
        )
        if existing is not None:
            return existing
    since = now - timedelta(days=HISTORY_DAYS)
    rows = (
        await session.execute(
            select(QuizRound.question_ids, QuizRound.opened_at).where(
                QuizRound.chat_id == chat_id, QuizRound.opened_at >= since
            )
        )
    ).all()
    history = [Asked(qid, opened_at) for ids, opened_at in rows for qid in ids]
    chosen = select_questions(bank, history, questions, now, round_rng(chat_id, slot_at or now))
    round_ = QuizRound(
        chat_id=chat_id,
        kind=kind,
        slot_at=slot_at,
        started_by=started_by,
        status="open",
        question_ids=[q.id for q in chosen],
        open_seconds=open_seconds,
        opened_at=now,
        closes_at=now + timedelta(seconds=open_seconds),
    )
    session.add(round_)
    await session.flush()
    return round_


async def running_round(session: AsyncSession, chat_id: int, now: datetime) -> QuizRound | None:
    """The chat's round that is still taking answers, if any.

    A round whose close never ran (the bot was down past the grace window) stays "open"
    in the table but no longer counts: answers and this check go by ``closes_at``.
    """
    return await session.scalar(
        select(QuizRound)
        .where(
            QuizRound.chat_id == chat_id,
            QuizRound.status == "open",
            QuizRound.closes_at > now - CLOSE_MARGIN,
        )
        .order_by(QuizRound.id.desc())
        .limit(1)
    )


async def round_polls(session: AsyncSession, round_id: int) -> list[QuizPoll]:
    rows = await session.scalars(
        select(QuizPoll).where(QuizPoll.round_id == round_id).order_by(QuizPoll.position)
    )
    return list(rows.all())


async def record_poll(
    session: AsyncSession,
    round_: QuizRound,
    position: int,
    question: Question,
    *,
    chat_id: int,
    message_id: int,
    poll_id: str,
    now: datetime,
) -> QuizPoll:
    """Remember a poll right after Telegram took it (so it is never sent twice)."""
    poll = QuizPoll(
        poll_id=poll_id,
        round_id=round_.id,
        chat_id=chat_id,
        position=position,
        message_id=message_id,
        question_id=question.id,
        requirement=topic_key(question.requirement),
        correct_option=question.answer,
        sent_at=now,
        closes_at=now + timedelta(seconds=round_.open_seconds),
    )
    session.add(poll)
    await session.flush()
    return poll


async def finish_sending(session: AsyncSession, round_id: int) -> QuizRound | None:
    """After the polls went out: the round closes with its last poll; None if none went out."""
    round_ = await session.get(QuizRound, round_id)
    if round_ is None:
        return None
    last = await session.scalar(
        select(func.max(QuizPoll.closes_at)).where(QuizPoll.round_id == round_id)
    )
    if last is None:
        round_.status = "closed"
        round_.closed_at = round_.opened_at
        return None
    round_.closes_at = max(round_.closes_at, last)
    return round_


# --- answers ---


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    """What became of a poll_answer: recorded, retracted, or ignored (and why)."""

    status: str  # recorded | retracted | unknown_poll | closed | late | repeat | nothing
    correct: bool | None = None


# Built once: every member's vote runs it, and building a statement (not running it) was
# the larger part of its cost (bench/updates).
_polls = cast(Table, QuizPoll.__table__)
_rounds = cast(Table, QuizRound.__table__)
_POLL_TO_ANSWER = (
    select(
        _polls.c.chat_id,
        _polls.c.question_id,
        _polls.c.correct_option,
        _polls.c.closes_at,
        _rounds.c.status,
    )
    .select_from(_polls.outerjoin(_rounds, _rounds.c.id == _polls.c.round_id))
    .where(_polls.c.poll_id == bindparam("poll_id"))
)


async def record_answer(
    session: AsyncSession,
    *,
    poll_id: str,
    user_id: int,
    option_ids: Sequence[int],
    now: datetime,
    zone: ZoneInfo,
) -> AnswerOutcome:
    """Apply one poll_answer update by the rules in the module docstring.

    Every member's vote comes through here, so it costs two statements when it counts
    (the poll with its round's status; the insert, which the unique key makes the
    first answer's) plus the review queue's one.
    """
    found = (await session.execute(_POLL_TO_ANSWER, {"poll_id": poll_id})).first()
    if found is None:
        return AnswerOutcome("unknown_poll")
    chat_id, question_id, correct_option, closes_at, round_status = found
    if round_status != "open":
        return AnswerOutcome("closed")
    if now > closes_at + ANSWER_GRACE:
        return AnswerOutcome("late")
    if not option_ids:
        existing = await session.scalar(
            select(QuizAnswer).where(QuizAnswer.poll_id == poll_id, QuizAnswer.user_id == user_id)
        )
        if existing is None or existing.retracted_at is not None:
            return AnswerOutcome("nothing")
        existing.retracted_at = now
        return AnswerOutcome("retracted")
    option = option_ids[0]
    correct = option == correct_option
    recorded = await insert_ignore(
        session,
        QuizAnswer,
        {
            "poll_id": poll_id,
            "chat_id": chat_id,
            "user_id": user_id,
            "option": option,
            "correct": correct,
            "answered_at": now,
        },
        ("poll_id", "user_id"),
    )
    if not recorded:
        return AnswerOutcome("repeat")  # the first answer counts (or another process's)
    await note_answer(session, user_id, question_id, correct, now, zone)
    return AnswerOutcome("recorded", correct)


# --- the result ---


@dataclass(frozen=True, slots=True)
class QuestionResult:
    position: int
    question_id: str
    topic: Topic
    answered: int
    correct: int


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int  # equal points share a rank (1, 1, 3)
    user_id: int
    name: str
    points: int
    answered: int


@dataclass(frozen=True, slots=True)
class TopicRate:
    topic: Topic
    answered: int
    correct: int


@dataclass(frozen=True, slots=True)
class RoundResult:
    round_id: int
    chat_id: int
    kind: str
    participants: int
    questions: list[QuestionResult]
    # The day's best members in this chat (all rounds of the local day), most points first.
    best: list[Standing]
    best_more: int
    hardest: TopicRate | None


def hardest_requirement(questions: Sequence[QuestionResult]) -> TopicRate | None:
    """The requirement with the lowest correct rate, if any was answered and one was missed.

    "general" questions are not a requirement; when every answer was right there is no
    hardest requirement worth naming.
    """
    totals: dict[Topic, list[int]] = defaultdict(lambda: [0, 0])
    for q in questions:
        if q.topic == "general" or q.answered == 0:
            continue
        totals[q.topic][0] += q.answered
        totals[q.topic][1] += q.correct
    rates = [TopicRate(t, a, c) for t, (a, c) in totals.items()]
    if not rates:
        return None
    worst = min(rates, key=lambda r: (r.correct / r.answered, -r.answered, str(r.topic)))
    return worst if worst.correct < worst.answered else None


def local_day_start(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


async def round_result(
    session: AsyncSession, round_id: int, now: datetime, zone: ZoneInfo
) -> RoundResult | None:
    round_ = await session.get(QuizRound, round_id)
    if round_ is None:
        return None
    polls = await round_polls(session, round_id)
    rows = (
        await session.execute(
            select(QuizAnswer.poll_id, QuizAnswer.user_id, QuizAnswer.correct).where(
                QuizAnswer.poll_id.in_([p.poll_id for p in polls]),
                QuizAnswer.retracted_at.is_(None),
            )
        )
    ).all()
    per_poll: dict[str, list[bool]] = defaultdict(list)
    users: set[int] = set()
    for poll_id, user_id, correct in rows:
        per_poll[poll_id].append(bool(correct))
        users.add(user_id)
    questions = [
        QuestionResult(
            position=p.position,
            question_id=p.question_id,
            topic=parse_topic(p.requirement),
            answered=len(per_poll[p.poll_id]),
            correct=sum(per_poll[p.poll_id]),
        )
        for p in polls
    ]
    board = await standings(session, round_.chat_id, since=local_day_start(now, zone), limit=None)
    top = board[0].points if board else 0
    best = [s for s in board if s.points == top and top > 0]
    return RoundResult(
        round_id=round_.id,
        chat_id=round_.chat_id,
        kind=round_.kind,
        participants=len(users),
        questions=questions,
        best=best[:BEST_SHOWN],
        best_more=max(0, len(best) - BEST_SHOWN),
        hardest=hardest_requirement(questions),
    )


async def mark_closed(
    session: AsyncSession, round_id: int, now: datetime, result_message_id: int | None
) -> None:
    round_ = await session.get(QuizRound, round_id)
    if round_ is None:
        return
    round_.status = "closed"
    round_.closed_at = now
    round_.result_message_id = result_message_id


# --- the leaderboard ---


def period_start(period: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """Monday 00:00 of this week, the 1st of this month (chat's time zone), or None (all)."""
    day = local_day_start(now, zone)
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "all":
        return None
    raise ValueError(f"unknown period {period!r}")


async def standings(
    session: AsyncSession, chat_id: int, *, since: datetime | None, limit: int | None = 10
) -> list[Standing]:
    """Members by points (correct first answers) in the chat since a moment."""
    points = func.sum(case((QuizAnswer.correct.is_(True), 1), else_=0))
    answered = func.count(QuizAnswer.id)
    query = (
        select(QuizAnswer.user_id, points, answered, User)
        .outerjoin(User, User.id == QuizAnswer.user_id)
        .where(QuizAnswer.chat_id == chat_id, QuizAnswer.retracted_at.is_(None))
        .group_by(QuizAnswer.user_id, User.id)
        .order_by(points.desc(), answered.asc(), QuizAnswer.user_id)
    )
    if since is not None:
        query = query.where(QuizAnswer.answered_at >= since)
    if limit is not None:
        query = query.limit(limit)
    result: list[Standing] = []
    previous: tuple[int, int] | None = None
    for index, (user_id, pts, count, user) in enumerate((await session.execute(query)).all()):
        pts = int(pts or 0)
        rank = previous[1] if previous is not None and previous[0] == pts else index + 1
        previous = (pts, rank)
        name = user.display_name if user is not None else str(user_id)
        result.append(Standing(rank, int(user_id), name, pts, int(count)))
    return result
