"""/ledger and friends: the rectification ledger in the firm's group (TG).

Admins add, edit, cancel, close (strike off) and reopen items; owners submit theirs with
evidence; everyone can read the ledger. Reminders and the weekly digest are scheduler
actions registered in ``setup``. Dialog state (the guided /ledger_add, an owner's pending
evidence, past-deadline confirmations) lives in memory per (chat, user) with a timeout:
it is a few minutes of typing, nothing is written before the last step, and a filter must
decide synchronously whether a plain message belongs to a dialog. A restart forgets an
unfinished dialog (the user starts again); the one-line form needs no state at all.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from telegram import Message, MessageEntity, Update
from telegram import User as TgUser
from telegram.error import TelegramError
from telegram.ext import filters

from bot import chats
from bot.dates import DateError, ParsedDate, parse_date
from bot.db.models import Chat, Member, User
from bot.db.models.ledger import OPEN, SUBMITTED, LedgerItem
from bot.ledger import reminders, render, service, transfer
from bot.ledger.excel import MAX_BYTES, XlsxError
from bot.ledger.reminders import KIND_DIGEST, KIND_REMINDER, LadderSettings
from bot.ledger.service import Actor, Draft, Evidence, LedgerError, Owner
from bot.scheduling import SlotRun
from bot.services import Services
from bot.texts import Html
from bot.ui import Button, Keyboard, callback, parse_callback
from handlers.common import (
    Context,
    FirmBotApp,
    chat_settings,
    command_args,
    is_admin,
    locale_of,
    reply,
    require_admin,
    svc,
)

logger = logging.getLogger(__name__)

DIALOG_TTL = timedelta(minutes=30)
STATE_KEY = "ledger.state"


# --- in-memory dialog state ---


@dataclass
class Dialog:
    kind: Literal["add", "evidence"]
    step: str
    locale: str
    expires: datetime
    data: dict[str, Any] = field(default_factory=dict)
    # The bot's prompt a reply may answer (evidence) or whose buttons belong to it.
    prompt_id: int | None = None


@dataclass
class Pending:
    """An action waiting for the admin to confirm a deadline in the past."""

    kind: Literal["add", "edit"]
    chat_id: int
    user_id: int
    expires: datetime
    data: dict[str, Any]


@dataclass
class LedgerState:
    dialogs: dict[tuple[int, int], Dialog] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)

    def dialog(self, chat_id: int, user_id: int, now: datetime) -> Dialog | None:
        found = self.dialogs.get((chat_id, user_id))
        if found is not None and found.expires < now:
            del self.dialogs[(chat_id, user_id)]
            return None
        return found

    def take_pending(self, token: str, now: datetime) -> Pending | None:
        for key in [k for k, p in self.pending.items() if p.expires < now]:
            del self.pending[key]
        return self.pending.pop(token, None)


def state(context: Context | FirmBotApp) -> LedgerState:
    value = svc(context).extras.setdefault(STATE_KEY, LedgerState())
    assert isinstance(value, LedgerState)
    return value


class InDialog(filters.MessageFilter):
    """Messages that answer a ledger dialog of their sender (checked in memory)."""

    def __init__(self, app: FirmBotApp, *, commands: bool = False) -> None:
        super().__init__(name="ledger.in_dialog", data_filter=False)
        self.app = app
        self.commands = commands

    def filter(self, message: Message) -> bool:
        user = message.from_user
        if user is None:
            return False
        s = svc(self.app)
        found = state(self.app).dialog(message.chat.id, user.id, s.clock.now())
        if found is None:
            return False
        if self.commands:
            return True
        if (message.text or "").startswith("/"):
            return False
        if found.kind == "add":
            return bool(message.text)
        if message.photo or message.document:
            return True
        if not message.text:
            return False
        replied = message.reply_to_message
        return message.chat.type == "private" or (
            replied is not None and replied.message_id == found.prompt_id
        )


# --- small helpers ---


@dataclass(frozen=True)
class Where:
    """The chat an update belongs to, with its zone, locale and time."""

    chat_id: int
    title: str
    locale: str
    chat_locale: str
    zone: ZoneInfo
    now: datetime
    settings: dict[str, Any]

    @property
    def today(self) -> Any:
        return self.now.astimezone(self.zone).date()

    @property
    def ladder(self) -> LadderSettings:
        return LadderSettings.from_settings(self.settings)


async def where(update: Update, context: Context) -> Where | None:
    """The group the update came from; in a private chat, say the ledger lives in groups."""
    chat = update.effective_chat
    if chat is None:
        return None
    locale = await locale_of(update, context)
    if chat.type not in chats.GROUP_TYPES:
        await reply(update, context, svc(context).t("ledger.group_only", locale))
        return None
    settings = await chat_settings(context, chat.id)
    return Where(
        chat_id=chat.id,
        title=chat.title or "",
        locale=locale,
        chat_locale=str(settings["locale"]),
        zone=ZoneInfo(str(settings["timezone"])),
        now=svc(context).clock.now(),
        settings=settings,
    )


def actor_from(update: Update) -> Actor:
    message = update.effective_message
    if message is not None and message.sender_chat is not None:
        return Actor(None, message.sender_chat.title or "")
    user = update.effective_user
    if user is None:
        return Actor(None, "")
    return Actor(user.id, user.full_name)


def owner_from_user(user: TgUser) -> Owner:
    return Owner(user.id, user.username.lower() if user.username else None, user.full_name)


def requirement_names(s: Services) -> dict[int, str]:
    return {r.number: r.short_name for r in s.content.requirements}


def error_text(s: Services, exc: LedgerError, locale: str) -> Html:
    """A LedgerError as a message; its code names the text."""
    values = dict(exc.values)
    if "field" in values:
        values["field"] = render.field_name(s.texts, str(values["field"]), locale)
    codes = {
        "empty_field": "ledger.errors.empty_field",
        "too_long": "ledger.errors.too_long",
        "is_cancelled": "ledger.errors.is_cancelled",
        "snoozed_today": "ledger.errors.snoozed_today",
    }
    key = codes.get(exc.code)
    if key == "ledger.errors.empty_field":
        return s.t("ledger.errors.empty_field", locale, **values)
    if key == "ledger.errors.too_long":
        return s.t("ledger.errors.too_long", locale, **values)
    if key == "ledger.errors.is_cancelled":
        return s.t("ledger.errors.is_cancelled", locale, **values)
    if key == "ledger.errors.snoozed_today":
        return s.t("ledger.errors.snoozed_today", locale, **values)
    if exc.code.startswith("not_open_"):
        return s.t("ledger.errors.not_open", locale, **values)
    if exc.code.startswith("cannot_close_"):
        return s.t("ledger.errors.cannot_close", locale, **values)
    if exc.code.startswith("cannot_reopen_"):
        return s.t("ledger.errors.cannot_reopen", locale, **values)
    return s.t("ledger.errors.generic", locale)


def date_error(s: Services, exc: DateError, locale: str) -> Html:
    forms = "、".join(exc.examples) if locale != "en" else ", ".join(exc.examples)
    if exc.kind == "invalid":
        return s.t("ledger.errors.date_invalid", locale, text=exc.text, forms=forms)
    return s.t("ledger.errors.date", locale, text=exc.text, forms=forms)


async def find(update: Update, context: Context, w: Where, text: str) -> LedgerItem | None:
    """The item a number names, or None after telling the user why not."""
    s = svc(context)
    if service.parse_number(text) is None:
        await reply(
            update, context, s.t("ledger.errors.bad_number", w.locale, text=text), quote=True
        )
        return None
    async with s.db.session() as session:
        item = await service.find_item(session, w.chat_id, text, w.today.year)
    if item is None:
        await reply(
            update, context, s.t("ledger.errors.not_found", w.locale, text=text), quote=True
        )
    return item


async def resolve_owner(update: Update, context: Context, w: Where, text: str) -> Owner | None:
    """@username, a text mention, a member's exact name, or (text empty) the replied-to user."""
    s = svc(context)
    message = update.effective_message
    assert message is not None
    text = text.strip()
    entities = message.parse_entities([MessageEntity.TEXT_MENTION])
    for entity, value in entities.items():
        if entity.user is not None and value.strip() and value.strip() in text:
            return owner_from_user(entity.user)
    async with s.db.session() as session:
        if text.startswith("@"):
            username = service.parse_username(text)
            if username is not None:
                return await service.resolve_username(session, username)
        elif text and text != "-":
            found = await service.resolve_member_name(session, w.chat_id, text)
            if found is not None:
                return found
    replied = message.reply_to_message
    replied_user = replied.from_user if replied is not None else None
    if (not text or text == "-") and replied_user is not None and not replied_user.is_bot:
        return owner_from_user(replied_user)
    await reply(update, context, s.t("ledger.errors.owner", w.locale, text=text), quote=True)
    return None


