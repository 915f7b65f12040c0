"""Who may do what: every admin action × every kind of actor, allowed or refused as designed.

The firm's group 示范律师事务所 holds every actor at once:

- ``member``: 李四, a plain member;
- ``owner``: 赵六 (@zhaoliu), a plain member who owns the ledger items the actions touch;
- ``other_chat_admin``: 钱七, a plain member here and an administrator of another registered
  group (乙律师事务所), where he has just used his rights: they must not leak into this group;
- ``other_chat_sender``: a message posted on behalf of that other group (``sender_chat`` is
  乙律师事务所, not this group): only this group's own anonymous admins count as admins;
- ``chat_admin``: 王律师, an administrator; ``creator``: 张三, who created the group;
- ``anonymous_admin``: an admin posting as the group itself (``sender_chat`` = this group);
- ``bot_admin``: 协会秘书处, in the config's ``admins`` (bot-wide), a plain member here.

``EXPECTED`` below is the design written out: the actors each action allows; every other
applicable actor must be refused. Each cell is driven through the emulator and judged on
both what the actor sees (the refusal text or the action's answer) and the database (a
refused action stores nothing). One harness per action serves every actor: each actor
acts on its own fresh target, so cells do not depend on each other's order.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.dates import ParsedDate
from bot.db.models import Chat, OutboxMessage
from bot.db.models.ledger import LedgerItem
from bot.db.models.quiz import QuizRound
from bot.db.models.study import StudyReflection, StudySession
from bot.ledger import service
from bot.ledger.service import Actor, Draft
from bot.notices import delivery, store
from bot.sandbox.driver import BotHarness, GroupChat, make_group
from bot.sandbox.emulator import Emulator, EmuUser, SentMessage

SH = ZoneInfo("Asia/Shanghai")
BOT_ADMIN_ID = 770_000_002
ALLOWED, REFUSED = "allowed", "refused"

SENDER_CHAT_ACTORS = ("anonymous_admin", "other_chat_sender")
ACTORS = (
    "member",
    "owner",
    "other_chat_admin",
    "other_chat_sender",
    "chat_admin",
    "creator",
    "anonymous_admin",
    "bot_admin",
)
# Callback queries always come from a person: nobody presses a button "as the group".
BUTTON_ACTORS = tuple(a for a in ACTORS if a not in SENDER_CHAT_ACTORS)
ADMINS = frozenset({"chat_admin", "creator", "anonymous_admin", "bot_admin"})
BUTTON_ADMINS = ADMINS - {"anonymous_admin"}

# The design, cell by cell: action -> the actors it allows (all others are refused).
EXPECTED: dict[str, frozenset[str]] = {
    # Settings: the menu, /set, and the menu's buttons.
    "settings": ADMINS,
    "set": ADMINS,
    "settings_button": BUTTON_ADMINS,
    # Reports: /report and its buttons, /report xlsx; /firms only for bot-wide admins and
    # only in their private chat (anonymous admins have none: they try in the group).
    "report": ADMINS,
    "report_period_button": BUTTON_ADMINS,
    "report_xlsx": ADMINS,
    "report_xlsx_button": BUTTON_ADMINS,
    "firms_in_private": frozenset({"bot_admin"}),
    "firms_in_group": frozenset(),
    # Quizzes: /quiz in a group starts an extra round for admins (members get practice).
    "quiz_extra_round": ADMINS,
    # Study: collective sessions, the weekly participation report, excellent reflections.
    "session": ADMINS,
    "session_dialog": ADMINS,
    "session_cancel_button": BUTTON_ADMINS,
    "study_report": ADMINS,
    "excellent": ADMINS,
    # The ledger. /ledger_done: an admin closes (销号), the owner submits, others are refused.
    "ledger_add": ADMINS,
    "ledger_add_dialog": ADMINS,
    "ledger_edit": ADMINS,
    "ledger_cancel": ADMINS,
    "ledger_reopen": ADMINS,
    "ledger_done": ADMINS | {"owner"},
    "ledger_close_button": BUTTON_ADMINS,
    "ledger_reject_button": BUTTON_ADMINS,
    "ledger_reminder_done_button": BUTTON_ADMINS | {"owner"},
    "ledger_reminder_snooze_button": BUTTON_ADMINS | {"owner"},
    # A past deadline is confirmed by the admin who typed it (张三 here), nobody else.
    "ledger_confirm_past_button": frozenset({"creator"}),
    "ledger_export": ADMINS,
    "ledger_import": ADMINS,
    # Notices: broadcasting is for bot-wide admins, in private.
    "notice_send_in_private": frozenset({"bot_admin"}),
    "notice_send_in_group": frozenset(),
}

SEED_NOTICE = (
    Path(__file__).resolve().parents[2] / "content" / "notices" / "000_62420782f47914ad.txt"
).read_bytes()
LONG = "我认为律师应当坚持以人民为中心，依法维护当事人的合法权益。"


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # Many answers to one group within a minute of (fake) time: lift the per-group limit.
    return {
        "admins": [BOT_ADMIN_ID],
        "sender": {"group_per_minute": 6000, "private_per_second": 100, "global_per_second": 500},
    }


# --- the world: one group with every kind of actor, and another group ---


@dataclass
class World:
    harness: BotHarness
    emulator: Emulator
    clock: FakeClock
    firm: GroupChat
    other: GroupChat
    people: dict[str, EmuUser]
    ctx: dict[str, Any] = field(default_factory=dict)

    @property
    def services(self) -> Any:
        return self.harness.services

    def t(self, key: str, **values: Any) -> str:
        return str(self.services.texts.plain(key, "zh_CN", **values))

    def sender_chat(self, actor: str) -> int:
        return self.firm.id if actor == "anonymous_admin" else self.other.id

    async def send(
        self, actor: str, text: str, *, reply_to: int | None = None
    ) -> list[SentMessage]:
        """``actor`` writes in the firm's group; the bot's new messages there."""
        before = len(self.firm.messages())
        if actor in SENDER_CHAT_ACTORS:
            update = self.emulator.send_message(
                self.firm.id, None, text, reply_to=reply_to, sender_chat_id=self.sender_chat(actor)
            )
        else:
            update = self.emulator.send_message(
                self.firm.id, self.people[actor], text, reply_to=reply_to
            )
        await self.harness.handled(update)
        return self.firm.new_since(before)

    async def send_file(self, actor: str, data: bytes, caption: str) -> list[SentMessage]:
        before = len(self.firm.messages())
        update = self.emulator.send_document(
            self.firm.id, self.people[actor], data, "台账.xlsx", caption=caption
        )
        await self.harness.handled(update)
        return self.firm.new_since(before)

    async def press(
        self, actor: str, message: SentMessage, data: str
    ) -> tuple[dict[str, Any], list[SentMessage]]:
        """``actor`` presses the button with this callback data: (the answer, new messages)."""
        before = len(self.firm.messages())
        update = self.emulator.press_button(
            self.firm.id, message.message_id, self.people[actor], data=data
        )
        await self.harness.handled(update)
        query_id = update["callback_query"]["id"]
        answers = [a for a in self.emulator.callback_answers if a["callback_query_id"] == query_id]
        assert len(answers) == 1, f"{actor}: the button got {len(answers)} answers"
        return answers[0], self.firm.new_since(before)

    async def in_private(self, actor: str, text: str) -> list[SentMessage]:
        """``actor`` writes to the bot privately (sender-chat actors write in the group)."""
        if actor in SENDER_CHAT_ACTORS:
            return await self.send(actor, text)
        user = self.people[actor]
        chat = self.emulator.private_chat(user)
        before = len(self.emulator.messages(chat.id))
        await self.harness.handled(self.emulator.send_message(chat.id, user, text))
        return self.emulator.messages(chat.id)[before:]

    async def scalar(self, query: Any) -> Any:
        async with self.services.db.session() as session:
            return await session.scalar(query)

    async def count(self, model: Any, *where: Any) -> int:
        return int(await self.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    async def item(self, item_id: int) -> LedgerItem:
        async with self.services.db.session() as session:
            found = await session.get(LedgerItem, item_id)
        assert found is not None
        return found

    async def new_item(self, problem: str, *, deadline: date = date(2023, 8, 31)) -> LedgerItem:
        """An open item owned by 赵六, created directly (the action under test comes next)."""
        async with self.services.db.session() as session:
            owner = await service.resolve_username(session, "zhaoliu")
            item = await service.create_item(
                session,
                self.firm.id,
                Draft(problem, 1, "措施", owner, ParsedDate(deadline)),
                Actor(None, "test"),
                self.clock.now(),
                SH,
            )
        return item


@pytest.fixture
async def world(harness: BotHarness, emulator: Emulator, clock: FakeClock) -> World:
    firm = await make_group(
        harness, "示范律师事务所", ["张三", "王律师", "李四"], admins=("王律师",)
    )
    zhao = emulator.create_user("赵六", username="zhaoliu")
    qian = emulator.create_user("钱七", username="qianqi")
    secretary = emulator.create_user("协会秘书处", user_id=BOT_ADMIN_ID)
    for user in (zhao, qian, secretary):
        emulator.set_member(firm.id, user, "member")
        firm.members[user.first_name] = user
    other = await make_group(harness, "乙律师事务所", ["孙八"])
    emulator.set_member(other.id, qian, "administrator")
    people = {
        "member": firm.members["李四"],
        "owner": zhao,
        "other_chat_admin": qian,
        "chat_admin": firm.members["王律师"],
        "creator": firm.members["张三"],
        "bot_admin": secretary,
    }
    w = World(harness, emulator, clock, firm, other, people)
    for name in ("张三", "王律师", "李四", "赵六", "钱七", "协会秘书处"):
        await firm.say(name, "大家好")  # the bot knows everyone (and @zhaoliu)
    # 钱七 uses his admin rights in his own group first: the answer is cached there.
    await other.say(qian, "/settings")
    assert other.last().buttons, "钱七 is an admin of 乙律师事务所"
    return w


# --- judging a cell ---


def judge(
    actor: str, *, refusal: bool, success: bool, changed: bool | None, seen: list[str]
) -> str:
    """Refused: the refusal and no change. Allowed: the action's answer and its change.
    ``changed`` None: the action only shows something (a menu, a report)."""
    if refusal and not success and not changed:
        return REFUSED
    if success and not refusal and changed in (True, None):
        return ALLOWED
    return f"inconsistent ({actor}): refusal={refusal} success={success} changed={changed} {seen}"


def texts(messages: list[SentMessage]) -> list[str]:
    return [m.text[:80] for m in messages]


def admin_only(w: World, messages: list[SentMessage]) -> bool:
    return [m.text for m in messages] == [w.t("errors.admin_only")]


def alert(answer: dict[str, Any], text: str) -> bool:
    return bool(answer["show_alert"]) and answer["text"] == text


Run = Callable[[World, str], Awaitable[str]]
Setup = Callable[[World], Awaitable[None]]


@dataclass(frozen=True)
class Action:
    run: Run
    actors: tuple[str, ...] = ACTORS
    setup: Setup | None = None


ACTIONS: dict[str, Action] = {}


def action(
    name: str, *, actors: tuple[str, ...] = ACTORS, setup: Setup | None = None
) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        ACTIONS[name] = Action(run, actors, setup)
        return run

    return register


# --- settings ---


async def chat_settings(w: World) -> tuple[dict[str, Any], str, str]:
    async with w.services.db.session() as session:
        chat = await session.get(Chat, w.firm.id)
        assert chat is not None
        return dict(chat.settings or {}), chat.locale, chat.timezone


@action("settings")
async def _settings(w: World, actor: str) -> str:
    before = await chat_settings(w)
    new = await w.send(actor, "/settings")
    menu = bool(new) and bool(new[-1].buttons) and not admin_only(w, new)
    changed = await chat_settings(w) != before
    return judge(
        actor, refusal=admin_only(w, new), success=menu, changed=changed or None, seen=texts(new)
    )


@action("set")
async def _set(w: World, actor: str) -> str:
    value = ACTORS.index(actor) + 2  # a different number of questions for each actor
    new = await w.send(actor, f"/set quiz_questions {value}")
    stored = (await chat_settings(w))[0].get("quiz.questions")
    ok = bool(new) and new[-1].text.startswith("✅ 已修改")
    return judge(
        actor, refusal=admin_only(w, new), success=ok, changed=stored == value, seen=texts(new)
    )


async def _open_settings_menu(w: World) -> None:
    await w.send("chat_admin", "/settings")
    w.ctx["menu"] = w.firm.last()


@action("settings_button", actors=BUTTON_ACTORS, setup=_open_settings_menu)
async def _settings_button(w: World, actor: str) -> str:
    menu = w.firm.message(w.ctx["menu"].message_id)  # as it looks now (edits update it)
    data = next(
        b["callback_data"]
        for row in menu.reply_markup["inline_keyboard"]  # type: ignore[index]
        for b in row
        if b.get("callback_data", "").startswith("set:v:notices:")
    )
    before = (await chat_settings(w))[0].get("notices.auto", True)
    answer, new = await w.press(actor, menu, data)
    after = (await chat_settings(w))[0].get("notices.auto", True)
    refusal = alert(answer, w.t("errors.admin_only"))
    return judge(
        actor,
        refusal=refusal,
        success=not answer["show_alert"] and bool(new),
        changed=after != before,
        seen=texts(new),
    )


# --- reports ---


def photos(messages: list[SentMessage]) -> int:
    return sum(1 for m in messages if m.kind == "photo")


def documents(messages: list[SentMessage]) -> int:
    return sum(1 for m in messages if m.kind == "document")


@action("report")
async def _report(w: World, actor: str) -> str:
    new = await w.send(actor, "/report")
    return judge(
        actor, refusal=admin_only(w, new), success=photos(new) == 1, changed=None, seen=texts(new)
    )


async def _open_report(w: World) -> None:
    await w.send("chat_admin", "/report")
    w.ctx["report"] = next(m for m in reversed(w.firm.messages()) if m.buttons)


@action("report_period_button", actors=BUTTON_ACTORS, setup=_open_report)
async def _report_period(w: World, actor: str) -> str:
    answer, new = await w.press(actor, w.ctx["report"], "report:p:last_week")
    refusal = alert(answer, w.t("errors.admin_only"))
    return judge(actor, refusal=refusal, success=photos(new) == 1, changed=None, seen=texts(new))


@action("report_xlsx")
async def _report_xlsx(w: World, actor: str) -> str:
    new = await w.send(actor, "/report xlsx")
    return judge(
        actor,
        refusal=admin_only(w, new),
        success=documents(new) == 1,
        changed=None,
        seen=texts(new),
    )


@action("report_xlsx_button", actors=BUTTON_ACTORS, setup=_open_report)
async def _report_xlsx_button(w: World, actor: str) -> str:
    answer, new = await w.press(actor, w.ctx["report"], "report:x")
    refusal = alert(answer, w.t("errors.admin_only"))
    return judge(actor, refusal=refusal, success=documents(new) == 1, changed=None, seen=texts(new))


@action("firms_in_private")
async def _firms_private(w: World, actor: str) -> str:
    new = await w.in_private(actor, "/firms")
    denied = [m.text for m in new] == [w.t("reports.firms.denied")]
    listing = bool(new) and any(m.buttons for m in new) and not denied
    return judge(actor, refusal=denied, success=listing, changed=None, seen=texts(new))


@action("firms_in_group")
async def _firms_group(w: World, actor: str) -> str:
    new = await w.send(actor, "/firms")
    denied = [m.text for m in new] == [w.t("reports.firms.denied")]
    return judge(
        actor, refusal=denied, success=not denied and bool(new), changed=None, seen=texts(new)
    )


# --- quizzes ---


@action("quiz_extra_round")
async def _quiz(w: World, actor: str) -> str:
    rounds = await w.count(QuizRound, QuizRound.chat_id == w.firm.id)
    new = await w.send(actor, "/quiz")
    started = await w.count(QuizRound, QuizRound.chat_id == w.firm.id) - rounds
    polls = sum(1 for m in new if m.kind == "poll")
    if started:
        w.clock.advance(timedelta(minutes=10, seconds=30))  # close it: the next actor starts anew
        await w.harness.tick()
    # Members are not refused but sent to private practice: refused = no round, no poll.
    return judge(
        actor,
        refusal=not polls and not started,
        success=polls > 0,
        changed=started == 1,
        seen=texts(new),
    )


# --- study ---


async def sessions(w: World) -> list[StudySession]:
    async with w.services.db.session() as session:
        rows = await session.scalars(select(StudySession).order_by(StudySession.id))
        return list(rows.all())


@action("session")
async def _session(w: World, actor: str) -> str:
    index = ACTORS.index(actor)
    before = len(await sessions(w))
    day = date(2023, 7, 25) + timedelta(days=index)
    new = await w.send(actor, f"/session {day.isoformat()} 14:00 学习座谈会精神{index}")
    created = len(await sessions(w)) - before
    announced = any(m.buttons for m in new)
    return judge(
        actor, refusal=admin_only(w, new), success=announced, changed=created == 1, seen=texts(new)
    )


@action("session_dialog")
async def _session_dialog(w: World, actor: str) -> str:
    new = await w.send(actor, "/session")
    asked = bool(new) and new[-1].text.startswith(w.t("study.session.ask_when", forms="")[:12])
    if asked:
        await w.send(actor, "/cancel")
    return judge(actor, refusal=admin_only(w, new), success=asked, changed=None, seen=texts(new))


@action("session_cancel_button", actors=BUTTON_ACTORS)
async def _session_cancel(w: World, actor: str) -> str:
    index = ACTORS.index(actor)
    await w.send("chat_admin", f"/session 2023-08-{index + 1:02d} 10:00 取消测试{index}")
    announcement = w.firm.last()
    session_id = (await sessions(w))[-1].id
    answer, new = await w.press(actor, announcement, f"study:sx:{session_id}")
    status = next(s.status for s in await sessions(w) if s.id == session_id)
    refusal = alert(answer, w.t("errors.admin_only"))
    done = answer["text"] == w.t("study.session.cancel_done")
    return judge(
        actor, refusal=refusal, success=done, changed=status == "cancelled", seen=texts(new)
    )


@action("study_report")
async def _study_report(w: World, actor: str) -> str:
    new = await w.send(actor, "/study_report")
    shown = bool(new) and "本周" in new[-1].text and not admin_only(w, new)
    return judge(actor, refusal=admin_only(w, new), success=shown, changed=None, seen=texts(new))


# Whose reflection each actor marks: refused actors all try 李四's; each allowed one its own.
REFLECTION_OF = {
    "chat_admin": "赵六",
    "creator": "钱七",
    "anonymous_admin": "张三",
    "bot_admin": "王律师",
}


async def _reflections(w: World) -> None:
    w.clock.set(datetime(2023, 7, 24, 9, 0, tzinfo=SH))
    await w.harness.tick()
    prompt = next(
        m
        for m in reversed(w.firm.messages())
        if m.buttons and m.button_data(m.buttons[0][0]).startswith("study:in:")
    )
    w.ctx["reflections"] = {}
    for name in ("李四", *REFLECTION_OF.values()):
        update = w.emulator.send_message(
            w.firm.id, w.firm.members[name], f"{name}：{LONG}", reply_to=prompt.message_id
        )
        await w.harness.handled(update)
        w.ctx["reflections"][name] = update["message"]["message_id"]


async def excellent_at(w: World, name: str) -> datetime | None:
    user_id = w.firm.members[name].id
    return await w.scalar(
        select(StudyReflection.excellent_at).where(StudyReflection.user_id == user_id)
    )


@action("excellent", setup=_reflections)
async def _excellent(w: World, actor: str) -> str:
    author = REFLECTION_OF.get(actor, "李四")
    new = await w.send(actor, "/excellent", reply_to=w.ctx["reflections"][author])
    marked = await excellent_at(w, author) is not None
    shared = bool(new) and new[-1].text.startswith("🌟 优秀心得")
    return judge(actor, refusal=admin_only(w, new), success=shared, changed=marked, seen=texts(new))


# --- the ledger ---


async def ledger_count(w: World) -> int:
    return await w.count(LedgerItem, LedgerItem.chat_id == w.firm.id)


@action("ledger_add")
async def _ledger_add(w: World, actor: str) -> str:
    before = await ledger_count(w)
    new = await w.send(actor, f"/ledger_add 问题{actor} | 1 | 措施 | @zhaoliu | 2023-08-31")
    created = await ledger_count(w) - before
    ok = bool(new) and new[-1].text.startswith("已登记整改事项")
    return judge(
        actor, refusal=admin_only(w, new), success=ok, changed=created == 1, seen=texts(new)
    )


def open_dialogs(w: World) -> int:
    from handlers.ledger import state

    return len(state(w.harness.app).dialogs)  # type: ignore[arg-type]


@action("ledger_add_dialog")
async def _ledger_dialog(w: World, actor: str) -> str:
    before = open_dialogs(w)
    new = await w.send(actor, "/ledger_add")
    opened = open_dialogs(w) - before
    asked = bool(new) and new[-1].text == w.t("ledger.add.ask_problem")
    if opened:
        await w.send(actor, "/cancel")
    return judge(
        actor, refusal=admin_only(w, new), success=asked, changed=opened == 1, seen=texts(new)
    )


@action("ledger_edit")
async def _ledger_edit(w: World, actor: str) -> str:
    item = await w.new_item("原问题")
    new = await w.send(actor, f"/ledger_edit {item.seq} 问题 新问题")
    changed = (await w.item(item.id)).problem == "新问题"
    return judge(
        actor,
        refusal=admin_only(w, new),
        success=bool(new) and not admin_only(w, new),
        changed=changed,
        seen=texts(new),
    )


@action("ledger_cancel")
async def _ledger_cancel(w: World, actor: str) -> str:
    item = await w.new_item("待取消")
    new = await w.send(actor, f"/ledger_cancel {item.seq}")
    changed = (await w.item(item.id)).status == "cancelled"
    return judge(
        actor,
        refusal=admin_only(w, new),
        success=bool(new) and not admin_only(w, new),
        changed=changed,
        seen=texts(new),
    )


@action("ledger_reopen")
async def _ledger_reopen(w: World, actor: str) -> str:
    item = await w.new_item("已销号")
    async with w.services.db.session() as session:
        row = await session.get(LedgerItem, item.id)
        assert row is not None
        await service.close(session, row, Actor(None, "test"), w.clock.now())
    new = await w.send(actor, f"/ledger_reopen {item.seq}")
    changed = (await w.item(item.id)).status == "open"
    return judge(
        actor,
        refusal=admin_only(w, new),
        success=bool(new) and not admin_only(w, new),
        changed=changed,
        seen=texts(new),
    )


@action("ledger_done")
async def _ledger_done(w: World, actor: str) -> str:
    item = await w.new_item("待办理")
    new = await w.send(actor, f"/ledger_done {item.seq} 已整改完毕")
    status = (await w.item(item.id)).status
    # An admin strikes the item off; its owner submits it for an admin to check.
    effect = "submitted" if actor == "owner" else "closed"
    not_owner = [m.text for m in new] == [
        w.t("ledger.errors.not_owner", number=item.number, owner="赵六")
    ]
    return judge(
        actor,
        refusal=not_owner,
        success=bool(new) and not not_owner,
        changed=status == effect if status != "open" else False,
        seen=texts(new),
    )


async def submitted_card(w: World) -> tuple[LedgerItem, SentMessage]:
    """A fresh item its owner has submitted: the card with the close/reject buttons."""
    item = await w.new_item("待审核")
    await w.send("owner", f"/ledger_done {item.seq} 已整改，附会议记录")
    card = w.firm.last()
    assert card.buttons, card.text
    return item, card


@action("ledger_close_button", actors=BUTTON_ACTORS)
async def _ledger_close(w: World, actor: str) -> str:
    item, card = await submitted_card(w)
    answer, new = await w.press(actor, card, f"ledger:close:{item.id}")
    status = (await w.item(item.id)).status
    refusal = alert(answer, w.t("errors.admin_only"))
    return judge(
        actor,
        refusal=refusal,
        success=not answer["show_alert"] and bool(new),
        changed=status == "closed",
        seen=texts(new),
    )


@action("ledger_reject_button", actors=BUTTON_ACTORS)
async def _ledger_reject(w: World, actor: str) -> str:
    item, card = await submitted_card(w)
    answer, new = await w.press(actor, card, f"ledger:reject:{item.id}")
    status = (await w.item(item.id)).status
    refusal = alert(answer, w.t("errors.admin_only"))
    return judge(
        actor,
        refusal=refusal,
        success=not answer["show_alert"] and bool(new),
        changed=status == "open",
        seen=texts(new),
    )


async def _reminders(w: World) -> None:
    """One item per actor, due on Thursday: Monday 09:00 reminds their owner 赵六."""
    w.ctx["reminders"] = {}
    for actor in BUTTON_ACTORS:
        await w.send("chat_admin", f"/ledger_add 提醒{actor} | 2 | 措施 | @zhaoliu | 2023-07-27")
    w.clock.set(datetime(2023, 7, 24, 9, 0, tzinfo=SH))
    await w.harness.tick()
    async with w.services.db.session() as session:
        items = (await session.scalars(select(LedgerItem))).all()
    by_problem = {i.problem: i.id for i in items}
    for actor in BUTTON_ACTORS:
        item_id = by_problem[f"提醒{actor}"]
        message = next(
            m
            for m in w.firm.messages()
            if m.buttons and m.button_data(m.buttons[0][0]) == f"ledger:done:{item_id}"
        )
        w.ctx["reminders"][actor] = (item_id, message)


def not_owner_alert(w: World, answer: dict[str, Any]) -> bool:
    return alert(answer, w.t("ledger.errors.not_owner_short", owner="赵六"))


@action("ledger_reminder_done_button", actors=BUTTON_ACTORS, setup=_reminders)
async def _reminder_done(w: World, actor: str) -> str:
    item_id, message = w.ctx["reminders"][actor]
    answer, new = await w.press(actor, message, f"ledger:done:{item_id}")
    status = (await w.item(item_id)).status
    if actor == "owner":  # the owner is asked for the evidence (a dialog, nothing stored yet)
        asked = bool(new) and new[-1].text.startswith("赵六，请直接回复本条消息")
        return judge(
            actor,
            refusal=not_owner_alert(w, answer),
            success=asked,
            changed=None if status == "open" else False,
            seen=texts(new),
        )
    return judge(
        actor,
        refusal=not_owner_alert(w, answer),
        success=bool(new),
        changed=status == "closed",
        seen=texts(new),
    )


@action("ledger_reminder_snooze_button", actors=BUTTON_ACTORS, setup=_reminders)
async def _reminder_snooze(w: World, actor: str) -> str:
    item_id, message = w.ctx["reminders"][actor]
    answer, new = await w.press(actor, message, f"ledger:snooze:{item_id}")
    item = await w.item(item_id)
    snoozed = answer["text"] == w.t("ledger.snoozed", number=item.number)
    return judge(
        actor,
        refusal=not_owner_alert(w, answer),
        success=snoozed,
        changed=item.snoozed_until is not None,
        seen=texts(new),
    )


@action("ledger_confirm_past_button", actors=BUTTON_ACTORS)
async def _confirm_past(w: World, actor: str) -> str:
    before = await ledger_count(w)
    await w.send("creator", f"/ledger_add 过期{actor} | 1 | 措施 | @zhaoliu | 2023-07-01")
    question = w.firm.last()
    data = question.button_data(w.t("ledger.buttons.confirm_past"))
    answer, new = await w.press(actor, question, data)
    created = await ledger_count(w) - before
    refusal = alert(answer, w.t("ledger.errors.not_yours"))
    return judge(
        actor,
        refusal=refusal,
        success=not answer["show_alert"] and bool(new),
        changed=created == 1,
        seen=texts(new),
    )


@action("ledger_export")
async def _ledger_export(w: World, actor: str) -> str:
    new = await w.send(actor, "/ledger_export")
    return judge(
        actor,
        refusal=admin_only(w, new),
        success=documents(new) == 1,
        changed=None,
        seen=texts(new),
    )


def workbook(problem: str) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "问题", "对应要求", "改进措施", "责任人", "完成时限"])
    ws.append(["", problem, 2, "措施", "@zhaoliu", "2023-08-31"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@action("ledger_import")
async def _ledger_import(w: World, actor: str) -> str:
    before = await ledger_count(w)
    data = workbook(f"导入{actor}")
    if actor in SENDER_CHAT_ACTORS:
        # Nobody sends a file "as the group": they answer /ledger_import to a member's file.
        update = w.emulator.send_document(w.firm.id, w.people["member"], data, "台账.xlsx")
        await w.harness.handled(update)
        new = await w.send(actor, "/ledger_import", reply_to=update["message"]["message_id"])
    else:
        new = await w.send_file(actor, data, "/ledger_import")
    created = await ledger_count(w) - before
    ok = bool(new) and new[-1].text.startswith("导入完成")
    return judge(
        actor,
        refusal=admin_only(w, new),
        success=ok or (created == 1 and bool(new)),
        changed=created == 1,
        seen=texts(new),
    )


# --- notices ---


async def _a_notice(w: World) -> None:
    s = w.services
    async with s.db.session() as session:
        result, _ = await delivery.import_and_queue(
            session,
            store.read_notice(SEED_NOTICE),
            texts=s.texts,
            config=s.config,
            now=s.clock.now(),
            source="test",
            imported_by="test",
            auto=False,
        )
        w.ctx["notice"] = result.notice.id


@action("notice_send_in_private", setup=_a_notice)
async def _notice_send_private(w: World, actor: str) -> str:
    before = await w.count(OutboxMessage)
    new = await w.in_private(actor, f"/notice_send {w.ctx['notice']}")
    queued = await w.count(OutboxMessage) - before
    ok = bool(new) and new[-1].text.startswith(f"通知 {w.ctx['notice']}")
    return judge(actor, refusal=admin_only(w, new), success=ok, changed=queued > 0, seen=texts(new))


@action("notice_send_in_group", setup=_a_notice)
async def _notice_send_group(w: World, actor: str) -> str:
    before = await w.count(OutboxMessage)
    new = await w.send(actor, f"/notice_send {w.ctx['notice']}")
    queued = await w.count(OutboxMessage) - before
    private_only = [m.text for m in new] == [w.t("notices.send.private_only")]
    refusal = admin_only(w, new) or (actor == "bot_admin" and private_only)
    return judge(
        actor,
        refusal=refusal,
        success=bool(new) and not refusal,
        changed=queued > 0,
        seen=texts(new),
    )


# --- the matrix ---


def test_the_table_covers_every_action_and_only_known_actors() -> None:
    assert set(EXPECTED) == set(ACTIONS)
    for name, allowed in EXPECTED.items():
        assert allowed <= set(ACTIONS[name].actors), name


@pytest.mark.parametrize("name", list(EXPECTED))
async def test_authorization_matrix(name: str, world: World) -> None:
    spec = ACTIONS[name]
    if spec.setup is not None:
        await spec.setup(world)
    got = {actor: await spec.run(world, actor) for actor in spec.actors}
    wanted = {a: ALLOWED if a in EXPECTED[name] else REFUSED for a in spec.actors}
    wrong = {a: (got[a], wanted[a]) for a in spec.actors if got[a] != wanted[a]}
    assert wrong == {}, f"{name}: (got, expected) per actor"


# --- rights change while the bot runs ---


async def test_promotion_and_demotion_apply_at_once(world: World) -> None:
    """chat_member updates refresh the cached answer: no minutes of stale rights."""
    wang, li = world.people["chat_admin"], world.people["member"]
    assert (await world.send("chat_admin", "/settings"))[-1].buttons
    await world.harness.handled(world.emulator.set_admin(world.firm.id, wang, False))
    assert admin_only(world, await world.send("chat_admin", "/settings"))
    await world.harness.handled(world.emulator.set_admin(world.firm.id, li, True))
    assert (await world.send("member", "/settings"))[-1].buttons
    # Promoted in the other group, 钱七 is still nobody here.
    assert admin_only(world, await world.send("other_chat_admin", "/settings"))


async def test_an_admin_demoted_mid_dialog_cannot_finish_it(world: World) -> None:
    """Rights are checked when something is stored, not only when a dialog starts."""
    wang = world.people["chat_admin"]
    items, stored_sessions = await ledger_count(world), len(await sessions(world))

    async def demote() -> None:
        await world.harness.handled(world.emulator.set_admin(world.firm.id, wang, False))

    async def promote() -> None:
        await world.harness.handled(world.emulator.set_admin(world.firm.id, wang, True))

    # The guided /ledger_add: five answers, then the deadline would store the item.
    await world.send("chat_admin", "/ledger_add")
    for answer in ("问题", "1", "目标", "措施", "@zhaoliu"):
        await world.send("chat_admin", answer)
    await demote()
    assert admin_only(world, await world.send("chat_admin", "2023-08-31"))
    # The /session dialog: the time and topic would store the session.
    await promote()
    await world.send("chat_admin", "/session")
    await demote()
    assert admin_only(world, await world.send("chat_admin", "2023-08-05 14:00 座谈会精神"))
    # The one-line form with a past deadline waits for the admin's confirmation.
    await promote()
    await world.send("chat_admin", "/ledger_add 过期 | 1 | 措施 | @zhaoliu | 2023-07-01")
    question = world.firm.last()
    await demote()
    answer, _ = await world.press(
        "chat_admin", question, question.button_data(world.t("ledger.buttons.confirm_past"))
    )
    assert alert(answer, world.t("errors.admin_only"))
    assert await ledger_count(world) == items
    assert len(await sessions(world)) == stored_sessions


# --- forged callback data: no acting on another group's things ---


async def forged_press(
    w: World, actor: str, message: SentMessage, data: str
) -> tuple[dict[str, Any], list[SentMessage]]:
    """A modified client sends callback data the bot never put on this message."""
    live = w.firm.message(message.message_id)
    saved = live.reply_markup
    live.reply_markup = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
    try:
        return await w.press(actor, live, data)
    finally:
        live.reply_markup = saved


async def test_forged_buttons_cannot_reach_another_groups_items_or_sessions(world: World) -> None:
    other, admin_b = world.other, world.people["other_chat_admin"]
    await other.say("孙八", "大家好")
    await other.say(admin_b, "/ledger_add 乙所问题 | 1 | 措施 | 孙八 | 2023-08-31")
    await other.say(admin_b, "/session 2023-08-05 14:00 乙所集中学习")
    async with world.services.db.session() as session:
        b_item = await session.scalar(select(LedgerItem).where(LedgerItem.chat_id == other.id))
        b_session = await session.scalar(
            select(StudySession).where(StudySession.chat_id == other.id)
        )
    assert b_item is not None and b_session is not None
    await world.send("chat_admin", "/ledger")
    board = world.firm.last()
    for data in (
        f"ledger:close:{b_item.id}",
        f"ledger:reject:{b_item.id}",
        f"ledger:done:{b_item.id}",
        f"ledger:snooze:{b_item.id}",
        f"study:sx:{b_session.id}",
    ):
        answer, new = await forged_press(world, "chat_admin", board, data)
        assert answer["show_alert"] and not new, (data, answer, texts(new))
    assert (await world.item(b_item.id)).status == "open"
    assert next(s for s in await sessions(world) if s.id == b_session.id).status == "scheduled"
    # Bot-wide buttons pressed by a group admin in the group.
    for data in ("notice:state:1", "firms:x", "firms:s:name"):
        answer, new = await forged_press(world, "chat_admin", board, data)
        assert answer["show_alert"] and not new, (data, answer, texts(new))
