"""Choosing questions: requirement coverage over consecutive rounds, no repeats within 30 days."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import WorkCalendar
from bot.config import QuizDefaults
from bot.content.loader import Content
from bot.content.quizbank import Question
from bot.quiz.selection import TOPICS, Asked, select_questions

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2023, 7, 24, 20, 0, tzinfo=SHANGHAI)
DEFAULTS = QuizDefaults()


@pytest.fixture(scope="module")
def bank(content: Content) -> tuple[Question, ...]:
    return content.questions


def run_rounds(
    bank: Sequence[Question], moments: Sequence[datetime], n: int, seed: int = 0
) -> list[list[Question]]:
    """Rounds one after another in one chat, each seeing the history of the ones before."""
    history: list[Asked] = []
    rounds = []
    for index, moment in enumerate(moments):
        chosen = select_questions(bank, history, n, moment, random.Random(seed * 1000 + index))
        history.extend(Asked(q.id, moment) for q in chosen)
        rounds.append(chosen)
    return rounds


def requirements_of(rounds: Sequence[Sequence[Question]]) -> set[object]:
    return {q.requirement for round_ in rounds for q in round_}


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(
        st.integers(min_value=1, max_value=4 * 24 * 60), min_size=5, max_size=70
    ),  # minutes between rounds: extra rounds an hour apart, long weekends, holidays
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_with_default_settings_any_five_consecutive_rounds_cover_all_five_requirements(
    bank: tuple[Question, ...], gaps: list[int], seed: int
) -> None:
    moments = []
    moment = START
    for gap in gaps:
        moment += timedelta(minutes=gap)
        moments.append(moment)
    rounds = run_rounds(bank, moments, DEFAULTS.questions, seed)
    assert all(len(r) == DEFAULTS.questions and len({q.id for q in r}) == len(r) for r in rounds)
    for start in range(len(rounds) - 4):
        assert requirements_of(rounds[start : start + 5]) >= {1, 2, 3, 4, 5}, start


@settings(max_examples=40, deadline=None)
@given(start=st.dates(min_value=date(2023, 1, 1), max_value=date(2024, 6, 30)))
def test_daily_rounds_on_workdays_never_repeat_a_question_within_30_days(
    bank: tuple[Question, ...], start: date
) -> None:
    calendar = WorkCalendar()
    days = [start + timedelta(days=i) for i in range(150)]
    moments = [
        datetime.combine(day, datetime.min.time(), SHANGHAI).replace(hour=20)
        for day in days
        if calendar.is_workday(day)
    ]
    rounds = run_rounds(bank, moments, DEFAULTS.questions)
    last_seen: dict[str, datetime] = {}
    for moment, round_ in zip(moments, rounds, strict=True):
        for question in round_:
            previous = last_seen.get(question.id)
            assert previous is None or moment - previous >= timedelta(days=30), question.id
            last_seen[question.id] = moment


def test_two_consecutive_rounds_of_three_cover_all_six_topics(
    bank: tuple[Question, ...],
) -> None:
    rounds = run_rounds(bank, [START + timedelta(days=i) for i in range(12)], 3)
    assert [sorted(map(str, requirements_of([r]))) for r in rounds[:2]] == [
        ["1", "2", "3"],
        ["4", "5", "general"],
    ]
    for start in range(len(rounds) - 1):
        assert requirements_of(rounds[start : start + 2]) == set(TOPICS)


def test_never_asked_questions_come_first_then_the_longest_ago(
    bank: tuple[Question, ...],
) -> None:
    fours = [q for q in bank if q.requirement == 4]
    # Every question of requirement 4 was asked, one of them 40 days ago, the rest lately.
    old = fours[0]
    history = [Asked(old.id, START - timedelta(days=40))] + [
        Asked(q.id, START - timedelta(days=1 + i)) for i, q in enumerate(fours[1:])
    ]
    chosen = select_questions(bank, history, 1, START, random.Random(1), topics=[4])
    assert chosen == [old]
    # All asked within 30 days: the one asked longest ago comes round again.
    recent = [Asked(q.id, START - timedelta(days=1 + i)) for i, q in enumerate(fours)]
    chosen = select_questions(bank, recent, 2, START, random.Random(1), topics=[4])
    assert [q.id for q in chosen] == [fours[-1].id, fours[-2].id]
    # Nothing asked yet: a random pick among all, reproducible from the seed.
    first = select_questions(bank, [], 3, START, random.Random(7), topics=[4])
    assert first == select_questions(bank, [], 3, START, random.Random(7), topics=[4])


def test_a_set_larger_than_its_topics_gets_what_there_is(bank: tuple[Question, ...]) -> None:
    fours = [q for q in bank if q.requirement == 4]
    chosen = select_questions(bank, [], 50, START, random.Random(0), topics=[4])
    assert sorted(q.id for q in chosen) == sorted(q.id for q in fours)
    mixed = select_questions(bank, [], 10, START, random.Random(0))
    assert len({q.id for q in mixed}) == 10
    assert {q.requirement for q in mixed} == set(TOPICS)
    assert select_questions([], [], 3, START, random.Random(0)) == []