def parse_deadline(s: Services, w: Where, text: str) -> ParsedDate | Html:
    try:
        return parse_date(text, w.today, w.zone)
    except DateError as exc:
        return date_error(s, exc, w.locale)


def is_past(value: ParsedDate, w: Where) -> bool:
    return value.at(w.zone) < w.now


async def sync(s: Services, session: Any, item: LedgerItem, w: Where) -> None:
    await reminders.sync_item(session, s.scheduler, item, w.ladder, w.now)


def confirm_buttons(s: Services, token: str, locale: str) -> Keyboard:
    return [
        [
            Button(
                s.texts.plain("ledger.buttons.confirm_past", locale),
                data=callback("ledger", "ok", token),
            ),
            Button(
                s.texts.plain("ledger.buttons.abort", locale), data=callback("ledger", "no", token)
            ),
        ]
    ]


def reminder_buttons(s: Services, item_id: int, locale: str) -> Keyboard:
    return [
        [
            Button(
                s.texts.plain("ledger.buttons.done", locale),
                data=callback("ledger", "done", item_id),
            ),
            Button(
                s.texts.plain("ledger.buttons.snooze", locale),
                data=callback("ledger", "snooze", item_id),
            ),
        ]
    ]


def review_buttons(s: Services, item_id: int, locale: str) -> Keyboard:
    return [
        [
            Button(
                s.texts.plain("ledger.buttons.close", locale),
                data=callback("ledger", "close", item_id),
            ),
            Button(
                s.texts.plain("ledger.buttons.reject", locale),
                data=callback("ledger", "reject", item_id),
            ),
        ]
    ]


def list_buttons(s: Services, flt: str, page: service.Page, locale: str) -> Keyboard:
    t = s.texts.plain
    rows: list[list[Button]] = [
        [
            Button(t("ledger.buttons.all", locale), data=callback("ledger", "list", "all", 0)),
            Button(t("ledger.buttons.mine", locale), data=callback("ledger", "list", "mine", 0)),
            Button(
                t("ledger.buttons.overdue", locale), data=callback("ledger", "list", "overdue", 0)
            ),
            Button(
                t("ledger.buttons.closed", locale), data=callback("ledger", "list", "closed", 0)
            ),
        ],
        [
            Button(
                t("ledger.buttons.requirement", locale, number=n),
                data=callback("ledger", "list", f"r{n}", 0),
            )
            for n in range(1, 6)
        ],
    ]
    nav: list[Button] = []
    if page.page > 0:
        nav.append(
            Button(
                t("ledger.buttons.prev", locale),
                data=callback("ledger", "list", flt, page.page - 1),
            )
        )
    if page.page + 1 < page.pages:
        nav.append(
            Button(
                t("ledger.buttons.next", locale),
                data=callback("ledger", "list", flt, page.page + 1),
            )
        )
    if nav:
        rows.append(nav)
    return rows


