"""Bad input through the running bot: every input gets an answer, never a stack trace, and a
rejected input stores nothing.

Hypothesis drives the chat from a worker thread; each example runs on the test's event
loop (where the bot and the emulator live) and waits until the bot has handled it. For
each example: the bot answered, no answer is the internal-error apology, nothing was
logged at ERROR (an exception reached the error handler, a text could not be filled, a
send was refused), and when the answer is not a success the database rows are unchanged.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import func, select

from bot.db.models import Chat, Schedule
from bot.db.models.ledger import LedgerCounter, LedgerEvent, LedgerItem
from bot.db.models.study import StudySession
from bot.sandbox.driver import BotHarness, GroupChat
from bot.sandbox.emulator import SentMessage
from handlers import MENU

T = TypeVar("T")

CHAT = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# Tokens people type, and the ones that broke parsers (digits int() refuses, directories
# that look like time zones, years that do not fit in UTC). No NUL: Telegram never
# delivers one in a message.
TOKENS = [
    *"0123456789０１２３４５６７８９²③٣一二三四五十",
    *" \u3000\t\n|｜:：/-.,，、",
    "年", "月", "日", "号", "点", "半", "下周五", "明天", "月底", "3天后", "2023-08-31",
    "2023-07-01", "2月30日", "8月5日", "14:00", "24:00", "周", "工作日", "每天", "on", "关",
    "要求", "第", "条", "@zhaoliu", "@nobody_here", "@x", "李四", "<b>", "</i>", "&", "<",
    "{x}", "%s", "Asia", "Asia/Tokyo", "America/Argentina", "UTC", "en", "zh", "😀", "\\",
]  # fmt: skip
TYPED = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), max_size=10).map("".join)
WORDS = st.one_of(TYPED, st.text(max_size=40)).map(lambda t: t.replace("\x00", ""))


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"sender": {"group_per_minute": 60000, "global_per_second": 1000}}


class Errors(logging.Handler):
    """Every ERROR record while the chat is fuzzed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        found = [
            f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
            for r in self.records
        ]
        self.records.clear()
        return found


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Awaitable[T]], T]:
    """Run a coroutine on the bot's loop from Hypothesis' thread."""

    def run(coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)  # type: ignore[arg-type]

    return run


async def counts(harness: BotHarness) -> dict[str, Any]:
    """What a rejected input must leave as it was."""
    async with harness.services.db.session() as session:
        found: dict[str, Any] = {}
        for model in (LedgerItem, LedgerEvent, LedgerCounter, StudySession, Schedule):
            found[model.__tablename__] = await session.scalar(
                select(func.count()).select_from(model)
            )
        chats = (await session.scalars(select(Chat).order_by(Chat.id))).all()
        found["chats"] = [(c.id, c.locale, c.timezone, c.settings) for c in chats]
    return found


def internal_texts(harness: BotHarness) -> set[str]:
    return {harness.services.texts.plain("errors.internal", loc) for loc in ("zh_CN", "en")}


async def ask(
    harness: BotHarness, firm: GroupChat, who: str, text: str, **document: Any
) -> list[SentMessage]:
    before = len(firm.messages())
    if document:
        update = harness.emulator.send_document(
            firm.id, firm.members[who], document["data"], document["name"], caption=text
        )
    else:
        update = harness.emulator.send_message(firm.id, firm.members[who], text)
    await harness.handled(update)
    return firm.new_since(before)


def check_answer(harness: BotHarness, errors: Errors, text: str, new: list[SentMessage]) -> None:
    logged = errors.take()
    assert new, f"no answer to {text!r}"
    apology = internal_texts(harness)
    assert not [m.text for m in new if m.text in apology], f"internal error for {text!r}"
    assert logged == [], f"errors logged for {text!r}"


@pytest.fixture
async def zhao(harness: BotHarness, firm: GroupChat) -> None:
    user = harness.emulator.create_user("赵六", username="zhaoliu")
    harness.emulator.set_member(firm.id, user, "member")
    firm.members["赵六"] = user
    await firm.say("赵六", "大家好")


# --- /ledger_add in one line ---

PART = st.one_of(
    WORDS,
    st.sampled_from(["问题", "1", "五", "要求3", "@zhaoliu", "李四", "明天", "2023-07-01"]),
)


# The five fields in place, each either valid or fuzzed (most lines then get far enough).
ONE_LINE = st.tuples(
    st.one_of(st.just("问题"), WORDS),
    st.one_of(st.sampled_from(["1", "五", "要求3", "第二条"]), WORDS),
    st.one_of(st.just("措施"), WORDS),
    st.one_of(st.sampled_from(["@zhaoliu", "李四", "@nobody_here"]), WORDS),
    st.one_of(st.sampled_from(["明天", "2023-08-31 18:00", "月底", "2023-07-01"]), WORDS),
).map(list)


