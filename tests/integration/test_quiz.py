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


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # The sender's limits run on wall-clock time (1 message a second in a private chat, 20 a
    # minute in a group): a practice set or a week of rounds would take minutes of sleeping.
    return {"sender": {"private_per_second": 1000.0, "group_per_minute": 1000}}


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
    harness: BotHarness, poll: SentMessage | str, user: EmuUser, options: list[int]
) -> None:
    """A poll_answer as Telegram would deliver it, whatever the poll's state (late, repeat)."""
    update = harness.emulator.inject_update(
        {
            "poll_answer": {
                "poll_id": poll if isinstance(poll, str) else poll_id(poll),
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
    # Unknown polls (not a round's) are ignored without a word.
    count = len(firm.messages())
    await deliver_answer(harness, "5000000000000000999", li, [0])
    assert len(firm.messages()) == count
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
    async with harness.services.db.session() as session:
        queued = await session.get(ReviewItem, (li.id, question_of(harness, sent[0]).id))
    assert queued is not None and queued.box == 1  # a wrong answer in the group is reviewed too
    assert round_ is not None and round_.status == "closed"
    assert round_.result_message_id == result.message_id
    # Answers after the result change nothing.
    await harness.tick()
    assert len(firm.messages()) == count + 1


async def test_a_restart_mid_round_keeps_scores_sends_no_poll_twice_and_still_posts_the_result(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await open_daily_round(harness, clock)
    sent = polls(firm)
    zhang, li = firm.members["张三"], firm.members["李四"]
    await vote(harness, sent[0], zhang, right(sent[0]))
    await vote(harness, sent[1], li, wrong(sent[1]))
    await harness.restart()
    clock.advance(timedelta(minutes=3))
    await harness.tick()  # the slot was claimed before the restart: nothing is sent again
    await vote(harness, sent[2], zhang, right(sent[2]))
    await vote(harness, sent[1], zhang, right(sent[1]))
    assert len(polls(firm)) == 3
    await harness.restart()
    clock.set(ROUND_AT + timedelta(minutes=10, seconds=20))
    await harness.tick()
    await harness.tick()
    result = firm.last()
    assert "2 人作答" in result.text and "今日得分最高：张三（3 分）" in result.text
    assert "第 2 题 · 要求2「奋斗者」：正确率 50%（1/2）" in result.text
    assert len(polls(firm)) == 3
    assert sum("测验结果" in t for t in firm.texts()) == 1
    # Re-running the delivery of a finished round (a takeover) sends nothing either.
    from handlers.quiz import deliver_round

    async with harness.services.db.session() as session:
        round_id = await session.scalar(select(QuizRound.id))
    assert round_id is not None
    await deliver_round(harness.services, round_id)
    assert len(polls(firm)) == 3


async def test_admins_start_an_extra_round_members_are_sent_to_private_practice(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await firm.say("王律师", "/quiz")
    assert "加测一轮" in firm.messages()[-4].text and len(polls(firm)) == 3
    await firm.say("张三", "/quiz")
    assert firm.last().text == "本群已有一轮测验正在进行，08:10 结束。"
    # 李四 never opened a private chat with the bot: a deep link instead of silence.
    await firm.say("李四", "/quiz")
    link = firm.last()
    assert "李四，请点下面的按钮打开与我的私聊" in link.text
    assert link.button("私聊开始练习")["url"] == "https://t.me/firmbot_test_bot?start=quiz"
    # Following it, /start quiz starts practice at once.
    li = firm.members["李四"]
    private = harness.emulator.private_chat(li)
    await harness.handled(harness.emulator.send_message(private.id, li, "/start quiz"))
    first = harness.emulator.last(private.id)
    assert first.text.startswith("练习 第 1/10 题") and first.buttons[0][:2] == ["A", "B"]
    # Now the private chat is open: /quiz in the group goes straight there.
    await firm.say("李四", "/review")
    assert firm.last().text == "已在私聊里发给您。"
    assert harness.emulator.last(private.id).text == (
        "您的错题复习是空的：练习或测验中答错的题会放到这里，按间隔天数复习。发送 /quiz 开始练习。"
    )
    # The extra round closes like the daily one.
    await close_round(harness, clock)
    assert firm.last().text.startswith("测验结果（共 3 题，0 人作答）")
    assert "本轮无人作答。" in firm.last().text
    # An anonymous admin (posting as the group) may start one too, and /rank is per group.
    await firm.say_anonymously("/quiz")
    assert len(polls(firm)) == 6
    await me_in_private(harness, li, "/rank")
    assert harness.emulator.last(private.id).text == "排行榜按群统计，请在律所群里发送 /rank。"


async def me_in_private(harness: BotHarness, user: EmuUser, text: str) -> None:
    chat = harness.emulator.private_chat(user)
    await harness.handled(harness.emulator.send_message(chat.id, user, text))


async def test_an_english_speaking_group_gets_english(
    harness: BotHarness, clock: FakeClock
) -> None:
    from bot.sandbox.driver import make_group

    firm = await make_group(harness, "Firm", ["Alice", "Bob"], language_code="en-GB")
    async with harness.services.db.session() as session:
        chat = await session.get(Chat, firm.id)
        assert chat is not None
        chat.locale = "en"
    await firm.say("Alice", "/quiz")
    assert firm.messages()[-4].text.startswith("An extra round: 3 questions, 10 minutes")
    await vote(harness, polls(firm)[0], firm.members["Bob"], wrong(polls(firm)[0]))
    await close_round(harness, clock)
    result = firm.last().text.splitlines()
    assert result[0] == "Quiz results (3 questions, 1 answered)"
    assert result[1] == "Question 1 · Requirement 1 (践行者): 0% correct (0/1)"
    assert "Hardest requirement this round: Requirement 1 (践行者), 0% correct." in result
    await firm.say("Bob", "/quiz")
    assert firm.last().text.startswith("Bob, please tap the button below")
    await firm.say("Bob", "/rank")
    assert firm.last().text.splitlines()[2] == "1. Bob: 0 points (1 answered)"
    assert firm.last().buttons == [["· This week ·", "This month", "All time"]]


async def test_rank_shows_week_month_and_all_time_without_pinging_anyone(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    zhang, wang, li = (firm.members[n] for n in ("张三", "王律师", "李四"))
    # Extra rounds last month (Friday 30 June), where 李四 answers well, and last week.
    clock.set(datetime(2023, 6, 30, 18, 0, tzinfo=SHANGHAI))
    await firm.say("王律师", "/quiz")
    for poll in polls(firm):
        await vote(harness, poll, li, right(poll))
    await close_round(harness, clock)
    clock.set(datetime(2023, 7, 21, 18, 0, tzinfo=SHANGHAI))
    await firm.say("王律师", "/quiz")
    for poll in polls(firm)[3:]:
        await vote(harness, poll, wang, right(poll))
    await close_round(harness, clock)
    await open_daily_round(harness, clock)
    this_week = polls(firm)[6:]
    await vote(harness, this_week[0], zhang, right(this_week[0]))
    await vote(harness, this_week[1], zhang, right(this_week[1]))
    await vote(harness, this_week[0], li, wrong(this_week[0]))
    await close_round(harness, clock)

    await firm.say("李四", "/rank")
    board = firm.last()
    assert board.text.splitlines() == [
        "测验排行榜 · 本周",
        "",
        "1. 张三　2 分（答 2 题）",
        "2. 李四　0 分（答 1 题）",
        "",
        "答对一题得 1 分，每题以第一次作答为准。",
    ]
    assert board.buttons == [["· 本周 ·", "本月", "总榜"]]
    assert board.mentions == [] and "@" not in board.text
    await firm.press("王律师", "本月")
    assert firm.last().message_id == board.message_id  # edited in place
    assert board.text.splitlines()[2:5] == [
        "1. 王律师　3 分（答 3 题）",
        "2. 张三　2 分（答 2 题）",
        "3. 李四　0 分（答 1 题）",
    ]
    await firm.press("王律师", "总榜")
    # Equal points share a rank; fewer answers (a better rate) are listed first.
    assert board.text.splitlines()[2:5] == [
        "1. 王律师　3 分（答 3 题）",
        "1. 李四　3 分（答 4 题）",
        "3. 张三　2 分（答 2 题）",
    ]
    assert board.buttons == [["本周", "本月", "· 总榜 ·"]]


class Private:
    """A member's private chat with the bot."""

    def __init__(self, harness: BotHarness, user: EmuUser) -> None:
        self.harness = harness
        self.emulator = harness.emulator
        self.user = user
        self.chat: EmuChat = harness.emulator.private_chat(user)

    async def say(self, text: str) -> None:
        await self.harness.handled(self.emulator.send_message(self.chat.id, self.user, text))

    def last(self) -> SentMessage:
        return self.emulator.last(self.chat.id)

    def question(self, message: SentMessage | None = None) -> Question:
        text = (message or self.last()).text
        found = [q for q in self.harness.services.content.questions if q.question in text]
        return max(found, key=lambda q: len(q.question))

    async def press(self, label: str, message: SentMessage | None = None) -> None:
        target = message or self.last()
        update = self.emulator.press_button(self.chat.id, target.message_id, self.user, label=label)
        await self.harness.handled(update)

    async def answer(self, correct: bool) -> Question:
        question = self.question()
        index = question.answer if correct else (question.answer + 1) % len(question.options)
        await self.press("ABCD"[index])
        return question

    def alerts(self) -> list[Any]:
        return self.emulator.callback_answers


async def test_private_practice_feedback_double_taps_stale_buttons_and_the_score(
    harness: BotHarness, firm: GroupChat
) -> None:
    me = Private(harness, firm.members["李四"])
    await me.say("/quiz 9")
    assert me.last().text.splitlines()[:3] == [
        "没有「9」这一项。可以这样练习：",
        "/quiz — 综合练习 10 题",
        "/quiz 1 至 /quiz 5 — 按一项要求练习：",
    ]
    assert "5. 依法诚信规范执业,做行业清风正气的守护者" in me.last().text
    await me.say("/quiz")
    old_set = me.last()
    await me.say("/quiz")
    first = me.last()
    # A button of the older set is stale: it says so and loses its buttons.
    await me.press("A", old_set)
    assert me.alerts()[-1]["text"] == "这组练习已经结束，发送 /quiz 开始新的一组。"
    assert me.alerts()[-1]["show_alert"] is True
    assert old_set.buttons == []

    # A double tap: two presses arrive before the first is answered; one counts.
    question = me.question(first)
    wrong_label = "ABCD"[(question.answer + 1) % len(question.options)]
    taps = [
        me.emulator.press_button(me.chat.id, first.message_id, me.user, label=wrong_label)
        for _ in range(2)
    ]
    for tap in taps:
        await harness.handled(tap)
    assert [a["text"] for a in me.alerts()[-2:]] == ["回答错误", "这道题已经答过了。"]
    assert "❌ 您选了" in first.text and f"正确答案是 {'ABCD'[question.answer]}." in first.text
    assert f"解析：{question.explanation}" in first.text
    assert f"原文：「{question.source}」" in first.text
    assert first.buttons == []
    asked = {question.id}
    topics = [question.requirement]
    for index in range(1, 10):
        assert me.last().text.startswith(f"练习 第 {index + 1}/10 题")
        answered = await me.answer(correct=index % 2 == 0)
        asked.add(answered.id)
        topics.append(answered.requirement)
        feedback = me.emulator.messages(me.chat.id)[-2].text
        assert ("✅ 回答正确。" if index % 2 == 0 else "❌ 您选了") in feedback
    assert len(asked) == 10 and set(topics) == {1, 2, 3, 4, 5, "general"}
    score = me.last()
    assert score.text.splitlines() == [
        "练习完成：答对 4/10 题。",
        "答错的 6 题已加入错题复习，明天起发送 /review 复习。",
    ]
    assert score.buttons == [["再练一组"]]
    async with harness.services.db.session() as session:
        queued = await session.scalar(
            select(func.count()).select_from(ReviewItem).where(ReviewItem.user_id == me.user.id)
        )
    assert queued == 6

    # /quiz 3 (or its Chinese numeral) practises requirement 3 only.
    await me.say("/quiz 三")
    for _ in range(10):
        question = me.question()
        assert question.requirement == 3
        # The topic is named unless that would give the answer away.
        label = "辨析出自哪项要求" if question.kind == "which_requirement" else "要求3「维护者」"
        assert me.last().text.splitlines()[0].endswith(label)
        await me.answer(correct=True)
    assert me.last().text.splitlines() == ["练习完成：答对 10/10 题。", "全部答对。"]
    await me.press("再练一组")
    assert me.last().text.startswith("练习 第 1/10 题") and me.question().requirement == 3


async def test_the_review_queue_over_several_days(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    from handlers.quiz import me_section

    me = Private(harness, firm.members["李四"])
    await me.say("/start quiz")
    missed = [(await me.answer(correct=index >= 3)).id for index in range(10)]
    missed = missed[:3]
    await me.say("/review")
    assert me.last().text == "今天没有需要复习的题。\n错题复习中共有 3 题，下一次复习在 7月25日。"

    async def boxes() -> dict[str, tuple[int, str]]:
        async with harness.services.db.session() as session:
            rows = (
                await session.scalars(select(ReviewItem).where(ReviewItem.user_id == me.user.id))
            ).all()
        return {
            r.question_id: (r.box, r.due_at.astimezone(SHANGHAI).strftime("%m-%d")) for r in rows
        }

    # Tuesday: all three are due; two right, one wrong.
    clock.set(datetime(2023, 7, 25, 9, 0, tzinfo=SHANGHAI))
    await me.say("/review")
    assert me.last().text.startswith("复习 第 1/3 题")
    order = []
    for index in range(3):
        order.append((await me.answer(correct=index < 2)).id)
    assert sorted(order) == sorted(missed)
    assert me.last().text.splitlines() == [
        "复习完成：答对 2/3 题。",
        "答对的题会隔更长时间再复习，答错的题明天再复习。",
    ]
    assert await boxes() == {
        order[0]: (2, "07-27"),
        order[1]: (2, "07-27"),
        order[2]: (1, "07-26"),
    }
    # Wednesday: only the one missed again is due; right now, it moves up.
    clock.set(datetime(2023, 7, 26, 21, 0, tzinfo=SHANGHAI))
    await me.say("/review")
    assert me.last().text.startswith("复习 第 1/1 题")
    assert (await me.answer(correct=True)).id == order[2]
    # A right answer before a question is due (in /quiz practice) changes nothing.
    assert (await boxes())[order[2]] == (2, "07-28")
    # Thursday: the first two are due again; one slips back to box 1.
    clock.set(datetime(2023, 7, 27, 8, 0, tzinfo=SHANGHAI))
    await me.say("/review")
    assert me.last().text.startswith("复习 第 1/2 题")
    first, second = me.question(), None
    await me.answer(correct=True)
    second = me.question()
    await me.answer(correct=False)
    assert await boxes() == {
        first.id: (3, "07-31"),
        second.id: (1, "07-28"),
        order[2]: (2, "07-28"),
    }
    await me.say("/review")
    assert me.last().text == "今天没有需要复习的题。\n错题复习中共有 3 题，下一次复习在 7月28日。"

    # /me's quiz part: accuracy per requirement from practice (and group rounds).
    section = await me_section(harness.services, "zh_CN", None, me.user.id)
    lines = section.splitlines()
    assert lines[0] == "<b>测验正确率</b>"
    assert len(lines) == 8  # five requirements, the notice overall, the review queue
    assert lines[-1] == "错题复习：待复习 0 题，共 3 题。"
    answered = sum(int(line.rsplit("/", 1)[1].rstrip("）")) for line in lines[1:7] if "/" in line)
    assert answered == 16  # 10 practice + 6 review answers


async def test_the_schedule_follows_the_chat_settings(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    s = harness.services

    async def schedule() -> Schedule:
        async with s.db.session() as session:
            row = await session.scalar(
                select(Schedule).where(Schedule.chat_id == firm.id, Schedule.kind == "quiz")
            )
        assert row is not None
        return row

    row = await schedule()
    assert (row.days, row.time_of_day, row.timezone, row.enabled) == (
        "workdays",
        "20:00",
        "Asia/Shanghai",
        True,
    )

    async def change(**settings: Any) -> None:
        # What the settings feature does: store, then re-derive through the chat hooks.
        async with s.db.session() as session:
            chat = await session.get(Chat, firm.id)
            assert chat is not None
            chat.settings = {**chat.settings, **settings}
            for hook in s.chat_hooks:
                await hook(session, chat)

    await change(**{"quiz.time": "21:30", "quiz.questions": 2, "quiz.open_minutes": 5})
    row = await schedule()
    assert row.time_of_day == "21:30"
    assert row.next_due_at == datetime(2023, 7, 24, 21, 30, tzinfo=SHANGHAI)
    await open_daily_round(harness, clock, datetime(2023, 7, 24, 20, 0, tzinfo=SHANGHAI))
    assert polls(firm) == []
    await open_daily_round(harness, clock, datetime(2023, 7, 24, 21, 30, tzinfo=SHANGHAI))
    assert len(polls(firm)) == 2
    assert polls(firm)[0].poll is not None and polls(firm)[0].poll["open_period"] == 300
    clock.advance(timedelta(minutes=5, seconds=20))
    await harness.tick()
    assert firm.last().text.startswith("测验结果（共 2 题")
    await change(**{"quiz.enabled": False})
    assert not (await schedule()).enabled
    await open_daily_round(harness, clock, datetime(2023, 7, 25, 21, 30, tzinfo=SHANGHAI))
    assert len(polls(firm)) == 2


async def test_a_week_of_rounds_covers_every_requirement_without_repeating_a_question(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    for day in range(24, 29):  # Monday to Friday
        await open_daily_round(harness, clock, datetime(2023, 7, day, 20, 0, tzinfo=SHANGHAI))
        await close_round(harness, clock)
    # The weekend has no rounds.
    await open_daily_round(harness, clock, datetime(2023, 7, 29, 20, 0, tzinfo=SHANGHAI))
    asked = [question_of(harness, p) for p in polls(firm)]
    assert len(asked) == 15 and len({q.id for q in asked}) == 15
    assert {q.requirement for q in asked} == {1, 2, 3, 4, 5, "general"}
    assert sum("测验结果" in t for t in firm.texts()) == 5
    async with harness.services.db.session() as session:
        user = await session.get(User, firm.members["张三"].id)
    assert user is not None