# --- /ledger ---


async def cmd_ledger(update: Update, context: Context) -> None:
    """/ledger: the open items; /ledger N: one item with its history."""
    w = await where(update, context)
    if w is None:
        return
    args = command_args(context)
    if args:
        await show_item(update, context, w, args[0])
        return
    user = update.effective_user
    text, buttons = await list_view(
        context, w, "all", 0, user.id if user else None, user.username if user else None
    )
    await reply(update, context, text, buttons=buttons)


async def list_view(
    context: Context, w: Where, flt: str, page_no: int, user_id: int | None, username: str | None
) -> tuple[Html, Keyboard]:
    s = svc(context)
    if flt not in service.FILTERS:
        flt = "all"
    async with s.db.read() as session:
        page = await service.list_items(
            session,
            w.chat_id,
            flt,
            user_id=user_id,
            username=username,
            page=page_no,
            now=w.now,
            tz=w.zone,
        )
    text = render.list_text(s.texts, page, flt, w.now, w.zone, w.locale)
    return text, list_buttons(s, flt, page, w.locale)


async def show_item(update: Update, context: Context, w: Where, number: str) -> None:
    s = svc(context)
    item = await find(update, context, w, number)
    if item is None:
        return
    async with s.db.session() as session:
        events = await service.history(session, item)
    await reply(
        update,
        context,
        render.card(s.texts, item, events, requirement_names(s), w.now, w.zone, w.locale),
    )


# --- /ledger_add ---


async def cmd_ledger_add(update: Update, context: Context) -> None:
    """/ledger_add: a guided dialog; with text, the one-line form."""
    w = await where(update, context)
    if w is None or not await require_admin(update, context):
        return
    s = svc(context)
    message = update.effective_message
    assert message is not None
    text = (message.text or "").split(maxsplit=1)
    rest = text[1] if len(text) > 1 else ""
    if not rest.strip():
        await start_dialog(update, context, w)
        return
    parts = [p.strip() for p in rest.replace("｜", "|").split("|")]
    if len(parts) not in (5, 6):
        await reply(update, context, s.t("ledger.add.usage", w.locale), quote=True)
        return
    problem, req_text, measures, owner_text, deadline_text = parts[:5]
    goal = parts[5] if len(parts) == 6 else ""
    requirement = service.parse_requirement(req_text)
    if requirement is None:
        await reply(
            update, context, s.t("ledger.errors.requirement", w.locale, text=req_text), quote=True
        )
        return
    if not problem or not measures:
        field_ = "problem" if not problem else "measures"
        await reply(
            update,
            context,
            error_text(s, LedgerError("empty_field", field=field_), w.locale),
            quote=True,
        )
        return
    owner = await resolve_owner(update, context, w, owner_text)
    if owner is None:
        return
    deadline = parse_deadline(s, w, deadline_text)
    if isinstance(deadline, Html):
        await reply(update, context, deadline, quote=True)
        return
    draft = Draft(
        problem=problem,
        requirement=requirement,
        measures=measures,
        owner=owner,
        deadline=deadline,
        goal=goal,
    )
    if is_past(deadline, w):
        await ask_past(update, context, w, "add", {"draft": draft})
        return
    await create(update, context, w, draft)


async def ask_past(
    update: Update, context: Context, w: Where, kind: Literal["add", "edit"], data: dict[str, Any]
) -> None:
    s = svc(context)
    user = update.effective_user
    token = secrets.token_hex(5)
    state(context).pending[token] = Pending(
        kind, w.chat_id, user.id if user else 0, w.now + DIALOG_TTL, data
    )
    value = data["draft"].deadline if kind == "add" else data["value"]
    await reply(
        update,
        context,
        s.t("ledger.confirm_past", w.locale, deadline=value.iso()),
        buttons=confirm_buttons(s, token, w.locale),
        quote=True,
    )


async def create(update: Update, context: Context, w: Where, draft: Draft) -> None:
    s = svc(context)
    try:
        async with s.db.session() as session:
            item = await service.create_item(
                session, w.chat_id, draft, actor_from(update), w.now, w.zone
            )
            await sync(s, session, item, w)
            await reminders.ensure_digest(session, s.scheduler, w.chat_id, w.ladder)
    except LedgerError as exc:
        await reply(update, context, error_text(s, exc, w.locale), quote=True)
        return
    await reply(update, context, render.created_text(s.texts, item, requirement_names(s), w.locale))


# --- the guided dialog ---


def quick_deadlines(s: Services, locale: str) -> list[str]:
    """The deadline buttons; each label is itself a date parse_date reads."""
    return [
        s.texts.plain("ledger.quick.in_3_days", locale),
        s.texts.plain("ledger.quick.next_friday", locale),
        s.texts.plain("ledger.quick.month_end", locale),
        s.texts.plain("ledger.quick.next_month_end", locale),
    ]


STEPS = ("problem", "requirement", "goal", "measures", "owner", "deadline")