@pytest.mark.usefixtures("zhao")
async def test_ledger_add_one_line_fuzzed(
    harness: BotHarness, firm: GroupChat, errors: Errors
) -> None:
    run = on_loop(asyncio.get_running_loop())
    texts = harness.services.texts

    async def one(parts: list[str]) -> None:
        text = "/ledger_add " + " | ".join(parts)
        before = await counts(harness)
        new = await ask(harness, firm, "王律师", text)
        check_answer(harness, errors, text, new)
        after = await counts(harness)
        if new[-1].text.startswith("已登记整改事项"):
            assert after["ledger_items"] == before["ledger_items"] + 1
            return
        if new[-1].text == texts.plain("ledger.add.ask_problem", "zh_CN"):
            await ask(harness, firm, "王律师", "/cancel")  # the dialog: nothing stored
        assert after == before, f"{text!r} was refused ({new[-1].text[:60]}) but stored"

    @CHAT
    @given(st.one_of(st.lists(PART, max_size=7), ONE_LINE))
    @example(["问题", "²", "措施", "@zhaoliu", "明天"])
    @example(["问题", "1", "措施", "@zhaoliu", "2023-07-01"])
    @example(["<b>问题</b>", "1", "措施&", "@zhaoliu", "明天 18:00", "{goal}"])
    @example(["问题" * 300, "1", "措施", "@zhaoliu", "明天"])
    def check(parts: list[str]) -> None:
        run(one(parts))

    await asyncio.to_thread(check)


# --- /set KEY VALUE ---

SETTING_NAMES = [
    *("study", "study_time", "study_days", "session_minutes", "quiz", "quiz_time", "quiz_days"),
    *("quiz_questions", "quiz_open_minutes", "ledger_offsets", "ledger_time", "report"),
    *("ledger_escalate_days", "report_day", "report_time", "report_to", "notices", "timezone"),
]  # language is left out: English answers would not change what is checked, only slow it


async def test_set_fuzzed(harness: BotHarness, firm: GroupChat, errors: Errors) -> None:
    run = on_loop(asyncio.get_running_loop())

    async def one(name: str, value: str) -> None:
        text = f"/set {name} {value}"
        before = await counts(harness)
        new = await ask(harness, firm, "王律师", text)
        check_answer(harness, errors, text, new)
        if not new[-1].text.startswith("✅"):
            assert await counts(harness) == before, f"{text!r} was refused but stored"

    @CHAT
    @given(st.one_of(st.sampled_from(SETTING_NAMES), WORDS), WORDS)
    @example("study_days", "²")
    @example("timezone", "America/Argentina")
    @example("timezone", "Asia")
    @example("ledger_offsets", "1,2,3,4,5,6")
    def check(name: str, value: str) -> None:
        run(one(name, value))

    await asyncio.to_thread(check)


# --- /session start times ---


async def test_session_fuzzed(harness: BotHarness, firm: GroupChat, errors: Errors) -> None:
    run = on_loop(asyncio.get_running_loop())

    async def one(value: str) -> None:
        text = f"/session {value}"
        before = await counts(harness)
        new = await ask(harness, firm, "王律师", text)
        check_answer(harness, errors, text, new)
        after = await counts(harness)
        if after["study_sessions"] == before["study_sessions"] + 1:
            assert any(m.buttons for m in new)  # announced, with its cancel button
            return
        assert after == before, f"{text!r} was refused but stored"

    @CHAT
    @given(
        st.one_of(
            WORDS,
            st.tuples(
                st.sampled_from(["2023-08-05", "8月5日", "明天", "2024/7/25", "2023年7月24日"]),
                st.sampled_from(["14:00", "24:00", "09:60", "８：３０", "7:5"]),
                WORDS,
            ).map(" ".join),
        )
    )
    @example("2023-07-24 07:00 已经过去")
    @example("2025-01-01 10:00 太远")
    @example("2023-08-05 14:00 " + "长" * 300)
    def check(value: str) -> None:
        run(one(value))

    await asyncio.to_thread(check)


# --- /ledger_import with a file ---

HEADERS = [
    "编号",
    "问题",
    "对应要求",
    "学习目标",
    "改进措施",
    "责任人",
    "完成时限",
    "状态",
    "销号时间",
]
CELL = st.one_of(
    st.none(),
    st.integers(min_value=-(2**31), max_value=2**31),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            *("", "2023-001", "2023-0", "1", "²", "一", "整改中", "已销号", "已取消", "@zhaoliu"),
            *("李四", "2023-08-31", "明天", "2月30日", "0001-01-01", "2023-08-01 10:00", "=1+1"),
        ]
    ),
    WORDS,
)


def workbook(rows: list[list[Any]], header: list[str] = HEADERS) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in row])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


GOOD_ROW = ["", "问题", 2, "", "措施", "@zhaoliu", "2023-08-31", "", ""]


