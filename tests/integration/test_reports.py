"""/report, the weekly report, /report xlsx and /firms, checked against a seeded database."""

from __future__ import annotations

import io
import warnings
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.charts import LABEL_KEYS, missing_glyphs
from bot.clock import FakeClock
from bot.content.loader import Content
from bot.db.models.ledger import LedgerItem
from bot.db.models.quiz import QuizAnswer, QuizPoll, QuizRound
from bot.db.models.study import (
    StudyAttendance,
    StudyCheckin,
    StudyPost,
    StudyReflection,
    StudySession,
)
from bot.sandbox.driver import BotHarness, GroupChat, harness_config
from bot.sandbox.emulator import Emulator
from bot.texts import LOCALES
from handlers import reports as report_handlers

SH = ZoneInfo("Asia/Shanghai")
MONDAY = date(2023, 7, 24)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH)


async def seed(harness: BotHarness, firm: GroupChat) -> dict[str, int]:
    """A known week: 3 members, 3 prompts, 5 check-ins, 2 reflections, a session,
    4 quiz answers, 3 ledger items. Returns the members' ids."""
    ids = {name: user.id for name, user in firm.members.items()}
    for name in ("王律师", "李四"):
        await firm.say(name, "收到")  # members the bot has seen: 张三 (added it), 王律师, 李四
    async with harness.services.db.session() as session:
        posts = []
        for offset in (0, 1, 2):  # Monday to Wednesday
            day = MONDAY + timedelta(days=offset)
            post = StudyPost(
                chat_id=firm.id,
                prompt_id=f"s0{offset + 1}",
                day_number=offset + 1,
                total_days=41,
                cycle=1,
                slot_date=day,
                slot_at=at(day, 9),
                message_id=100 + offset,
                sent_at=at(day, 9),
            )
            session.add(post)
            posts.append(post)
        # Last week's prompt: must not count this week.
        old = StudyPost(
            chat_id=firm.id, prompt_id="s00", day_number=0, total_days=41, cycle=1,
            slot_date=MONDAY - timedelta(days=3), slot_at=at(MONDAY - timedelta(days=3), 9),
            message_id=99, sent_at=at(MONDAY - timedelta(days=3), 9),
        )  # fmt: skip
        session.add(old)
        await session.flush()
        checkins = [
            (posts[0], "张三"), (posts[0], "王律师"), (posts[0], "李四"),
            (posts[1], "张三"), (posts[2], "王律师"), (old, "李四"),
        ]  # fmt: skip
        for post, name in checkins:
            session.add(
                StudyCheckin(
                    post_id=post.id, chat_id=firm.id, user_id=ids[name], source="button",
                    checked_at=at(post.slot_date, 10),
                )
            )  # fmt: skip
        for post, name, counted in (
            (posts[0], "李四", True),
            (posts[2], "王律师", True),
            (posts[1], "张三", False),
        ):
            session.add(
                StudyReflection(
                    post_id=post.id, chat_id=firm.id, user_id=ids[name], text="心得" * 10,
                    parts=[], counted=counted, truncated=False,
                )
            )  # fmt: skip
        study_session = StudySession(
            chat_id=firm.id, topic="集中学习", starts_at=at(MONDAY + timedelta(days=3), 14),
            minutes=90, status="closed",
        )  # fmt: skip
        session.add(study_session)
        await session.flush()
        for name in ("张三", "李四"):
            session.add(
                StudyAttendance(
                    session_id=study_session.id, chat_id=firm.id, user_id=ids[name],
                    attended_at=at(MONDAY + timedelta(days=3), 14, 5),
                )
            )  # fmt: skip
        quiz_round = QuizRound(
            chat_id=firm.id, kind="daily", question_ids=["q001", "q002"], open_seconds=600,
            opened_at=at(MONDAY, 20), closes_at=at(MONDAY, 20, 10), status="closed",
        )  # fmt: skip
        session.add(quiz_round)
        await session.flush()
        for position, (poll_id, requirement) in enumerate((("p1", "1"), ("p2", "3"))):
            session.add(
                QuizPoll(
                    poll_id=poll_id, round_id=quiz_round.id, chat_id=firm.id, position=position,
                    message_id=200 + position, question_id=f"q00{position + 1}",
                    requirement=requirement, correct_option=0, sent_at=at(MONDAY, 20),
                    closes_at=at(MONDAY, 20, 10),
                )
            )  # fmt: skip
        await session.flush()
        answers = [
            ("p1", "张三", True),
            ("p1", "李四", True),
            ("p2", "张三", False),
            ("p2", "王律师", True),
        ]
        for poll_id, name, correct in answers:
            session.add(
                QuizAnswer(
                    poll_id=poll_id, chat_id=firm.id, user_id=ids[name], option=0 if correct else 1,
                    correct=correct, answered_at=at(MONDAY, 20, 1),
                )
            )  # fmt: skip
        items = [
            (1, "李四", MONDAY + timedelta(days=10), "open", None),  # open
            (2, "李四", MONDAY - timedelta(days=2), "open", None),  # overdue
            (3, "王律师", MONDAY + timedelta(days=1), "closed", at(MONDAY + timedelta(days=1), 16)),
        ]
        for seq, name, deadline, status, closed_at in items:
            session.add(
                LedgerItem(
                    chat_id=firm.id, year=2023, seq=seq, problem="问题<&>", requirement=5,
                    goal="", measures="措施", owner_user_id=ids[name], owner_name=name,
                    deadline_date=deadline, status=status, closed_at=closed_at,
                )
            )  # fmt: skip
    return ids