async def start_dialog(update: Update, context: Context, w: Where) -> None:
    user = update.effective_user
    if user is None:
        return
    state(context).dialogs[(w.chat_id, user.id)] = Dialog(
        "add", "problem", w.locale, w.now + DIALOG_TTL
    )
    await prompt_step(update, context, w, "problem")


async def prompt_step(update: Update, context: Context, w: Where, step: str) -> None:
    s = svc(context)
    t = s.texts.plain
    buttons: list[list[Button]] = []
    if step == "problem":
        text = s.t("ledger.add.ask_problem", w.locale)
    elif step == "requirement":
        names = requirement_names(s)
        text = s.t("ledger.add.ask_requirement", w.locale)
        buttons = [
            [
                Button(
                    t(
                        "ledger.buttons.requirement_named",
                        w.locale,
                        number=n,
                        name=names.get(n, ""),
                    ),
                    data=callback("ledger", "dlg", "req", n),
                )
            ]
            for n in range(1, 6)
        ]
    elif step == "goal":
        text = s.t("ledger.add.ask_goal", w.locale)
        buttons = [
            [Button(t("ledger.buttons.skip", w.locale), data=callback("ledger", "dlg", "skip"))]
        ]
    elif step == "measures":
        text = s.t("ledger.add.ask_measures", w.locale)
    elif step == "owner":
        text = s.t("ledger.add.ask_owner", w.locale)
    else:
        text = s.t("ledger.add.ask_deadline", w.locale)
        buttons = [
            [
                Button(label, data=callback("ledger", "dlg", "dl", index))
                for index, label in enumerate(quick_deadlines(s, w.locale))
            ]
        ]
    buttons.append(
        [Button(t("ledger.buttons.abort", w.locale), data=callback("ledger", "dlg", "cancel"))]
    )
    await reply(update, context, text, buttons=buttons)


async def on_ledger_dialog(update: Update, context: Context) -> None:
    """A message answering the sender's dialog (add: the next field; evidence: the proof)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    s = svc(context)
    found = state(context).dialog(message.chat.id, user.id, s.clock.now())
    if found is None:
        return
    if found.kind == "evidence":
        await take_evidence(update, context, found)
        return
    w = await where(update, context)
    if w is None:
        return
    await dialog_input(update, context, w, found, message.text or "")


async def dialog_input(
    update: Update, context: Context, w: Where, found: Dialog, text: str
) -> None:
    s = svc(context)
    text = text.strip()
    step = found.step
    found.expires = w.now + DIALOG_TTL
    if step in ("problem", "measures", "goal"):
        try:
            found.data[step] = service.check_text(step, text)
        except LedgerError as exc:
            await reply(update, context, error_text(s, exc, w.locale), quote=True)
            return
    elif step == "requirement":
        requirement = service.parse_requirement(text)
        if requirement is None:
            await reply(
                update, context, s.t("ledger.errors.requirement", w.locale, text=text), quote=True
            )
            return
        found.data["requirement"] = requirement
    elif step == "owner":
        owner = await resolve_owner(update, context, w, text)
        if owner is None:
            return
        found.data["owner"] = owner
    elif step == "deadline":
        deadline = parse_deadline(s, w, text)
        if isinstance(deadline, Html):
            await reply(update, context, deadline, quote=True)
            return
        await dialog_deadline(update, context, w, found, deadline)
        return
    await advance(update, context, w, found)


async def advance(update: Update, context: Context, w: Where, found: Dialog) -> None:
    index = STEPS.index(found.step)
    found.step = STEPS[index + 1]
    await prompt_step(update, context, w, found.step)


async def dialog_deadline(
    update: Update, context: Context, w: Where, found: Dialog, deadline: ParsedDate
) -> None:
    s = svc(context)
    found.data["deadline"] = deadline
    if is_past(deadline, w):
        found.step = "confirm_past"
        await reply(
            update,
            context,
            s.t("ledger.confirm_past", w.locale, deadline=deadline.iso()),
            buttons=[
                [
                    Button(
                        s.texts.plain("ledger.buttons.confirm_past", w.locale),
                        data=callback("ledger", "dlg", "pastok"),
                    ),
                    Button(
                        s.texts.plain("ledger.buttons.abort", w.locale),
                        data=callback("ledger", "dlg", "cancel"),
                    ),
                ]
            ],
        )
        return
    await finish_dialog(update, context, w, found)


async def finish_dialog(update: Update, context: Context, w: Where, found: Dialog) -> None:
    user = update.effective_user
    if user is not None:
        state(context).dialogs.pop((w.chat_id, user.id), None)
    if not await require_admin(update, context):  # demoted since the dialog started
        return
    data = found.data
    draft = Draft(
        problem=data["problem"],
        requirement=data["requirement"],
        measures=data["measures"],
        owner=data["owner"],
        deadline=data["deadline"],
        goal=data.get("goal", ""),
    )
    await create(update, context, w, draft)


async def cmd_ledger_dialog_cancel(update: Update, context: Context) -> None:
    """/cancel while a ledger dialog is open: drop it, nothing was written."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    s = svc(context)
    found = state(context).dialogs.pop((chat.id, user.id), None)
    locale = found.locale if found else await locale_of(update, context)
    await reply(update, context, s.t("ledger.add.cancelled", locale), quote=True)


