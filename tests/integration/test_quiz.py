"""Quizzes, as a chat: the daily round of quiz polls, answers, results, /rank, practice, review."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.content.quizbank import Question
from bot.db.models import Chat, Schedule, User
from bot.db.models.quiz import QuizAnswer, QuizRound, ReviewItem
from bot.sandbox.driver import BotHarness, GroupChat
from bot.sandbox.emulator import EmuChat, Emulator, EmuUser, SentMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROUND_AT = datetime(2023, 7, 24, 20, 0, tzinfo=SHANGHAI)  # Monday, a workday


@pytest.fixture(autouse=True)
def telegram_time_is_the_fake_clock(emulator: Emulator, clock: FakeClock) -> None:
    """Polls close in the emulator when the bot's clock says so, as Telegram's would."""
    emulator.clock = lambda: clock.now().timestamp()


def bank(harness: BotHarness) -> dict[str, Question]:
    return {q.id: q for q in harness.services.content.questions}


def polls(firm: GroupChat) -> list[SentMessage]:
    return [m for m in firm.messages() if m.kind == "poll"]


def question_of(harness: BotHarness, poll: SentMessage) -> Question:
    assert poll.poll is not None
    text = poll.poll["question"]
    return next(q for q in harness.services.content.questions if q.question == text)


def right(poll: SentMessage) -> list[int]:
    assert poll.poll is not None
    return [int(poll.poll["correct_option_id"])]


def wrong(poll: SentMessage) -> list[int]:
    assert poll.poll is not None
    return [(int(poll.poll["correct_option_id"]) + 1) % len(poll.poll["options"])]


def poll_id(poll: SentMessage) -> str:
    assert poll.poll is not None
    return str(poll.poll["id"])


async def vote(harness: BotHarness, poll: SentMessage, user: EmuUser, options: list[int]) -> None:
    await harness.handled(harness.emulator.answer_poll(poll_id(poll), user, options))


async def deliver_answer(
    harness: BotHarness, poll: SentMessage, user: EmuUser, options: list[int]
) -> None:
    """A poll_answer as Telegram would deliver it, whatever the poll's state (late, repeat)."""
    update = harness.emulator.inject_update(
        {
            "poll_answer": {
                "poll_id": poll_id(poll),
                "user": user.to_dict(),
                "option_ids": options,
                "option_persistent_ids": [str(i) for i in options],
            }
        }
    )
    await harness.handled(update)


async def open_daily_round(harness: BotHarness, clock: FakeClock, at: datetime = ROUND_AT) -> None:
    clock.set(at)
    await harness.tick()


async def close_round(harness: BotHarness, clock: FakeClock) -> None:
    clock.advance(timedelta(minutes=10, seconds=20))
    await harness.tick()


async def test_the_daily_round_scores_first_answers_and_posts_the_result(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    before = len(firm.messages())
    await open_daily_round(harness, clock)
    new = firm.new_since(before)
    assert "今日测验" in new[0].text and "3 题" in new[0].text and "10 分钟" in new[0].text
    sent = polls(firm)
    assert len(sent) == 3
    for poll in sent:
        assert poll.poll is not None
        assert poll.poll["type"] == "quiz" and poll.poll["is_anonymous"] is False
        assert poll.poll["open_period"] == 600 and poll.poll["explanation"]
    # Round one asks requirements 1, 2 and 3.
    assert [question_of(harness, p).requirement for p in sent] == [1, 2, 3]

    zhang, wang, li = (firm.members[n] for n in ("张三", "王律师", "李四"))
    await vote(harness, sent[0], zhang, right(sent[0]))
    await vote(harness, sent[1], zhang, right(sent[1]))
    await vote(harness, sent[2], zhang, right(sent[2]))
    await vote(harness, sent[0], wang, right(sent[0]))
    await vote(harness, sent[1], wang, wrong(sent[1]))
    await vote(harness, sent[0], li, wrong(sent[0]))
    # A second vote by the same member (a client that allows it) does not replace the first.
    await deliver_answer(harness, sent[0], li, right(sent[0]))
    # 王律师 retracts: the vote scores nothing and counts nowhere, a new vote is ignored.
    await deliver_answer(harness, sent[1], wang, [])
    await deliver_answer(harness, sent[1], wang, right(sent[1]))
    # After the poll closed (delivered late): ignored.
    clock.advance(timedelta(minutes=10, seconds=6))
    await deliver_answer(harness, sent[2], li, right(sent[2]))
    await deliver_answer(harness, sent[2], wang, right(sent[2]))
    # Unknown polls are ignored without a word.
    count = len(firm.messages())
    clock.advance(timedelta(seconds=14))
    await harness.tick()
    assert len(firm.messages()) == count + 1
    result = firm.last()
    assert result.text.splitlines()[0] == "测验结果（共 3 题，3 人作答）"
    assert "第 1 题 · 要求1「践行者」：正确率 67%（2/3）" in result.text
    assert "第 2 题 · 要求2「奋斗者」：正确率 100%（1/1）" in result.text
    assert "第 3 题 · 要求3「维护者」：正确率 100%（1/1）" in result.text
    assert "今日得分最高：张三（3 分）" in result.text
    assert "本轮最难的要求：要求1「践行者」，正确率 67%。" in result.text
    assert result.mentions == []
    assert result.button("私聊练习")["url"] == "https://t.me/firmbot_test_bot?start=quiz"
    async with harness.services.db.session() as session:
        answers = await session.scalar(select(func.count()).select_from(QuizAnswer))
        round_ = await session.scalar(select(QuizRound))
    assert answers == 6  # 3 + 2 (one retracted) + 1; repeats and late ones never stored
    assert round_ is not None and round_.status == "closed"
    assert round_.result_message_id == result.message_id
    # Answers after the result change nothing.
    await harness.tick()
    assert len(firm.messages()) == count + 1
