"""Daily study in the chat: the prompt job, check-ins, reflections, /study, /me,
collective sessions, /study_report and /excellent (TG).

Handlers parse the update, call ``bot.study`` services inside one session and answer
through the sender. ``setup(app)`` registers the scheduled actions, the chat hook and
the debouncer that turns bursts of check-ins into a few edits of the prompt message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ConversationHandler

from bot import study
from bot.chats import GROUP_TYPES, effective_settings
from bot.config import check_timezone
from bot.db.models import Chat, Member, User
from bot.db.models.study import StudyPost, StudySession
from bot.scheduling import SlotRun
from bot.services import Services
from bot.study import prompts, render, sessions, stats
from bot.study.debounce import Debouncer
from bot.study.prompts import REFLECTION_LIMIT, REFLECTION_MIN_CHARS
from bot.study.timeparse import SessionTimeError, parse_start
from bot.texts import Html
from bot.ui import parse_callback
from handlers import quiz as quiz_handlers
from handlers.common import (
    Context,
    FirmBotApp,
    group_registered,
    hint_unregistered,
    locale_of,
    reply,
    require_admin,
    svc,
)

logger = logging.getLogger(__name__)

DEBOUNCER_KEY = "study.debouncer"
HINTED_KEY = "study.hinted"
DRAFT_KEY = "study.session_draft"
# Check-in counts are edited into the prompt this many seconds after a press (a burst
# of presses costs one edit), and a message keeps being edited at most once per
# CHECKIN_EDIT_GAP: 6 a minute, so that a morning of steady check-ins leaves most of the
# group's 20 messages a minute (edits count) to answers and prompts. Tests shorten both.
CHECKIN_EDIT_DELAY = 1.5
CHECKIN_EDIT_GAP = 10.0
# An unregistered group is told how to register at most this often (seconds).
HINT_INTERVAL = 600.0
REACTION = "\U0001f44d"
# The /session dialog's states and how long it waits for an answer (seconds).
ASK_WHEN, ASK_TOPIC = range(2)
DIALOG_TIMEOUT = 600
# /study and /me in private show at most this many of the member's groups.
PRIVATE_GROUPS_MAX = 5


# --- wiring ---


def setup(app: FirmBotApp) -> None:
    """Scheduled actions, the chat hook and the check-in debouncer."""
    s = svc(app)

    def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        # Tasks made by the application are awaited by app.stop(): pending edits land.
        return app.create_task(coro) if app.running else asyncio.create_task(coro)

    s.extras[DEBOUNCER_KEY] = Debouncer(CHECKIN_EDIT_DELAY, spawn, min_gap=CHECKIN_EDIT_GAP)

    async def prompt_action(run: SlotRun) -> None:
        await job_study_prompt(s, run)

    async def remind_action(run: SlotRun) -> None:
        await job_session_reminder(s, run)

    async def open_action(run: SlotRun) -> None:
        await job_session_open(s, run)

    async def close_action(run: SlotRun) -> None:
        await job_session_close(s, run)

    s.scheduler.register(study.KIND, prompt_action)
    s.scheduler.register(sessions.KIND_REMIND, remind_action)
    s.scheduler.register(sessions.KIND_OPEN, open_action)
    s.scheduler.register(sessions.KIND_CLOSE, close_action)

    async def chat_hook(session: AsyncSession, chat: Chat) -> None:
        await study.sync_schedule(session, s.scheduler, chat, s.config)

    s.chat_hooks.append(chat_hook)


def debouncer(s: Services) -> Debouncer:
    value = s.extras[DEBOUNCER_KEY]
    assert isinstance(value, Debouncer)
    return value


# --- helpers ---


def _zone(chat: Chat | None, s: Services) -> ZoneInfo:
    if chat is None:
        return s.config.zone
    return ZoneInfo(study.study_rule(chat, s.config)[3])


def _settings_zone(settings: dict[str, Any], s: Services) -> ZoneInfo:
    try:
        return ZoneInfo(check_timezone(str(settings["timezone"])))
    except ValueError:
        return s.config.zone


def _chat_locale(chat: Chat | None, s: Services) -> str:
    return str(effective_settings(chat, s.config)["locale"])


def _post_html(
    s: Services, locale: str, post: StudyPost, count: int, group_title: str | None = None
) -> Html:
    prompt = prompts.find_prompt(s.content.curriculum, post.prompt_id)
    requirement = None
    if prompt is not None and isinstance(prompt.requirement, int):
        requirement = s.content.requirement(prompt.requirement)
    return render.prompt_html(
        s.texts,
        locale,
        prompt=prompt,
        requirement=requirement,
        day=post.day_number,
        total=post.total_days,
        cycle=post.cycle,
        slot_date=post.slot_date,
        count=count,
        group_title=group_title,
    )


async def _hint_unknown_group(update: Update, context: Context, *, always: bool) -> None:
    """Tell an unregistered group how to register (throttled unless asked by command)."""
    s = svc(context)
    chat = update.effective_chat
    if chat is None:
        return
    hinted: dict[int, float] = s.extras.setdefault(HINTED_KEY, {})
    now = time.monotonic()
    if not always and now - hinted.get(chat.id, -HINT_INTERVAL) < HINT_INTERVAL:
        return
    hinted[chat.id] = now
    await hint_unregistered(update, context)


async def _group_ready(update: Update, context: Context, command: str) -> bool:
    """Group commands: refuse private chats politely, and explain unregistered groups."""
    s = svc(context)
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type not in GROUP_TYPES:
        locale = await locale_of(update, context)
        await reply(update, context, s.t("study.group_only", locale, command=command))
        return False
    if not await group_registered(context, chat.id):
        await _hint_unknown_group(update, context, always=True)
        return False
    return True


async def _member_groups(session: AsyncSession, user_id: int) -> list[Chat]:
    rows = await session.scalars(
        select(Chat)
        .join(Member, Member.chat_id == Chat.id)
        .where(
            Member.user_id == user_id,
            Member.status.not_in(stats.ABSENT),
            Chat.active.is_(True),
            Chat.type.in_(GROUP_TYPES),
        )
        .order_by(Chat.id)
        .limit(PRIVATE_GROUPS_MAX)
    )
    return list(rows.all())


def _trigger_post_edit(s: Services, post_id: int) -> None:
    async def edit() -> None:
        await _edit_post_count(s, post_id)

    debouncer(s).trigger(("post", post_id), edit)


async def _edit_post_count(s: Services, post_id: int) -> None:
    """Re-render the prompt with the current check-in count (debounced)."""
    async with s.db.read() as session:
        found = await prompts.post_with_count(session, post_id)
    if found is None:
        return
    post, count = found
    chat_id, message_id = post.chat_id, post.message_id
    if message_id is None:
        return
    locale = str((await s.settings.get(chat_id))["locale"])
    html = _post_html(s, locale, post, count)
    await s.sender.edit(
        chat_id, message_id, html, buttons=render.prompt_buttons(s.texts, locale, post_id)
    )


# --- the daily prompt ---


async def job_study_prompt(s: Services, run: SlotRun) -> None:
    """Send the chat's next prompt for this slot, once per chat and local day."""
    async with s.db.session() as session:
        chat = await session.get(Chat, run.chat_id)
        if chat is None or not chat.active:
            return
        enabled, _days, _at, zone_name = study.study_rule(chat, s.config)
        if not enabled:
            return
        locale = _chat_locale(chat, s)
        reserved = await prompts.reserve_post(
            session,
            chat.id,
            s.content.curriculum,
            slot_at=run.slot_at,
            slot_date=run.slot_at.astimezone(ZoneInfo(zone_name)).date(),
            now=run.now,
        )
        if reserved is None:
            return
        post, _chosen = reserved
        post_id = post.id
        html = _post_html(s, locale, post, 0)
    sent = await s.sender.send(
        run.chat_id, html, buttons=render.prompt_buttons(s.texts, locale, post_id)
    )
    async with s.db.session() as session:
        if sent is None:
            await prompts.drop_reservation(session, post_id)
            logger.warning("study prompt for chat %s could not be sent", run.chat_id)
            return
        await prompts.mark_sent(session, post_id, sent.chat_id, sent.message_ids[-1], s.clock.now())