async def dialog_button(update: Update, context: Context, args: list[str]) -> None:
    s = svc(context)
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    w = await where(update, context)
    if w is None:
        return
    found = state(context).dialog(w.chat_id, user.id, w.now)
    if found is None or found.kind != "add":
        await s.sender.answer_callback(
            query.id, s.texts.plain("ledger.errors.no_dialog", w.locale), alert=True
        )
        return
    await s.sender.answer_callback(query.id)
    action = args[0] if args else ""
    if action == "cancel":
        state(context).dialogs.pop((w.chat_id, user.id), None)
        await reply(update, context, s.t("ledger.add.cancelled", found.locale))
    elif action == "req" and found.step == "requirement" and len(args) > 1:
        await dialog_input(update, context, w, found, args[1])
    elif action == "skip" and found.step == "goal":
        found.data["goal"] = ""
        await advance(update, context, w, found)
    elif action == "dl" and found.step == "deadline" and len(args) > 1 and args[1].isdigit():
        index = int(args[1])
        quick = quick_deadlines(s, found.locale)
        if index < len(quick):
            await dialog_input(update, context, w, found, quick[index])
    elif action == "pastok" and found.step == "confirm_past":
        await finish_dialog(update, context, w, found)


# --- /ledger_edit ---


async def cmd_ledger_edit(update: Update, context: Context) -> None:
    """/ledger_edit N FIELD VALUE."""
    w = await where(update, context)
    if w is None or not await require_admin(update, context):
        return
    s = svc(context)
    message = update.effective_message
    assert message is not None
    parts = (message.text or "").split(maxsplit=3)
    if len(parts) < 3:
        await reply(update, context, s.t("ledger.edit.usage", w.locale), quote=True)
        return
    number, field_text = parts[1], parts[2]
    value = parts[3] if len(parts) > 3 else ""
    field_ = service.FIELD_ALIASES.get(field_text.lower())
    if field_ is None:
        await reply(
            update, context, s.t("ledger.edit.bad_field", w.locale, text=field_text), quote=True
        )
        return
    item = await find(update, context, w, number)
    if item is None:
        return
    parsed: str | int | Owner | ParsedDate
    if field_ == "requirement":
        requirement = service.parse_requirement(value)
        if requirement is None:
            await reply(
                update, context, s.t("ledger.errors.requirement", w.locale, text=value), quote=True
            )
            return
        parsed = requirement
    elif field_ == "owner":
        owner = await resolve_owner(update, context, w, value)
        if owner is None:
            return
        parsed = owner
    elif field_ == "deadline":
        deadline = parse_deadline(s, w, value)
        if isinstance(deadline, Html):
            await reply(update, context, deadline, quote=True)
            return
        if is_past(deadline, w):
            await ask_past(update, context, w, "edit", {"item_id": item.id, "value": deadline})
            return
        parsed = deadline
    else:
        parsed = value
    await apply_edit(update, context, w, item.id, field_, parsed)


async def apply_edit(
    update: Update,
    context: Context,
    w: Where,
    item_id: int,
    field_: service.Field,
    value: str | int | Owner | ParsedDate,
) -> None:
    s = svc(context)
    try:
        async with s.db.session() as session:
            item = await service.get_item(session, item_id)
            if item is None or item.chat_id != w.chat_id:
                return
            change = await service.edit_item(
                session, item, field_, value, actor_from(update), w.now
            )
            await sync(s, session, item, w)
    except LedgerError as exc:
        await reply(update, context, error_text(s, exc, w.locale), quote=True)
        return
    name = render.field_name(s.texts, field_, w.locale)
    if change is None:
        await reply(
            update,
            context,
            s.t("ledger.edit.unchanged", w.locale, number=item.number, field=name),
            quote=True,
        )
        return
    old, new = change
    await reply(
        update,
        context,
        s.t(
            "ledger.edit.done",
            w.locale,
            number=item.number,
            field=name,
            old=render.short(old, 80) or "—",
            new=render.short(new, 80) or "—",
        ),
    )


# --- done, close, reopen, cancel ---


async def cmd_ledger_done(update: Update, context: Context) -> None:
    """/ledger_done N [text]: the owner submits (with evidence); an admin closes."""
    # Closing is 销号 (strike off) in the notice's words.
    w = await where(update, context)
    if w is None:
        return
    s = svc(context)
    args = command_args(context)
    if not args:
        await reply(update, context, s.t("ledger.done.usage", w.locale), quote=True)
        return
    item = await find(update, context, w, args[0])
    if item is None:
        return
    message = update.effective_message
    assert message is not None
    parts = (message.text or "").split(maxsplit=2)
    note = parts[2].strip() if len(parts) > 2 else ""
    user = update.effective_user
    admin = await is_admin(update, context)
    owner = user is not None and service.is_owner(item, user.id, user.username)
    if admin:
        await close_item(update, context, w, item.id, note)
        return
    if not owner:
        await reply(
            update,
            context,
            s.t(
                "ledger.errors.not_owner",
                w.locale,
                number=item.number,
                owner=render.owner_html(item),
            ),
            quote=True,
        )
        return
    if item.status != OPEN:
        await reply(
            update,
            context,
            error_text(s, LedgerError(f"not_open_{item.status}", number=item.number), w.locale),
            quote=True,
        )
        return
    evidence: Evidence | None = None
    if note:
        evidence = Evidence("text", text=note)
    elif message.reply_to_message is not None:
        # Only the owner's own message counts as their evidence (not a reminder, say).
        replied = message.reply_to_message
        if replied.from_user is not None and user is not None and replied.from_user.id == user.id:
            evidence = evidence_of(replied)
    if evidence is None:
        await ask_evidence(update, context, w, item)
        return
    await submit_item(update, context, w, item.id, evidence)


def evidence_of(message: Message) -> Evidence | None:
    if message.photo:
        return Evidence("photo", text=message.caption, file_id=message.photo[-1].file_id)
    if message.document:
        return Evidence(
            "document",
            text=message.caption,
            file_id=message.document.file_id,
            file_name=message.document.file_name,
        )
    if message.text and not message.text.startswith("/"):
        return Evidence("text", text=message.text)
    return None


