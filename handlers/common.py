"""Helpers every handler uses: services, who acted, locale, replies, the admin check (TG)."""

from __future__ import annotations

import logging
from typing import Any, TypeAlias

from telegram import Chat as TgChat
from telegram import Update
from telegram import User as TgUser
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, JobQueue

from bot import services as services_mod
from bot.chats import ChatInfo, UserInfo
from bot.db.models import Chat
from bot.permissions import Actor
from bot.sender import Sent
from bot.services import Services
from bot.texts import Html
from bot.transport import RawBot
from bot.ui import Keyboard

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
FirmBotApp: TypeAlias = Application[
    RawBot,
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]


def svc(context: Context | FirmBotApp) -> Services:
    return services_mod.get(context.bot_data)


def user_info(user: TgUser) -> UserInfo:
    return UserInfo(
        id=user.id,
        first_name=user.first_name,
        username=user.username,
        last_name=user.last_name,
        language_code=user.language_code,
        is_bot=user.is_bot,
    )


def chat_info(chat: TgChat) -> ChatInfo:
    return ChatInfo(id=chat.id, type=chat.type, title=chat.title, username=chat.username)


def actor_of(update: Update) -> Actor | None:
    chat = update.effective_chat
    if chat is None:
        return None
    user = update.effective_user
    message = update.effective_message
    sender_chat = message.sender_chat if message is not None else None
    return Actor(
        user_id=user.id if user else None,
        chat_id=chat.id,
        sender_chat_id=sender_chat.id if sender_chat else None,
    )


async def chat_settings(context: Context, chat_id: int) -> dict[str, Any]:
    """The chat's effective settings (cached per process, see bot.chats.SettingsCache)."""
    return await svc(context).settings.get(chat_id)


async def group_registered(context: Context, chat_id: int) -> bool:
    """The group is registered (the bot was added, or /start) and still active."""
    async with svc(context).db.session() as session:
        row = await session.get(Chat, chat_id)
        return row is not None and row.active


async def hint_unregistered(update: Update, context: Context) -> None:
    """Tell a group the bot does not know how an admin registers it."""
    s = svc(context)
    locale = await locale_of(update, context)
    bot = s.bot_username or context.bot.username or ""
    await reply(update, context, s.t("errors.unknown_group", locale, bot=bot), quote=True)


async def locale_of(update: Update, context: Context) -> str:
    """English for users whose language_code starts with en; else the chat's language."""
    s = svc(context)
    chat = update.effective_chat
    settings = await chat_settings(context, chat.id) if chat is not None else None
    user = update.effective_user
    return s.user_locale(user.language_code if user else None, settings)


async def chat_locale(context: Context, chat_id: int) -> str:
    """The language of messages addressed to the whole chat."""
    return str((await chat_settings(context, chat_id))["locale"])


async def reply(
    update: Update,
    context: Context,
    html: Html | str,
    *,
    buttons: Keyboard | None = None,
    quote: bool = False,
) -> Sent | None:
    """Answer in the chat the update came from, through the sender."""
    chat = update.effective_chat
    if chat is None:
        return None
    message = update.effective_message
    reply_to = message.message_id if quote and message is not None else None
    return await svc(context).sender.send(chat.id, str(html), buttons=buttons, reply_to=reply_to)


async def _fetch_status(context: Context, chat_id: int, user_id: int) -> str | None:
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except TelegramError as exc:
        logger.info("cannot read the status of %s in %s: %s", user_id, chat_id, exc)
        return None
    return str(member.status)


async def is_admin(update: Update, context: Context) -> bool:
    """The one admin check every admin action uses (see bot.permissions)."""
    actor = actor_of(update)
    if actor is None:
        return False

    async def fetch(chat_id: int, user_id: int) -> str | None:
        return await _fetch_status(context, chat_id, user_id)

    return await svc(context).permissions.is_admin(actor, fetch)


async def require_admin(update: Update, context: Context) -> bool:
    """True if the actor is an admin; otherwise tell them politely and return False."""
    if await is_admin(update, context):
        return True
    locale = await locale_of(update, context)
    if update.callback_query is not None:
        await svc(context).sender.answer_callback(
            update.callback_query.id,
            svc(context).texts.plain("errors.admin_only", locale),
            alert=True,
        )
    else:
        await reply(update, context, svc(context).t("errors.admin_only", locale), quote=True)
    return False


def command_args(context: Context) -> list[str]:
    return list(context.args or [])


def addressed_to_bot(update: Update, context: Context) -> bool:
    """A command is for us in private chats, with our @username, or as a reply to us."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return False
    if chat.type == "private":
        return True
    text = message.text or message.caption or ""
    first = text.split(maxsplit=1)[0] if text else ""
    username = context.bot.username or ""
    if username and first.lower().endswith("@" + username.lower()):
        return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == context.bot.id)