# --- buttons ---


async def cb_study(update: Update, context: Context) -> None:
    """Every ``study:`` button: check in, how to reflect, attend, cancel a session."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    _feature, action, args = parse_callback(query.data)
    try:
        ref = int(args[0]) if args else 0
    except ValueError:
        ref = 0
    if action == render.CB_CHECKIN:
        await _cb_checkin(update, context, ref)
    elif action == render.CB_REFLECT:
        s = svc(context)
        locale = await locale_of(update, context)
        text = s.texts.plain("study.checkin.how", locale, min=REFLECTION_MIN_CHARS)
        await s.sender.answer_callback(query.id, text, alert=True)
    elif action == render.CB_ATTEND:
        await _cb_attend(update, context, ref)
    elif action == render.CB_CANCEL_SESSION:
        await _cb_cancel_session(update, context, ref)
    else:
        await svc(context).sender.answer_callback(query.id)


async def _cb_checkin(update: Update, context: Context, post_id: int) -> None:
    s = svc(context)
    query = update.callback_query
    assert query is not None
    locale = await locale_of(update, context)
    now = s.clock.now()
    async with s.db.standalone() as session:
        pressed = await prompts.check_in_by_button(session, post_id, query.from_user.id, now)
    if pressed is None:
        await s.sender.answer_callback(query.id, s.texts.plain("study.checkin.unknown", locale))
        return
    chat_id, result = pressed
    zone = _settings_zone(await s.settings.get(chat_id), s)
    when = render.fmt_moment(s.texts, locale, result.checked_at, now, zone)
    if result.created:
        text = s.texts.plain("study.checkin.done", locale, time=when)
    else:
        text = s.texts.plain("study.checkin.already", locale, time=when)
    await s.sender.answer_callback(query.id, text)
    if result.created:
        _trigger_post_edit(s, post_id)


# --- reflections ---


async def on_study_reply(update: Update, context: Context) -> None:
    """A reply to a study prompt (or its copy) is a reflection and a check-in; edits update it.

    Runs in its own handler group next to the features' group-0 handlers, so it sees
    every reply without taking it from anyone else. Replies to other bot messages are
    left alone.
    """
    message = update.effective_message
    chat = update.effective_chat
    user = update.effective_user
    if message is None or chat is None or user is None or user.is_bot:
        return
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
        return
    text = message.text or message.caption
    if not text:
        return
    s = svc(context)
    if chat.type in GROUP_TYPES and not await group_registered(context, chat.id):
        await _hint_unknown_group(update, context, always=False)
        return
    edited = update.edited_message is not None
    async with s.db.session() as session:
        post = await prompts.post_by_message(session, chat.id, replied.message_id)
        if post is None or post.message_id is None:
            return
        result = await prompts.save_reflection(
            session,
            post,
            user.id,
            chat_id=chat.id,
            message_id=message.message_id,
            text=text,
            now=s.clock.now(),
            edited=edited,
        )
        post_id = post.id
    if result.checked_in:
        _trigger_post_edit(s, post_id)
    locale = await locale_of(update, context)
    if result.truncated:
        await reply(
            update, context, s.t("study.reflection.cut", locale, limit=REFLECTION_LIMIT), quote=True
        )
    elif edited:
        return
    elif not result.counted:
        await reply(
            update,
            context,
            s.t("study.reflection.short", locale, min=REFLECTION_MIN_CHARS),
            quote=True,
        )
    elif not await s.sender.react(chat.id, message.message_id, REACTION):
        await reply(update, context, s.t("study.reflection.ack", locale), quote=True)


# --- /study ---


async def cmd_study(update: Update, context: Context) -> None:
    """/study: today's prompt again (the latest sent), in the group or in private."""
    s = svc(context)
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None:
        return
    locale = await locale_of(update, context)
    if chat.type == "private":
        await _study_private(update, context, user.id, locale)
        return
    if chat.type not in GROUP_TYPES:
        return
    if not await group_registered(context, chat.id):
        await _hint_unknown_group(update, context, always=True)
        return
    async with s.db.session() as session:
        row = await session.get(Chat, chat.id)
        post = await prompts.latest_post(session, chat.id)
        if post is None:
            text = await _none_yet(s, session, row, locale)
        else:
            post_id = post.id
            html = _post_html(s, locale, post, await prompts.checkin_count(session, post.id))
    if post is None:
        await reply(update, context, text)
        return
    sent = await reply(
        update, context, html, buttons=render.prompt_buttons(s.texts, locale, post_id)
    )
    if sent is not None:
        async with s.db.session() as session:
            await prompts.record_copy(
                session, post_id, sent.chat_id, sent.message_ids[-1], s.clock.now()
            )