async def ask_evidence(update: Update, context: Context, w: Where, item: LedgerItem) -> None:
    s = svc(context)
    user = update.effective_user
    assert user is not None
    sent = await reply(
        update,
        context,
        s.t(
            "ledger.done.ask_evidence",
            w.locale,
            owner=render.owner_html(item),
            number=item.number,
        ),
    )
    state(context).dialogs[(w.chat_id, user.id)] = Dialog(
        "evidence",
        "evidence",
        w.locale,
        w.now + DIALOG_TTL,
        {"item_id": item.id},
        prompt_id=sent.message_id if sent else None,
    )


async def take_evidence(update: Update, context: Context, found: Dialog) -> None:
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    w = await where(update, context)
    if w is None:
        return
    evidence = evidence_of(message)
    if evidence is None:
        return
    state(context).dialogs.pop((w.chat_id, user.id), None)
    await submit_item(update, context, w, int(found.data["item_id"]), evidence)


async def submit_item(
    update: Update, context: Context, w: Where, item_id: int, evidence: Evidence
) -> None:
    s = svc(context)
    try:
        async with s.db.session() as session:
            item = await service.get_item(session, item_id)
            if item is None or item.chat_id != w.chat_id:
                return
            await service.submit(session, item, actor_from(update), evidence, w.now)
            await sync(s, session, item, w)
    except LedgerError as exc:
        await reply(update, context, error_text(s, exc, w.locale), quote=True)
        return
    await reply(
        update,
        context,
        s.t(
            "ledger.done.submitted",
            w.chat_locale,
            number=item.number,
            owner=render.owner_html(item),
            evidence=render.evidence_html(s.texts, item, w.chat_locale),
        ),
        buttons=review_buttons(s, item.id, w.chat_locale),
    )


async def close_item(
    update: Update, context: Context, w: Where, item_id: int, note: str = ""
) -> None:
    s = svc(context)
    try:
        async with s.db.session() as session:
            item = await service.get_item(session, item_id)
            if item is None or item.chat_id != w.chat_id:
                return
            await service.close(session, item, actor_from(update), w.now, note)
            await sync(s, session, item, w)
    except LedgerError as exc:
        await reply(update, context, error_text(s, exc, w.locale), quote=True)
        return
    await reply(
        update,
        context,
        s.t(
            "ledger.done.closed",
            w.chat_locale,
            number=item.number,
            problem=render.short(item.problem),
            owner=render.owner_html(item),
            who=item.closed_by_name or "",
        ),
    )


async def cmd_ledger_reopen(update: Update, context: Context) -> None:
    """/ledger_reopen N: a closed item (or a submission sent back) is open again."""
    await change_status(update, context, "reopen")


async def cmd_ledger_cancel(update: Update, context: Context) -> None:
    """/ledger_cancel N: the item is dropped (kept in the ledger as cancelled)."""
    await change_status(update, context, "cancel")


async def change_status(
    update: Update, context: Context, action: Literal["reopen", "cancel"]
) -> None:
    w = await where(update, context)
    if w is None or not await require_admin(update, context):
        return
    s = svc(context)
    args = command_args(context)
    if not args:
        key = "ledger.reopen.usage" if action == "reopen" else "ledger.cancel.usage"
        await reply(
            update,
            context,
            s.t(key, w.locale) if action == "cancel" else s.t("ledger.reopen.usage", w.locale),
            quote=True,
        )
        return
    item = await find(update, context, w, args[0])
    if item is None:
        return
    await set_status(update, context, w, item.id, action)


async def set_status(
    update: Update, context: Context, w: Where, item_id: int, action: Literal["reopen", "cancel"]
) -> None:
    s = svc(context)
    try:
        async with s.db.session() as session:
            item = await service.get_item(session, item_id)
            if item is None or item.chat_id != w.chat_id:
                return
            if action == "reopen":
                await service.reopen(session, item, actor_from(update), w.now)
            else:
                await service.cancel(session, item, actor_from(update), w.now)
            await sync(s, session, item, w)
    except LedgerError as exc:
        await reply(update, context, error_text(s, exc, w.locale), quote=True)
        return
    if action == "reopen":
        text = s.t(
            "ledger.reopen.done",
            w.chat_locale,
            number=item.number,
            owner=render.owner_html(item),
            deadline=render.deadline_text(item),
        )
    else:
        text = s.t(
            "ledger.cancel.done",
            w.chat_locale,
            number=item.number,
            problem=render.short(item.problem),
        )
    await reply(update, context, text)


# --- export and import ---


async def cmd_ledger_export(update: Update, context: Context) -> None:
    """/ledger_export: the ledger as a printable .xlsx."""
    w = await where(update, context)
    if w is None or not await require_admin(update, context):
        return
    s = svc(context)
    async with s.db.session() as session:
        data, filename = await transfer.export_xlsx(
            session,
            w.chat_id,
            title=w.title,
            texts=s.texts,
            locale=w.chat_locale,
            zone=w.zone,
            now=w.now,
            requirement_names=requirement_names(s),
        )
    await s.sender.send_document(
        w.chat_id, data, filename, caption=s.t("ledger.export.caption", w.locale, title=w.title)
    )


