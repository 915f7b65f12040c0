"""Notices in chats: /notice, /notice list, /notice N, section buttons, /notice_send (TG).

Reading works for everyone in a registered group (and in private); sending to every
group is for bot-wide admins (config ``admins``), in their private chat with the bot.
Delivery itself is the outbox's job (bot.notices.delivery).
"""

from __future__ import annotations

import logging

from telegram import Update

from bot.notices import delivery, store
from bot.notices.delivery import BroadcastState
from bot.texts import Html
from bot.ui import Button, callback, parse_callback
from handlers.common import (
    Context,
    command_args,
    group_registered,
    hint_unregistered,
    locale_of,
    reply,
    svc,
)

logger = logging.getLogger(__name__)

LIST_SIZE = 10


async def _registered(update: Update, context: Context, locale: str) -> bool:
    """Groups must be registered (and active); private chats may always read."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == "private":
        return True
    known = await group_registered(context, chat.id)
    if not known:
        await hint_unregistered(update, context)
    return known


async def cmd_notice(update: Update, context: Context) -> None:
    """/notice: the latest summary; /notice list: the last ten; /notice N: one."""
    s = svc(context)
    locale = await locale_of(update, context)
    if not await _registered(update, context, locale):
        return
    args = command_args(context)
    if len(args) > 1 or (args and args[0].lower() != "list" and not args[0].isdecimal()):
        await reply(update, context, s.t("notices.usage", locale), quote=True)
        return
    if args and args[0].lower() == "list":
        await _show_list(update, context, locale)
        return
    async with s.db.session() as session:
        if args:
            notice = await store.get_notice(session, int(args[0]))
        else:
            latest = await store.latest_notices(session, 1)
            notice = latest[0] if latest else None
    if notice is None:
        text = (
            s.t("notices.not_found", locale, number=args[0])
            if args
            else s.t("notices.list.empty", locale)
        )
        await reply(update, context, text, quote=True)
        return
    await reply(
        update,
        context,
        delivery.summary_html(notice, s.texts, locale),
        buttons=delivery.summary_buttons(notice, s.texts, locale),
    )


async def _show_list(update: Update, context: Context, locale: str) -> None:
    s = svc(context)
    async with s.db.session() as session:
        notices = await store.latest_notices(session, LIST_SIZE)
    if not notices:
        await reply(update, context, s.t("notices.list.empty", locale))
        return
    lines: list[str] = [s.t("notices.list.title", locale)]
    for notice in notices:
        day = (
            s.t("notices.list.date", locale, date=notice.published.isoformat())
            if notice.published
            else Html("")
        )
        lines.append(
            s.t("notices.list.line", locale, number=notice.id, date=day, title=notice.title)
        )
    lines.append("")
    lines.append(s.t("notices.list.hint", locale, number=notices[0].id))
    await reply(update, context, Html("\n".join(lines)))


async def cmd_notice_send(update: Update, context: Context) -> None:
    """/notice_send N (bot-wide admins, private chat): queue the summary for every group."""
    s = svc(context)
    locale = await locale_of(update, context)
    user, chat = update.effective_user, update.effective_chat
    if chat is None:
        return
    if not s.permissions.is_bot_admin(user.id if user else None):
        await reply(update, context, s.t("errors.admin_only", locale), quote=True)
        return
    if chat.type != "private":
        await reply(update, context, s.t("notices.send.private_only", locale), quote=True)
        return
    args = command_args(context)
    if len(args) != 1 or not args[0].isdecimal():  # not isdigit(): int("²") fails
        await reply(update, context, s.t("notices.send.usage", locale))
        return
    now = s.clock.now()
    async with s.db.session() as session:
        notice = await store.get_notice(session, int(args[0]))
        if notice is None:
            await reply(update, context, s.t("notices.not_found", locale, number=args[0]))
            return
        plan = await delivery.queue_broadcast(
            session, notice, texts=s.texts, config=s.config, now=now
        )
        state = await delivery.broadcast_state(session, notice.id)
        title = notice.title
    if not plan.targets:
        await reply(update, context, s.t("notices.send.no_groups", locale))
        return
    s.outbox.wake()
    text = s.t(
        "notices.send.queued",
        locale,
        number=plan.notice_id,
        title=title,
        targets=len(plan.targets),
        state=_state_line(context, state, locale),
    )
    await reply(update, context, text, buttons=_state_buttons(context, plan.notice_id, locale))


def _state_line(context: Context, state: BroadcastState, locale: str) -> Html:
    return svc(context).t(
        "notices.send.state",
        locale,
        sent=state.sent,
        pending=state.pending + state.sending,
        skipped=state.skipped,
        failed=state.failed,
    )


def _state_buttons(context: Context, notice_id: int, locale: str) -> list[list[Button]]:
    label = svc(context).texts.plain("notices.button.state", locale)
    return [[Button(label, data=callback(delivery.FEATURE, delivery.STATE_ACTION, notice_id))]]


async def cb_notice(update: Update, context: Context) -> None:
    """notice:sec:<id>:<n> shows a section in full; notice:state:<id> refreshes a send."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    _, action, args = parse_callback(query.data)
    if action == delivery.SECTION_ACTION:
        await _show_section(update, context, args)
    elif action == delivery.STATE_ACTION:
        await _refresh_state(update, context, args)
    else:
        await svc(context).sender.answer_callback(query.id)


async def _show_section(update: Update, context: Context, args: list[str]) -> None:
    s = svc(context)
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None
    locale = await locale_of(update, context)
    wanted = delivery.parse_section_data(args)
    if wanted is None or chat is None:
        await s.sender.answer_callback(query.id)
        return
    notice_id, number = wanted
    async with s.db.session() as session:
        notice = await store.get_notice(session, notice_id)
    if notice is None:
        await s.sender.answer_callback(
            query.id, s.texts.plain("notices.section.gone", locale), alert=True
        )
        return
    text = delivery.section_html(notice, number, s.texts, locale)
    if text is None:
        await s.sender.answer_callback(
            query.id, s.texts.plain("notices.section.missing", locale), alert=True
        )
        return
    await s.sender.answer_callback(query.id)
    message = query.message
    reply_to = message.message_id if message is not None else None
    await s.sender.send(chat.id, text, reply_to=reply_to)


async def _refresh_state(update: Update, context: Context, args: list[str]) -> None:
    s = svc(context)
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None
    locale = await locale_of(update, context)
    user = update.effective_user
    if not s.permissions.is_bot_admin(user.id if user else None):
        await s.sender.answer_callback(
            query.id, s.texts.plain("errors.admin_only", locale), alert=True
        )
        return
    if len(args) != 1 or not args[0].isdecimal() or chat is None:
        await s.sender.answer_callback(query.id)
        return
    notice_id = int(args[0])
    async with s.db.session() as session:
        state = await delivery.broadcast_state(session, notice_id)
    await s.sender.answer_callback(query.id)
    message = query.message
    text = s.t(
        "notices.send.state_title",
        locale,
        number=notice_id,
        state=_state_line(context, state, locale),
    )
    if message is not None:
        await s.sender.edit(
            chat.id, message.message_id, text, buttons=_state_buttons(context, notice_id, locale)
        )