async def _none_yet(s: Services, session: AsyncSession, chat: Chat | None, locale: str) -> Html:
    schedule = await s.scheduler.get(session, chat.id, study.KIND) if chat else None
    if schedule is None or not schedule.enabled or schedule.next_due_at is None:
        return s.t("study.today.disabled", locale)
    when = render.fmt_when(s.texts, locale, schedule.next_due_at, _zone(chat, s))
    return s.t("study.today.none_yet", locale, when=when)


async def _study_private(update: Update, context: Context, user_id: int, locale: str) -> None:
    s = svc(context)
    shown: list[tuple[int, Html]] = []
    async with s.db.session() as session:
        groups = await _member_groups(session, user_id)
        for group in groups:
            post = await prompts.latest_post(session, group.id)
            if post is None:
                shown.append(
                    (0, s.t("study.today.private_none_yet", locale, title=group.title or ""))
                )
                continue
            count = await prompts.checkin_count(session, post.id)
            html = _post_html(s, locale, post, count, group_title=group.title or "")
            shown.append((post.id, html))
    if not groups:
        await reply(update, context, s.t("study.today.private_no_group", locale))
        return
    for post_id, html in shown:
        if not post_id:
            await reply(update, context, html)
            continue
        buttons = render.prompt_buttons(s.texts, locale, post_id)
        sent = await reply(update, context, html, buttons=buttons)
        if sent is not None:
            async with s.db.session() as session:
                await prompts.record_copy(
                    session, post_id, sent.chat_id, sent.message_ids[-1], s.clock.now()
                )


