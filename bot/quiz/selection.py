"""Which questions to ask: pure functions, no database, no Telegram.

Topics are the five requirements plus "general" (the notice as a whole). A round or a
practice set fills its slots by rotating through the topics, least recently asked first,
so with 3 questions a round every two consecutive rounds cover all six topics. Inside a
topic a question not asked within ``fresh_days`` is preferred (never asked ones first,
picked at random); when a topic has none left, the one asked longest ago is repeated:
covering every requirement matters more than never repeating a question.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.content.quizbank import Question
from bot.content.requirements import GENERAL

Topic = int | Literal["general"]
GENERAL_TOPIC: Topic = GENERAL
TOPICS: tuple[Topic, ...] = (1, 2, 3, 4, 5, GENERAL)
REQUIREMENTS: tuple[int, ...] = (1, 2, 3, 4, 5)
FRESH_DAYS = 30


def topic_key(topic: Topic) -> str:
    """The topic as stored in the database: "1".."5" or "general"."""
    return str(topic)


def parse_topic(value: str) -> Topic:
    return GENERAL if value == GENERAL else int(value)


@dataclass(frozen=True, slots=True)
class Asked:
    """A question asked (in a round of this chat, or to this member) at a moment."""

    question_id: str
    at: datetime


def select_questions(
    bank: Sequence[Question],
    history: Iterable[Asked],
    n: int,
    now: datetime,
    rng: random.Random,
    *,
    topics: Sequence[Topic] = TOPICS,
    fresh_days: int = FRESH_DAYS,
) -> list[Question]:
    """Up to ``n`` distinct questions of ``topics``, balanced over consecutive calls.

    ``history`` is what was asked before (any order). Fewer than ``n`` come back only
    when the chosen topics hold fewer than ``n`` questions.
    """
    last_asked: dict[str, datetime] = {}
    for asked in history:
        previous = last_asked.get(asked.question_id)
        if previous is None or asked.at > previous:
            last_asked[asked.question_id] = asked.at
    by_topic: dict[Topic, list[Question]] = {t: [] for t in topics}
    for question in bank:
        if question.requirement in by_topic:
            by_topic[question.requirement].append(question)

    def topic_last(topic: Topic) -> datetime | None:
        times = [last_asked[q.id] for q in by_topic[topic] if q.id in last_asked]
        return max(times) if times else None

    order = [t for t in topics if by_topic[t]]
    # Never asked first, then least recently asked; ties keep the topics' own order.
    order.sort(key=lambda t: (topic_last(t) is not None, topic_last(t) or now))
    fresh_before = now - timedelta(days=fresh_days)
    chosen: list[Question] = []
    taken: set[str] = set()
    while len(chosen) < n and order:
        for topic in list(order):
            if len(chosen) >= n:
                break
            left = [q for q in by_topic[topic] if q.id not in taken]
            if not left:
                order.remove(topic)
                continue
            pick = _pick(left, last_asked, fresh_before, rng)
            chosen.append(pick)
            taken.add(pick.id)
    return chosen


def _pick(
    candidates: list[Question],
    last_asked: dict[str, datetime],
    fresh_before: datetime,
    rng: random.Random,
) -> Question:
    never = [q for q in candidates if q.id not in last_asked]
    if never:
        return rng.choice(never)
    fresh = [q for q in candidates if last_asked[q.id] <= fresh_before]
    if fresh:
        return rng.choice(fresh)
    # The topic ran out of fresh questions: the one asked longest ago comes round again.
    return min(candidates, key=lambda q: (last_asked[q.id], q.id))