@pytest.fixture
def friday(clock: FakeClock) -> FakeClock:
    clock.set(at(MONDAY + timedelta(days=4), 16))
    return clock


async def test_report_figures_match_the_seeded_week(
    harness: BotHarness, firm: GroupChat, friday: FakeClock
) -> None:
    await seed(harness, firm)
    before = len(firm.messages())
    await firm.say("王律师", "/report")
    text_message, chart = firm.new_since(before)[-2:]
    text = text_message.text
    assert "「示范律师事务所」学习报告" in text
    assert "本周：7月24日—7月30日" in text
    assert "已知成员 3 人，学习推送 3 次" in text
    assert "打卡 5 人次，打卡率 56%" in text  # 5 / (3 × 3)
    assert "心得 2 篇" in text
    assert "集中学习 1 次，签到 2 人次" in text
    assert "作答 4 题，正确率 75%" in text
    assert "践行者 100%" in text and "维护者 50%" in text and "奋斗者 —" in text
    assert "最需加强：维护者" in text
    assert "未完成 2 项（其中逾期 1 项）" in text
    assert "本期销号 1 项，累计销号 1 项" in text
    assert (
        chart.kind == "photo" and chart.file is not None and chart.file[:8] == b"\x89PNG\r\n\x1a\n"
    )
    assert text_message.buttons == [["✓ 本周", "上周", "本月"], ["📥 导出 Excel"]]


async def test_period_buttons_switch_the_report(
    harness: BotHarness, firm: GroupChat, friday: FakeClock
) -> None:
    await seed(harness, firm)
    await firm.say("王律师", "/report")
    report = firm.last_with_buttons()
    await firm.press("王律师", "上周", report)
    text = firm.message(report.message_id).text
    assert "上周：7月17日—7月23日" in text
    assert "学习推送 1 次" in text and "打卡 1 人次" in text
    await firm.press("王律师", "本月", report)
    assert "本月：7月1日—7月31日" in firm.message(report.message_id).text
    assert "学习推送 4 次" in firm.message(report.message_id).text


async def test_report_workbook_has_a_row_per_member_and_a_sheet_per_week(
    harness: BotHarness, firm: GroupChat, friday: FakeClock
) -> None:
    ids = await seed(harness, firm)
    await firm.say("王律师", "/report xlsx")
    document = firm.last()
    assert document.kind == "document" and document.filename is not None
    assert document.filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(document.file or b""))
    summary = book.worksheets[0]
    assert summary.title == "学习记录汇总"
    headers = [c.value for c in summary[2]]
    assert headers == [
        "成员",
        "打卡次数",
        "心得篇数",
        "集中学习签到",
        "测验作答",
        "测验答对",
        "正确率",
        "负责台账",
        "已销号",
        "逾期",
    ]
    rows = {r[0]: r[1:] for r in summary.iter_rows(min_row=3, values_only=True)}
    assert set(rows) == {"张三", "王律师", "李四"}
    # The whole record includes last week's check-in by 李四.
    assert rows["李四"] == (2, 1, 1, 1, 1, "100%", 2, 0, 1)
    assert rows["王律师"] == (2, 1, 0, 1, 1, "100%", 1, 1, 0)
    assert rows["张三"] == (2, 0, 1, 2, 1, "50%", 0, 0, 0)
    week_titles = [ws.title for ws in book.worksheets[1:]]
    assert week_titles == ["2023-07-24", "2023-07-17"]
    this_week = {r[0]: r[1] for r in book["2023-07-24"].iter_rows(min_row=3, values_only=True)}
    assert this_week == {"张三": 2, "王律师": 2, "李四": 1}
    assert ids  # seeded