# --- /me ---


async def cmd_me(update: Update, context: Context) -> None:
    """/me: the member's streak, this week's and month's check-ins, reflections."""
    s = svc(context)
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None:
        return
    locale = await locale_of(update, context)
    if chat.type in GROUP_TYPES and not await group_registered(context, chat.id):
        await _hint_unknown_group(update, context, always=True)
        return
    if chat.type not in GROUP_TYPES and chat.type != "private":
        return
    now = s.clock.now()
    blocks: list[str] = []
    async with s.db.session() as session:
        me = await session.get(User, user.id)
        name = me.display_name if me is not None else user.full_name
        if chat.type == "private":
            groups = await _member_groups(session, user.id)
        else:
            row = await session.get(Chat, chat.id)
            groups = [row] if row is not None else []
        for group in groups:
            numbers = await stats.member_stats(session, group.id, user.id, now, _zone(group, s))
            lines = []
            if chat.type == "private":
                lines.append(s.t("study.me.group", locale, title=group.title or ""))
            lines.append(
                s.t(
                    "study.me.body",
                    locale,
                    streak=numbers.streak,
                    week=numbers.week,
                    week_total=numbers.week_total,
                    month=numbers.month,
                    month_total=numbers.month_total,
                    reflections=numbers.reflections,
                    reflections_month=numbers.reflections_month,
                    excellent=numbers.excellent,
                    sessions=numbers.sessions_month,
                )
            )
            blocks.append("\n".join(lines))
    if not blocks:
        await reply(update, context, s.t("study.today.private_no_group", locale))
        return
    title = s.t("study.me.title", locale, name=name)
    # Quiz accuracy per requirement: this group's rounds, or every group's in private,
    # plus private practice.
    quiz_part = await quiz_handlers.me_section(
        s, locale, chat.id if chat.type in GROUP_TYPES else None, user.id
    )
    await reply(
        update,
        context,
        Html("\n\n".join([title, *blocks, quiz_part])),
        quote=chat.type != "private",
    )


# --- collective sessions: /session and its dialog ---


def _drafts(context: Context) -> dict[int, str]:
    data = context.chat_data if context.chat_data is not None else {}
    drafts: dict[int, str] = data.setdefault(DRAFT_KEY, {})
    return drafts


