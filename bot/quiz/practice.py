"""Private practice: sets of questions answered with buttons, and review sessions.

A member has one current set: their latest unfinished one. A button belongs to a set
and a position; pressing it when the set is not the current one, or the position was
answered already, changes nothing (stale buttons, double taps).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content.quizbank import Question
from bot.db.models.quiz import PracticeAnswer, PracticeSet
from bot.quiz.reviews import due_items, note_answer
from bot.quiz.selection import TOPICS, Asked, Topic, select_questions, topic_key

SET_SIZE = 10
HISTORY_DAYS = 90


@dataclass(frozen=True, slots=True)
class Step:
    """A question to show: which set, which position of how many."""

    set_id: int
    kind: str
    position: int
    total: int
    question: Question


@dataclass(frozen=True, slots=True)
class Score:
    kind: str
    requirement: Topic | None
    answered: int
    correct: int
    wrong: int


@dataclass(frozen=True, slots=True)
class PracticeOutcome:
    """What a button press did.

    status: ok | stale (not the member's current set, or an unknown one) | answered
    (this position was answered already: a double tap).
    """

    status: str
    answered: Step | None = None  # the question just answered
    chosen: int | None = None
    correct: bool | None = None
    step: Step | None = None  # the next question
    score: Score | None = None  # when the set is finished


async def start_practice(
    session: AsyncSession,
    user_id: int,
    bank: Sequence[Question],
    now: datetime,
    rng: random.Random,
    *,
    requirement: int | None = None,
    size: int = SET_SIZE,
) -> Step | None:
    """A new set (the member's current one from now on); None if the bank has nothing."""
    since = now - timedelta(days=HISTORY_DAYS)
    rows = (
        await session.execute(
            select(PracticeAnswer.question_id, PracticeAnswer.answered_at).where(
                PracticeAnswer.user_id == user_id, PracticeAnswer.answered_at >= since
            )
        )
    ).all()
    history = [Asked(qid, at) for qid, at in rows]
    topics: Sequence[Topic] = (requirement,) if requirement is not None else TOPICS
    chosen = select_questions(bank, history, size, now, rng, topics=topics)
    rng.shuffle(chosen)
    if not chosen:
        return None
    return await _new_set(session, user_id, "practice", chosen, now, requirement)


async def start_review(
    session: AsyncSession,
    user_id: int,
    bank: Mapping[str, Question],
    now: datetime,
    *,
    size: int = SET_SIZE,
) -> Step | None:
    """A review session of the due questions; None when nothing is due."""
    items = await due_items(session, user_id, now, size * 2)
    chosen = [bank[item.question_id] for item in items if item.question_id in bank][:size]
    if not chosen:
        return None
    return await _new_set(session, user_id, "review", chosen, now, None)


async def _new_set(
    session: AsyncSession,
    user_id: int,
    kind: str,
    questions: Sequence[Question],
    now: datetime,
    requirement: int | None,
) -> Step:
    practice = PracticeSet(
        user_id=user_id,
        kind=kind,
        requirement=None if requirement is None else topic_key(requirement),
        question_ids=[q.id for q in questions],
        created_at=now,
    )
    session.add(practice)
    await session.flush()
    return Step(practice.id, kind, 0, len(questions), questions[0])


async def current_set_id(session: AsyncSession, user_id: int) -> int | None:
    return await session.scalar(
        select(func.max(PracticeSet.id)).where(PracticeSet.user_id == user_id)
    )


async def answer(
    session: AsyncSession,
    *,
    user_id: int,
    set_id: int,
    position: int,
    option: int,
    now: datetime,
    bank: Mapping[str, Question],
    zone: ZoneInfo,
) -> PracticeOutcome:
    practice = await session.get(PracticeSet, set_id)
    if practice is None or practice.user_id != user_id:
        return PracticeOutcome("stale")
    total = len(practice.question_ids)
    answered = await _answers(session, set_id)
    if position in answered or practice.finished_at is not None:
        return PracticeOutcome("answered")
    if set_id != await current_set_id(session, user_id) or position != len(answered):
        return PracticeOutcome("stale")
    question = bank.get(practice.question_ids[position])
    if question is None or not 0 <= option < len(question.options):
        return PracticeOutcome("stale")  # the bank changed under an old set
    correct = option == question.answer
    try:
        async with session.begin_nested():
            session.add(
                PracticeAnswer(
                    set_id=set_id,
                    user_id=user_id,
                    position=position,
                    question_id=question.id,
                    requirement=topic_key(question.requirement),
                    option=option,
                    correct=correct,
                    answered_at=now,
                )
            )
    except IntegrityError:
        return PracticeOutcome("answered")
    await note_answer(session, user_id, question.id, correct, now, zone)
    answered[position] = correct
    done = Step(set_id, practice.kind, position, total, question)
    following = position + 1
    if following < total and practice.question_ids[following] in bank:
        step = Step(set_id, practice.kind, following, total, bank[practice.question_ids[following]])
        return PracticeOutcome("ok", done, option, correct, step=step)
    # The last question (or the bank lost the next one since the set began): the score.
    practice.finished_at = now
    right = sum(answered.values())
    requirement = None if practice.requirement is None else int(practice.requirement)
    score = Score(practice.kind, requirement, len(answered), right, len(answered) - right)
    return PracticeOutcome("ok", done, option, correct, score=score)


async def _answers(session: AsyncSession, set_id: int) -> dict[int, bool]:
    rows = await session.execute(
        select(PracticeAnswer.position, PracticeAnswer.correct).where(
            PracticeAnswer.set_id == set_id
        )
    )
    return {int(position): bool(correct) for position, correct in rows.all()}
