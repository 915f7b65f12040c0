"""Quiz rules as pure functions: Leitner boxes, the hardest requirement, periods, inputs, limits."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from telegram.constants import InlineKeyboardButtonLimit, PollLimit

from bot.content import quizbank
from bot.content.errors import ContentError
from bot.content.loader import load_content
from bot.content.paths import default_content_dir
from bot.quiz.reviews import due_at, next_box
from bot.quiz.rounds import QuestionResult, TopicRate, hardest_requirement, period_start
from bot.ui import callback
from handlers.quiz import LETTERS, parse_requirement

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_leitner_right_moves_up_a_box_wrong_sends_back_to_box_one() -> None:
    assert next_box(None, correct=False, due=False) == 1  # a wrong answer enters the queue
    assert next_box(None, correct=True, due=False) is None  # a right one does not
    assert next_box(3, correct=False, due=True) == 1
    assert next_box(3, correct=False, due=False) == 1
    assert next_box(1, correct=True, due=True) == 2
    assert next_box(4, correct=True, due=True) == 5
    assert next_box(5, correct=True, due=True) is None  # learnt: leaves the queue
    assert next_box(2, correct=True, due=False) == 2  # early practice is no spaced recall


def test_due_days_are_calendar_days_in_the_zone() -> None:
    late_evening = datetime(2023, 7, 24, 23, 30, tzinfo=SHANGHAI)
    assert due_at(late_evening, 1, SHANGHAI) == datetime(2023, 7, 25, 0, 0, tzinfo=SHANGHAI)
    assert due_at(late_evening, 2, SHANGHAI) == datetime(2023, 7, 26, 0, 0, tzinfo=SHANGHAI)
    assert due_at(late_evening, 3, SHANGHAI) == datetime(2023, 7, 28, 0, 0, tzinfo=SHANGHAI)
    assert due_at(late_evening, 5, SHANGHAI) == datetime(2023, 8, 7, 0, 0, tzinfo=SHANGHAI)


def q(position: int, topic: int | str, answered: int, correct: int) -> QuestionResult:
    return QuestionResult(position, f"q{position}", topic, answered, correct)  # type: ignore[arg-type]


def test_the_hardest_requirement_is_the_lowest_rate_among_the_five() -> None:
    result = [q(0, 1, 4, 3), q(1, 3, 4, 1), q(2, "general", 4, 0)]
    assert hardest_requirement(result) == TopicRate(3, 4, 1)
    # Two questions of one requirement count together.
    assert hardest_requirement([q(0, 2, 2, 0), q(1, 2, 2, 2), q(2, 4, 3, 2)]) == TopicRate(2, 4, 2)
    # Nothing answered, only "general", or everything right: no requirement to name.
    assert hardest_requirement([q(0, 1, 0, 0)]) is None
    assert hardest_requirement([q(0, "general", 3, 0)]) is None
    assert hardest_requirement([q(0, 1, 3, 3), q(1, 2, 1, 1)]) is None


def test_leaderboard_periods_start_at_local_midnight() -> None:
    sunday_night = datetime(2023, 7, 30, 23, 0, tzinfo=SHANGHAI)
    assert period_start("week", sunday_night, SHANGHAI) == datetime(2023, 7, 24, tzinfo=SHANGHAI)
    assert period_start("month", sunday_night, SHANGHAI) == datetime(2023, 7, 1, tzinfo=SHANGHAI)
    assert period_start("all", sunday_night, SHANGHAI) is None
    with pytest.raises(ValueError, match="unknown period"):
        period_start("year", sunday_night, SHANGHAI)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], (None, None)),
        (["3"], (3, None)),
        (["#5"], (5, None)),
        (["\u4e09"], (3, None)),  # the Chinese numeral three
        (["0"], (None, "0")),
        (["6"], (None, "6")),
        (["\uff13"], (None, "\uff13")),  # a full-width digit is not taken for 3 silently
        (["abc", "d"], (None, "abc d")),
    ],
)
def test_quiz_arguments(args: list[str], expected: tuple[int | None, str | None]) -> None:
    assert parse_requirement(args) == expected


def test_callback_data_fits_telegram_with_room_to_spare() -> None:
    biggest = callback("quiz", "a", 2**31 - 1, 9, len(LETTERS) - 1)
    assert len(biggest.encode()) <= InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
    assert biggest.isascii()


def test_the_schema_enforces_telegram_poll_limits() -> None:
    assert quizbank.QUESTION_MAX <= PollLimit.MAX_QUESTION_LENGTH
    assert quizbank.OPTION_MAX <= PollLimit.MAX_OPTION_LENGTH
    assert quizbank.MAX_OPTIONS <= PollLimit.MAX_OPTION_NUMBER
    assert quizbank.EXPLANATION_MAX <= PollLimit.MAX_EXPLANATION_LENGTH
    assert quizbank.EXPLANATION_MAX_LINE_FEEDS <= PollLimit.MAX_EXPLANATION_LINE_FEEDS


def test_a_question_over_a_telegram_limit_stops_start_up_not_a_send(tmp_path: Path) -> None:
    """A firm's extra quiz file is loaded with the content at start-up (and check-config)."""
    folder = tmp_path / "quiz"
    folder.mkdir()
    extra = folder / "firm.yaml"
    entry = {
        "id": "f001",
        "kind": "single",
        "requirement": 5,
        "difficulty": 1,
        "question": "问" * (PollLimit.MAX_QUESTION_LENGTH + 1),
        "options": ["甲", "乙", "丙"],
        "answer": 0,
        "explanation": "说明",
        "source": "私自收费",
    }
    extra.write_text(yaml.safe_dump({"questions": [entry]}, allow_unicode=True), "utf-8")
    with pytest.raises(ContentError) as info:
        load_content(default_content_dir(), (str(extra),))
    assert info.value.file == str(extra) and info.value.entry == "f001"
    assert "question: String should have at most 300 characters" in info.value.reason