async def cmd_session(update: Update, context: Context) -> int:
    """/session [date time topic]: schedule a collective session, or start the dialog."""
    s = svc(context)
    if not await _group_ready(update, context, "/session"):
        return ConversationHandler.END
    if not await require_admin(update, context):
        return ConversationHandler.END
    message = update.effective_message
    text = (message.text or "") if message is not None else ""
    parts = text.split(maxsplit=1)
    raw = parts[1].strip() if len(parts) > 1 else ""
    if not raw:
        locale = await locale_of(update, context)
        forms = s.texts.plain("study.session.forms", locale)
        await reply(update, context, s.t("study.session.ask_when", locale, forms=forms))
        return ASK_WHEN
    # A one-line command that fails ends here: the admin's next message is not taken
    # as a second try (only the dialog, which asked for it, waits for an answer).
    return await _session_when(update, context, raw, in_dialog=False)


async def on_session_when(update: Update, context: Context) -> int:
    message = update.effective_message
    text = (message.text or "") if message else ""
    return await _session_when(update, context, text, in_dialog=True)


async def _session_when(update: Update, context: Context, raw: str, *, in_dialog: bool) -> int:
    s = svc(context)
    chat = update.effective_chat
    user = update.effective_user
    assert chat is not None and user is not None
    locale = await locale_of(update, context)
    async with s.db.session() as session:
        zone = _zone(await session.get(Chat, chat.id), s)
    try:
        parsed = parse_start(raw, s.clock.now(), zone)
    except SessionTimeError as exc:
        error = _time_error(s, locale, exc, zone)
        if not in_dialog:
            await reply(update, context, error, quote=True)
            return ConversationHandler.END
        hint = s.t("study.session.cancel_hint", locale)
        await reply(update, context, Html(f"{error}\n{hint}"), quote=True)
        return ASK_WHEN
    if not parsed.rest:
        _drafts(context)[user.id] = parsed.starts_at.isoformat()
        when = render.fmt_when(s.texts, locale, parsed.starts_at, zone)
        await reply(
            update,
            context,
            s.t("study.session.ask_topic", locale, when=when, max=sessions.TOPIC_MAX),
        )
        return ASK_TOPIC
    return await _session_topic(update, context, parsed.starts_at, parsed.rest, in_dialog=in_dialog)


async def on_session_topic(update: Update, context: Context) -> int:
    s = svc(context)
    user = update.effective_user
    message = update.effective_message
    assert user is not None
    stored = _drafts(context).get(user.id)
    if stored is None:
        return ConversationHandler.END
    starts_at = datetime.fromisoformat(stored)
    if starts_at <= s.clock.now():
        # The dialog took longer than the time left: ask for a new start.
        _drafts(context).pop(user.id, None)
        locale = await locale_of(update, context)
        chat = update.effective_chat
        async with s.db.session() as session:
            zone = _zone(await session.get(Chat, chat.id) if chat else None, s)
        error = SessionTimeError("past", stored, starts_at)
        await reply(update, context, _time_error(s, locale, error, zone), quote=True)
        return ASK_WHEN
    topic = " ".join(((message.text or "") if message else "").split())
    return await _session_topic(update, context, starts_at, topic, in_dialog=True)


async def _session_topic(
    update: Update, context: Context, starts_at: datetime, topic: str, *, in_dialog: bool
) -> int:
    s = svc(context)
    user = update.effective_user
    assert user is not None
    locale = await locale_of(update, context)
    error: Html | None = None
    if not topic:
        error = s.t("study.session.error.topic_empty", locale)
    elif len(topic) > sessions.TOPIC_MAX:
        error = s.t(
            "study.session.error.topic_long", locale, length=len(topic), max=sessions.TOPIC_MAX
        )
    if error is not None:
        if not in_dialog:
            await reply(update, context, error, quote=True)
            return ConversationHandler.END
        hint = s.t("study.session.cancel_hint", locale)
        await reply(update, context, Html(f"{error}\n{hint}"), quote=True)
        _drafts(context)[user.id] = starts_at.isoformat()
        return ASK_TOPIC
    _drafts(context).pop(user.id, None)
    if in_dialog and not await require_admin(update, context):  # demoted since /session
        return ConversationHandler.END
    await _create_session(update, context, starts_at, topic)
    return ConversationHandler.END