@pytest.mark.usefixtures("zhao")
async def test_ledger_import_fuzzed(harness: BotHarness, firm: GroupChat, errors: Errors) -> None:
    run = on_loop(asyncio.get_running_loop())

    async def one(data: bytes) -> None:
        before = await counts(harness)
        new = await ask(harness, firm, "王律师", "/ledger_import", data=data, name="台账.xlsx")
        check_answer(harness, errors, f"a {len(data)}-byte file", new)
        if not new[-1].text.startswith("导入完成"):
            assert await counts(harness) == before, f"refused ({new[-1].text[:60]}) but stored"

    @CHAT
    @given(
        st.one_of(
            st.binary(max_size=300),
            st.lists(st.lists(CELL, min_size=9, max_size=9), min_size=1, max_size=3).map(workbook),
            st.lists(st.lists(CELL, min_size=9, max_size=9), max_size=2).map(
                lambda rows: workbook([GOOD_ROW, *rows])
            ),
        )
    )
    @example(workbook([["", "问题", "²", "", "措施", "@zhaoliu", "2023-08-31", "", ""]]))
    @example(workbook([[*GOOD_ROW[:7], "已销号", "0001-01-01"]]))
    @example(workbook([GOOD_ROW, [*GOOD_ROW[:5], "@nobody_here", *GOOD_ROW[6:]]]))
    @example(workbook([GOOD_ROW], header=["编号", "问题"]))
    def check(data: bytes) -> None:
        run(one(data))

    await asyncio.to_thread(check)


# --- every command with odd arguments, from a member and from an admin ---

COMMANDS = sorted({c.name for c in MENU} | {"cancel", "notice_send"})


async def test_every_command_with_odd_arguments(
    harness: BotHarness, firm: GroupChat, errors: Errors
) -> None:
    run = on_loop(asyncio.get_running_loop())
    apology = internal_texts(harness)

    async def one(command: str, who: str, args: str) -> None:
        text = f"/{command} {args}".rstrip()
        new = await ask(harness, firm, who, text)
        logged = errors.take()
        assert not [m.text for m in new if m.text in apology], f"internal error for {text!r}"
        assert logged == [], f"errors logged for {text!r}"
        if not new:
            # Silence is right only where the design says so: /cancel with nothing to cancel.
            assert command in ("cancel", "start"), f"no answer to {text!r}"
        if command in ("ledger_add", "session"):
            await ask(harness, firm, who, "/cancel")  # leave no dialog open

    @settings(max_examples=80, deadline=None, derandomize=True)
    @given(st.sampled_from(COMMANDS), st.sampled_from(["李四", "王律师"]), WORDS)
    @example("notice", "李四", "²")
    @example("notice", "李四", "99999999999999999999")
    @example("notice_send", "王律师", "²")
    @example("ledger", "李四", "²")
    @example("ledger_done", "李四", "#²")
    @example("quiz", "李四", "²")
    @example("report", "王律师", "²")
    def check(command: str, who: str, args: str) -> None:
        run(one(command, who, args))

    await asyncio.to_thread(check)


# --- notices: a fuzzed notice file imported, then read in the group ---

NOTICE_PIECES = st.sampled_from(
    [
        *("关于开展学习的通知", "各律师事务所：", "一、", "二、", "（一）", "1.", "附件：1.名单"),
        *("深圳市律师协会", "2023年7月24日", "请于8月31日前报送。", "\n", "\u3000", "<p>"),
        *("</p>", "<b>", "&amp;", "&", "<", "<script>x</script>", "\x00", "\ufeff", "\u202e"),
    ]
)
NOTICE = st.lists(st.one_of(NOTICE_PIECES, WORDS), min_size=1, max_size=30).map("".join)


async def test_fuzzed_notices_import_and_read_in_the_group(
    harness: BotHarness, firm: GroupChat, errors: Errors
) -> None:
    from bot.notices import delivery, store

    run = on_loop(asyncio.get_running_loop())
    s = harness.services

    async def one(data: bytes) -> None:
        async with s.db.session() as session:
            result, _ = await delivery.import_and_queue(
                session,
                store.read_notice(data),
                texts=s.texts,
                config=s.config,
                now=s.clock.now(),
                source="fuzz",
                imported_by="fuzz",
                auto=False,
            )
            number = result.notice.id
        new = await ask(harness, firm, "李四", f"/notice {number}")
        check_answer(harness, errors, f"/notice {number}", new)
        for row in new[-1].reply_markup["inline_keyboard"] if new[-1].reply_markup else []:
            for button in row:
                update = harness.emulator.press_button(
                    firm.id, new[-1].message_id, firm.members["李四"], data=button["callback_data"]
                )
                await harness.handled(update)
                query = update["callback_query"]["id"]
                answers = harness.emulator.callback_answers
                assert [a for a in answers if a["callback_query_id"] == query], "unanswered"
                assert errors.take() == [], f"errors logged for {button['callback_data']}"

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(
        st.one_of(
            NOTICE.map(lambda t: t.encode("utf-8", errors="replace")),
            NOTICE.map(lambda t: t.encode("gb18030", errors="replace")),
            st.binary(min_size=1, max_size=300),
        )
    )
    @example("关于学习的通知\n各律师事务所：\n一、请\x00学习。\n".encode())
    def check(data: bytes) -> None:
        run(one(data))

    await asyncio.to_thread(check)