async def cmd_ledger_import(update: Update, context: Context) -> None:
    """/ledger_import as a file's caption, or as a reply to a file."""
    w = await where(update, context)
    if w is None or not await require_admin(update, context):
        return
    s = svc(context)
    message = update.effective_message
    assert message is not None
    document = message.document
    if document is None and message.reply_to_message is not None:
        document = message.reply_to_message.document
    if document is None:
        await reply(update, context, s.t("ledger.import.usage", w.locale), quote=True)
        return
    if document.file_size and document.file_size > MAX_BYTES:
        await reply(update, context, s.t("ledger.import.errors.too_big", w.locale), quote=True)
        return
    try:
        file = await context.bot.get_file(document.file_id)
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        logger.info("cannot download an import file: %s", exc)
        await reply(update, context, s.t("ledger.import.errors.download", w.locale), quote=True)
        return
    await run_import(update, context, w, data)


async def run_import(update: Update, context: Context, w: Where, data: bytes) -> None:
    s = svc(context)
    try:
        async with s.db.session() as session:
            report = await transfer.import_xlsx(
                session,
                w.chat_id,
                data,
                texts=s.texts,
                actor=actor_from(update),
                now=w.now,
                zone=w.zone,
                scheduler=s.scheduler,
                ladder=w.ladder,
            )
    except XlsxError as exc:
        await reply(update, context, render.xlsx_error(s.texts, exc, w.locale), quote=True)
        return
    except transfer.ImportFailed as exc:
        await reply(
            update, context, render.import_errors(s.texts, exc.errors, w.locale), quote=True
        )
        return
    await reply(
        update,
        context,
        s.t(
            "ledger.import.done",
            w.locale,
            created=len(report.created),
            updated=len(report.updated),
            unchanged=report.unchanged,
        ),
    )


# --- buttons ---


async def cb_ledger(update: Update, context: Context) -> None:
    """Every ledger button: ledger:<action>:<args>."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    s = svc(context)
    _, action, args = parse_callback(query.data)
    if action == "dlg":
        await dialog_button(update, context, args)
        return
    w = await where(update, context)
    if w is None:
        await s.sender.answer_callback(query.id)
        return
    user = update.effective_user
    assert user is not None
    if action == "list":
        flt = args[0] if args else "all"
        page = int(args[1]) if len(args) > 1 and args[1].isdigit() else 0
        text, buttons = await list_view(context, w, flt, page, user.id, user.username)
        await s.sender.answer_callback(query.id)
        if query.message is not None:
            await s.sender.edit(w.chat_id, query.message.message_id, text, buttons=buttons)
        return
    if action in ("ok", "no"):
        await confirm(update, context, w, action, args[0] if args else "")
        return
    if not args or not args[0].isdigit():
        await s.sender.answer_callback(query.id)
        return
    async with s.db.session() as session:
        item = await service.get_item(session, int(args[0]))
    if item is None or item.chat_id != w.chat_id:
        await s.sender.answer_callback(
            query.id, s.texts.plain("ledger.errors.gone", w.locale), alert=True
        )
        return
    admin = await is_admin(update, context)
    owner = service.is_owner(item, user.id, user.username)
    if action in ("close", "reject"):
        if not admin:
            await require_admin(update, context)
            return
        await s.sender.answer_callback(query.id)
        if action == "close":
            await close_item(update, context, w, item.id)
        else:
            await set_status(update, context, w, item.id, "reopen")
        return
    if not (owner or admin):
        await s.sender.answer_callback(
            query.id,
            s.texts.plain(
                "ledger.errors.not_owner_short", w.locale, owner=service.owner_of(item).label()
            ),
            alert=True,
        )
        return
    if action == "done":
        await s.sender.answer_callback(query.id)
        if item.status != OPEN and not (admin and item.status == SUBMITTED):
            await reply(
                update,
                context,
                error_text(s, LedgerError(f"not_open_{item.status}", number=item.number), w.locale),
            )
        elif admin:
            await close_item(update, context, w, item.id)
        else:
            await ask_evidence(update, context, w, item)
        return
    if action == "snooze":
        try:
            async with s.db.session() as session:
                fresh = await service.get_item(session, item.id)
                assert fresh is not None
                await service.snooze(session, fresh, actor_from(update), w.now, w.zone)
                await sync(s, session, fresh, w)
        except LedgerError as exc:
            await s.sender.answer_callback(
                query.id, _plain(error_text(s, exc, w.locale)), alert=True
            )
            return
        await s.sender.answer_callback(
            query.id, s.texts.plain("ledger.snoozed", w.locale, number=item.number)
        )
        return
    await s.sender.answer_callback(query.id)


def _plain(html: Html) -> str:
    """Callback answers are plain text; our error texts carry no markup but entities."""
    import html as html_mod
    import re

    return html_mod.unescape(re.sub(r"<[^>]+>", "", html))[:200]


async def confirm(update: Update, context: Context, w: Where, action: str, token: str) -> None:
    s = svc(context)
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    found = state(context).pending.get(token)
    if found is None or found.expires < w.now:
        state(context).pending.pop(token, None)
        await s.sender.answer_callback(
            query.id, s.texts.plain("ledger.errors.expired", w.locale), alert=True
        )
        return
    if found.user_id != user.id or found.chat_id != w.chat_id:
        await s.sender.answer_callback(
            query.id, s.texts.plain("ledger.errors.not_yours", w.locale), alert=True
        )
        return
    if action == "ok" and not await require_admin(update, context):  # demoted since asking
        return
    state(context).take_pending(token, w.now)
    await s.sender.answer_callback(query.id)
    if query.message is not None:
        await s.sender.edit_buttons(w.chat_id, query.message.message_id, None)
    if action == "no":
        await reply(update, context, s.t("ledger.add.cancelled", w.locale))
        return
    if found.kind == "add":
        await create(update, context, w, found.data["draft"])
    else:
        await apply_edit(
            update, context, w, int(found.data["item_id"]), "deadline", found.data["value"]
        )


# --- linking owners given by @username ---


async def on_ledger_seen(update: Update, context: Context) -> None:
    """Group -1, after core.track_seen: a pending owner (by @username) spoke; link them."""
    user = update.effective_user
    if user is None or user.is_bot or not user.username:
        return
    s = svc(context)
    async with s.db.session() as session:
        await service.link_pending_owner(
            session, user.id, user.username, user.full_name, s.clock.now()
        )


# --- scheduled actions ---


def setup(app: FirmBotApp) -> None:
    """Register the reminder and digest actions and the chat hook."""
    s = svc(app)

    async def reminder(run: SlotRun) -> None:
        await job_ledger_reminder(app, run)

    async def digest(run: SlotRun) -> None:
        await job_ledger_digest(app, run)

    async def hook(session: Any, chat: Chat) -> None:
        await on_group_registered(s, session, chat)

    s.scheduler.register(KIND_REMINDER, reminder)
    s.scheduler.register(KIND_DIGEST, digest)
    s.chat_hooks.append(hook)


async def on_group_registered(s: Services, session: Any, chat: Chat) -> None:
    """A group is (back) in use: its open items' ladders and the digest follow its settings."""
    items = await service.active_items(session, chat.id)
    if not items:
        return
    ladder = LadderSettings.from_settings(chats.effective_settings(chat, s.config))
    now = s.clock.now()
    for item in items:
        await reminders.sync_item(session, s.scheduler, item, ladder, now)
    await reminders.ensure_digest(session, s.scheduler, chat.id, ladder)