def _time_error(s: Services, locale: str, exc: SessionTimeError, zone: ZoneInfo) -> Html:
    forms = s.texts.plain("study.session.forms", locale)
    when = render.fmt_when(s.texts, locale, exc.when, zone) if exc.when else exc.text
    if exc.kind == "date":
        return s.t("study.session.error.date", locale, text=exc.text, forms=forms)
    if exc.kind == "time":
        return s.t("study.session.error.time", locale, text=exc.text, forms=forms)
    if exc.kind == "past":
        return s.t("study.session.error.past", locale, when=when)
    if exc.kind == "too_far":
        return s.t("study.session.error.too_far", locale, when=when)
    return s.t("study.session.error.format", locale, text=exc.text, forms=forms)


async def _create_session(
    update: Update, context: Context, starts_at: datetime, topic: str
) -> None:
    s = svc(context)
    chat = update.effective_chat
    user = update.effective_user
    assert chat is not None
    now = s.clock.now()
    async with s.db.session() as session:
        row = await session.get(Chat, chat.id)
        zone = _zone(row, s)
        locale = _chat_locale(row, s)
        created = await sessions.create_session(
            session,
            s.scheduler,
            chat_id=chat.id,
            topic=topic,
            starts_at=starts_at,
            minutes=sessions.session_minutes(row, s.config),
            created_by=user.id if user else None,
            now=now,
            timezone=zone.key,
        )
        session_id, minutes = created.id, created.minutes
    html = s.t(
        "study.session.announce",
        locale,
        topic=topic,
        when=render.fmt_when(s.texts, locale, starts_at, zone),
        minutes=minutes,
    )
    sent = await s.sender.send(
        chat.id, html, buttons=render.cancel_buttons(s.texts, locale, session_id)
    )
    if sent is not None:
        async with s.db.session() as session:
            await sessions.set_announcement(session, session_id, sent.message_ids[-1])


async def cmd_session_cancel(update: Update, context: Context) -> int:
    """/cancel inside the /session dialog."""
    s = svc(context)
    user = update.effective_user
    if user is not None:
        _drafts(context).pop(user.id, None)
    locale = await locale_of(update, context)
    await reply(update, context, s.t("study.session.cancelled", locale), quote=True)
    return ConversationHandler.END


async def on_session_timeout(update: Update, context: Context) -> None:
    s = svc(context)
    user = update.effective_user
    if user is not None:
        _drafts(context).pop(user.id, None)
    locale = await locale_of(update, context)
    await reply(update, context, s.t("study.session.timeout", locale))


async def _cb_cancel_session(update: Update, context: Context, session_id: int) -> None:
    s = svc(context)
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None
    if chat is None or not await require_admin(update, context):
        return
    locale = await locale_of(update, context)
    async with s.db.session() as session:
        row = await sessions.cancel_session(session, s.scheduler, session_id, chat.id)
        chat_row = await session.get(Chat, chat.id)
        if row is not None:
            zone = _zone(chat_row, s)
            chat_locale = _chat_locale(chat_row, s)
            me = await session.get(User, query.from_user.id)
            name = me.display_name if me else query.from_user.full_name
            html = s.t(
                "study.session.cancelled_notice",
                chat_locale,
                topic=row.topic,
                when=render.fmt_when(s.texts, chat_locale, row.starts_at, zone),
                name=name,
            )
            message_id = row.announce_message_id
    if row is None:
        await s.sender.answer_callback(
            query.id, s.texts.plain("study.session.cancel_late", locale), alert=True
        )
        return
    await s.sender.answer_callback(query.id, s.texts.plain("study.session.cancel_done", locale))
    if message_id is not None:
        await s.sender.edit(chat.id, message_id, html)
    else:
        await s.sender.send(chat.id, html)


