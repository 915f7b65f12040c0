"""A member's accuracy per requirement (for /me), from group rounds and private practice."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.quiz import PracticeAnswer, QuizAnswer, QuizPoll
from bot.quiz.selection import GENERAL_TOPIC, REQUIREMENTS, Topic, topic_key


@dataclass(frozen=True, slots=True)
class Accuracy:
    topic: Topic
    answered: int
    correct: int

    @property
    def rate(self) -> float | None:
        return self.correct / self.answered if self.answered else None


async def accuracy_by_requirement(
    session: AsyncSession, chat_id: int | None, user_id: int, *, include_practice: bool = True
) -> list[Accuracy]:
    """Requirements 1-5 in order (answered or not), then "general" if answered.

    Counts the member's first, unretracted answers to the group polls of ``chat_id``
    (every group when None) and, unless told otherwise, their private practice.
    """
    totals: dict[str, list[int]] = {}
    right = func.sum(case((QuizAnswer.correct.is_(True), 1), else_=0))
    group = (
        select(QuizPoll.requirement, func.count(QuizAnswer.id), right)
        .join(QuizPoll, QuizPoll.poll_id == QuizAnswer.poll_id)
        .where(QuizAnswer.user_id == user_id, QuizAnswer.retracted_at.is_(None))
        .group_by(QuizPoll.requirement)
    )
    if chat_id is not None:
        group = group.where(QuizAnswer.chat_id == chat_id)
    queries = [group]
    if include_practice:
        queries.append(
            select(
                PracticeAnswer.requirement,
                func.count(PracticeAnswer.id),
                func.sum(case((PracticeAnswer.correct.is_(True), 1), else_=0)),
            )
            .where(PracticeAnswer.user_id == user_id)
            .group_by(PracticeAnswer.requirement)
        )
    for query in queries:
        for requirement, answered, correct in (await session.execute(query)).all():
            slot = totals.setdefault(str(requirement), [0, 0])
            slot[0] += int(answered or 0)
            slot[1] += int(correct or 0)
    result = [Accuracy(n, *totals.get(topic_key(n), [0, 0])) for n in REQUIREMENTS]
    general = totals.get(topic_key(GENERAL_TOPIC))
    if general and general[0]:
        result.append(Accuracy(GENERAL_TOPIC, general[0], general[1]))
    return result