async def job_ledger_reminder(app: FirmBotApp, run: SlotRun) -> None:
    """One rung of an item's ladder: remind the owner, maybe tell the admins."""
    s = svc(app)
    async with s.db.session() as session:
        chat = await session.get(Chat, run.chat_id)
        if chat is None or not chat.active:
            return
        settings = chats.effective_settings(chat, s.config)
        ladder = LadderSettings.from_settings(settings)
        plan = await reminders.plan_reminder(session, s.scheduler, run, ladder)
        if plan is None:
            return
        item = await session.get(LedgerItem, plan.item_id)
        assert item is not None
    locale = str(settings["locale"])
    if plan.remind:
        await s.sender.send(
            run.chat_id,
            render.reminder_text(s.texts, item, plan.stage, locale, snoozed=plan.snoozed),
            buttons=reminder_buttons(s, item.id, locale),
        )
    if plan.escalate:
        await escalate(app, run.chat_id, chat.title or "", item, plan.stage.days, settings)
    async with s.db.session() as session:
        await reminders.mark_done(session, plan, s.clock.now())


async def chat_admins(app: FirmBotApp, chat_id: int) -> list[tuple[int, str, str | None]]:
    """(id, name, language) of the chat's human admins: Telegram's list, else what we saw."""
    s = svc(app)
    try:
        members = await app.bot.get_chat_administrators(chat_id)
        return [
            (m.user.id, m.user.full_name, m.user.language_code)
            for m in members
            if not m.user.is_bot
        ]
    except TelegramError as exc:
        logger.info("cannot list the admins of %s: %s", chat_id, exc)
    async with s.db.session() as session:
        rows = (
            await session.execute(
                select(User)
                .join(Member, Member.user_id == User.id)
                .where(Member.chat_id == chat_id, Member.status.in_(("creator", "administrator")))
            )
        ).scalars()
        return [(u.id, u.display_name, u.language_code) for u in rows]


async def escalate(
    app: FirmBotApp,
    chat_id: int,
    title: str,
    item: LedgerItem,
    days: int,
    settings: dict[str, Any],
) -> None:
    """Tell the admins: privately where they opened a chat with the bot, else in the group."""
    s = svc(app)
    admins = await chat_admins(app, chat_id)
    async with s.db.session() as session:
        open_ids = set(
            (
                await session.scalars(
                    select(User.id).where(
                        User.id.in_([a[0] for a in admins]), User.private_chat_open.is_(True)
                    )
                )
            ).all()
        )
    in_group: list[Owner] = []
    for user_id, name, language in admins:
        if user_id in open_ids:
            locale = s.user_locale(language, settings)
            sent = await s.sender.send(
                user_id, render.escalation_text(s.texts, item, days, title, locale)
            )
            if sent is not None:
                continue
        in_group.append(Owner(user_id, None, name))
    if in_group:
        locale = str(settings["locale"])
        mentions = Html("、".join(render.mention(o) for o in in_group))
        await s.sender.send(
            chat_id,
            s.t(
                "ledger.escalate.group",
                locale,
                admins=mentions,
                number=item.number,
                problem=render.short(item.problem),
                owner=render.owner_html(item),
                deadline=render.deadline_text(item),
                days=days,
            ),
        )


async def job_ledger_digest(app: FirmBotApp, run: SlotRun) -> None:
    """Mondays: open, overdue and awaiting items, and what was closed in the last week."""
    s = svc(app)
    async with s.db.session() as session:
        chat = await session.get(Chat, run.chat_id)
        if chat is None or not chat.active:
            return
        settings = chats.effective_settings(chat, s.config)
        zone = ZoneInfo(str(settings["timezone"]))
        digest = await service.digest(session, run.chat_id, run.now, zone)
    if digest.empty:
        return
    locale = str(settings["locale"])
    await s.sender.send(run.chat_id, render.digest_text(s.texts, digest, run.now, zone, locale))