async def _cb_attend(update: Update, context: Context, session_id: int) -> None:
    s = svc(context)
    query = update.callback_query
    assert query is not None
    locale = await locale_of(update, context)
    now = s.clock.now()
    async with s.db.session() as session:
        result = await sessions.attend(session, session_id, query.from_user.id, now)
        zone = _zone(await session.get(Chat, result.session.chat_id) if result.session else None, s)
    when = render.fmt_moment(s.texts, locale, result.at, now, zone) if result.at else ""
    if result.status == "done":
        text = s.texts.plain("study.session.attend.done", locale, time=when)
    elif result.status == "already":
        text = s.texts.plain("study.session.attend.already", locale, time=when)
    elif result.status == "closed":
        text = s.texts.plain("study.session.attend.closed", locale)
    elif result.status == "not_open":
        text = s.texts.plain("study.session.attend.not_open", locale)
    else:
        text = s.texts.plain("study.session.attend.unknown", locale)
    await s.sender.answer_callback(query.id, text)
    if result.status == "done":

        async def edit() -> None:
            await _edit_session_count(s, session_id)

        debouncer(s).trigger(("session", session_id), edit)


async def _edit_session_count(s: Services, session_id: int) -> None:
    async with s.db.session() as session:
        row = await session.get(StudySession, session_id)
        if row is None or row.status != "open" or row.open_message_id is None:
            return
        chat = await session.get(Chat, row.chat_id)
        locale, zone = _chat_locale(chat, s), _zone(chat, s)
        count = await sessions.attendance_count(session, session_id)
        html = render.session_open_html(
            s.texts,
            locale,
            topic=row.topic,
            until=render.fmt_time(sessions.ends_at(row), zone),
            count=count,
            closed=False,
        )
        chat_id, message_id = row.chat_id, row.open_message_id
    await s.sender.edit(
        chat_id, message_id, html, buttons=render.session_buttons(s.texts, locale, session_id)
    )


async def _session_context(
    s: Services, session: AsyncSession, run: SlotRun
) -> tuple[Chat, str, ZoneInfo] | None:
    chat = await session.get(Chat, run.chat_id)
    if chat is None or not chat.active:
        return None
    return chat, _chat_locale(chat, s), _zone(chat, s)


async def job_session_reminder(s: Services, run: SlotRun) -> None:
    """A day and an hour before a session: remind the group."""
    session_id = int(run.payload.get("session", 0))
    async with s.db.session() as session:
        found = await _session_context(s, session, run)
        row = await sessions.due_reminder(session, session_id)
        if found is None or row is None:
            return
        _chat, locale, zone = found
        values = {
            "topic": row.topic,
            "when": render.fmt_when(s.texts, locale, row.starts_at, zone),
            "minutes": row.minutes,
        }
    if run.payload.get("which") == "day":
        html = s.t("study.session.remind_day", locale, **values)
    else:
        html = s.t("study.session.remind_hour", locale, **values)
    await s.sender.send(run.chat_id, html)


async def job_session_open(s: Services, run: SlotRun) -> None:
    """At the start: post the sign-in button."""
    session_id = int(run.payload.get("session", 0))
    async with s.db.session() as session:
        found = await _session_context(s, session, run)
        if found is None:
            return
        _chat, locale, zone = found
        row = await sessions.begin_opening(session, session_id, run.now)
        if row is None:
            return
        html = render.session_open_html(
            s.texts,
            locale,
            topic=row.topic,
            until=render.fmt_time(sessions.ends_at(row), zone),
            count=0,
            closed=False,
        )
    sent = await s.sender.send(
        run.chat_id, html, buttons=render.session_buttons(s.texts, locale, session_id)
    )
    if sent is not None:
        async with s.db.session() as session:
            await sessions.set_open_message(session, session_id, sent.message_ids[-1])


async def job_session_close(s: Services, run: SlotRun) -> None:
    """After the session's length: close sign-in and post who attended."""
    session_id = int(run.payload.get("session", 0))
    async with s.db.session() as session:
        row = await sessions.close(session, session_id, run.now)
        if row is None:
            return
        chat = await session.get(Chat, row.chat_id)
        locale, zone = _chat_locale(chat, s), _zone(chat, s)
        names = await sessions.attendee_names(session, session_id)
        topic, message_id, chat_id = row.topic, row.open_message_id, row.chat_id
        until = render.fmt_time(sessions.ends_at(row), zone)
    if message_id is not None:
        html = render.session_open_html(
            s.texts, locale, topic=topic, until=until, count=len(names), closed=True
        )
        await s.sender.edit(chat_id, message_id, html)
    if names:
        summary = s.t(
            "study.session.summary",
            locale,
            topic=topic,
            count=len(names),
            names=render.names_list(s.texts, locale, names),
        )
    else:
        summary = s.t("study.session.summary_none", locale, topic=topic)
    await s.sender.send(chat_id, summary)