async def test_the_weekly_report_goes_out_by_itself(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await seed(harness, firm)
    clock.set(
        at(
            MONDAY + timedelta(days=4),
            17,
            0,
        )
        + timedelta(seconds=5)
    )  # Friday 17:00
    before = len(firm.messages())
    await harness.tick()
    sent = firm.new_since(before)
    assert len(sent) == 2 and "学习报告" in sent[0].text and sent[1].kind == "photo"
    await harness.tick()
    assert len(firm.messages()) == before + 2  # once


async def test_the_weekly_report_to_admins_privately(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await seed(harness, firm)
    emulator = harness.emulator
    admin = firm.members["王律师"]
    private = emulator.private_chat(admin)
    await harness.handled(emulator.send_message(private.id, admin, "/start"))
    await firm.say("张三", "/set report_to admins")
    await firm.say("张三", "/set report_day 1")
    await firm.say("张三", "/set report_time 08:30")
    clock.set(at(MONDAY + timedelta(days=7), 8, 31))
    before_group = len(firm.messages())
    await harness.tick()
    assert len(firm.messages()) == before_group
    texts = [m.text for m in emulator.messages(private.id)]
    assert any("学习报告" in t for t in texts)


async def test_only_admins_see_reports(harness: BotHarness, firm: GroupChat) -> None:
    await firm.say("李四", "/report")
    assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。"
    await firm.say_anonymously("/report")
    assert "学习报告" in firm.messages()[-2].text


async def test_firms_for_bot_wide_admins_sorted_and_exported(
    emulator: Emulator, database_url: str, clock: FakeClock, content: Content
) -> None:
    from bot.sandbox.driver import BotHarness as Harness
    from bot.sandbox.driver import make_group

    chief = emulator.create_user("协会")
    bot = Harness(
        emulator, harness_config(emulator, database_url, admins=[chief.id]), clock, content=content
    )
    await bot.start()
    try:
        clock.set(at(MONDAY + timedelta(days=4), 16))
        busy = await make_group(bot, "甲所", ["张三", "王律师", "李四"], admins=("王律师",))
        await seed(bot, busy)
        await make_group(bot, "乙所", ["赵六"])
        private = emulator.private_chat(chief)
        await bot.handled(emulator.send_message(private.id, chief, "/firms"))
        listing = emulator.last(private.id)
        assert "共 2 个群" in listing.text
        lines = [line for line in listing.text.splitlines() if line[:2] in ("1.", "2.")]
        assert lines[0].startswith("1. 乙所：参与率 0%（0/1 人）")
        assert lines[1] == "2. 甲所：参与率 100%（3/3 人），逾期台账 1 项"
        await bot.handled(
            emulator.press_button(private.id, listing.message_id, chief, label="逾期台账")
        )
        assert (
            emulator.message(private.id, listing.message_id)
            .text.splitlines()[2]
            .startswith("1. 甲所")
        )
        await bot.handled(emulator.send_message(private.id, chief, "/firms xlsx"))
        book = openpyxl.load_workbook(io.BytesIO(emulator.last(private.id).file or b""))
        cells = list(book.active.iter_rows(min_row=3, values_only=True))  # type: ignore[union-attr]
        assert [c[0] for c in cells] == ["乙所", "甲所"]
        assert cells[1][2:] == (3, 3, "100%", 1)
        # Members of a firm are refused, in private and in the group.
        member = busy.members["李四"]
        await bot.handled(emulator.send_message(emulator.private_chat(member).id, member, "/firms"))
        assert "仅供协会管理员" in emulator.last(emulator.private_chat(member).id).text
    finally:
        await bot.stop()


def test_chart_labels_have_every_glyph_in_the_shipped_font(content: Content) -> None:
    texts = content.texts
    labels = "".join(
        texts.plain(f"reports.chart.{k}", loc)
        for k in LABEL_KEYS
        if k != "title"
        for loc in LOCALES
    )
    labels += "".join(
        texts.plain(f"settings.weekday.{n}", loc) for n in range(1, 8) for loc in LOCALES
    )
    labels += "".join(r.short_name for r in content.requirements)
    labels += (
        texts.plain("reports.chart.title", "zh_CN", start="7月24日", end="7月30日") + "0123456789%—"
    )
    assert missing_glyphs(labels, content.directory) == set()


async def test_the_chart_renders_without_missing_glyph_warnings(
    harness: BotHarness, firm: GroupChat, friday: FakeClock
) -> None:
    await seed(harness, firm)
    s = harness.services
    built = await report_handlers.build_report(s, firm.id, "week", friday.now())
    assert built is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = report_handlers.chart_png(s, "zh_CN", built[0])
        png_en = report_handlers.chart_png(s, "en", built[0])
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    assert png.startswith(b"\x89PNG") and png_en.startswith(b"\x89PNG")