# --- admins: /study_report and /excellent ---


async def cmd_study_report(update: Update, context: Context) -> None:
    """/study_report: this week's participation per member, and who has been idle."""
    s = svc(context)
    if not await _group_ready(update, context, "/study_report"):
        return
    if not await require_admin(update, context):
        return
    chat = update.effective_chat
    assert chat is not None
    locale = await locale_of(update, context)
    async with s.db.session() as session:
        row = await session.get(Chat, chat.id)
        zone = _zone(row, s)
        report = await stats.week_report(session, chat.id, s.clock.now(), zone)
    days = stats.IDLE_STUDY_DAYS
    lines: list[str] = [
        s.t(
            "study.report.title",
            locale,
            start=render.fmt_date(s.texts, locale, report.start),
            end=render.fmt_date(s.texts, locale, report.end),
        ),
        s.t("study.report.summary", locale, posts=report.posts, sessions=report.sessions),
        "",
        s.t("study.report.header", locale),
    ]
    if not report.rows:
        lines.append(s.t("study.report.no_members", locale))
    for r in report.rows:
        lines.append(
            s.t(
                "study.report.line",
                locale,
                name=r.name,
                checkins=r.checkins,
                posts=report.posts,
                reflections=r.reflections,
                attended=r.attended,
                sessions=report.sessions,
            )
        )
    lines += ["", s.t("study.report.idle_title", locale, days=days)]
    if not report.idle:
        lines.append(s.t("study.report.idle_none", locale, days=days))
    for idle in report.idle:
        if idle.last is None:
            lines.append(s.t("study.report.idle_never", locale, name=idle.name, missed=idle.missed))
        else:
            last = render.fmt_date(s.texts, locale, idle.last)
            lines.append(
                s.t("study.report.idle_line", locale, name=idle.name, missed=idle.missed, last=last)
            )
    lines += ["", s.t("study.report.note", locale)]
    await reply(update, context, Html("\n".join(lines)))


async def cmd_excellent(update: Update, context: Context) -> None:
    """/excellent as a reply to a member's reflection: mark it and share it with the group."""
    s = svc(context)
    if not await _group_ready(update, context, "/excellent"):
        return
    if not await require_admin(update, context):
        return
    chat = update.effective_chat
    message = update.effective_message
    assert chat is not None and message is not None
    locale = await locale_of(update, context)
    target = message.reply_to_message
    author = target.from_user if target is not None else None
    if target is None or author is None or author.is_bot:
        await reply(update, context, s.t("study.excellent.need_reply", locale), quote=True)
        return
    actor = update.effective_user
    async with s.db.session() as session:
        found = await prompts.reflection_by_message(session, chat.id, author.id, target.message_id)
        error: Html | None = None
        if found is None:
            error = s.t("study.excellent.not_reflection", locale)
        elif not found[0].counted:
            error = s.t("study.excellent.too_short", locale, min=REFLECTION_MIN_CHARS)
        elif not await prompts.mark_excellent(
            session, found[0], actor.id if actor else None, s.clock.now()
        ):
            error = s.t("study.excellent.already", locale)
        if error is None and found is not None:
            reflection, post = found
            row = await session.get(Chat, chat.id)
            chat_locale = _chat_locale(row, s)
            user = await session.get(User, author.id)
            name = user.display_name if user is not None else author.full_name
            prompt = prompts.find_prompt(s.content.curriculum, post.prompt_id)
            html = s.t(
                "study.excellent.share",
                chat_locale,
                author=s.t("study.excellent.author", chat_locale, id=author.id, name=name),
                day=post.day_number,
                title=prompt.title if prompt else post.prompt_id,
                text=render.share_text(s.texts, chat_locale, reflection.text),
            )
    if error is not None:
        await reply(update, context, error, quote=True)
        return
    await s.sender.send(chat.id, html)
