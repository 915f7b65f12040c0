"""Core callbacks: joining and leaving groups, upgrades, /start, /help, errors (TG)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    ChatMember,
    Update,
)
from telegram.error import TelegramError

from bot import chats
from bot.db.models import Chat
from bot.texts import Html
from handlers.common import (
    Context,
    FirmBotApp,
    addressed_to_bot,
    chat_info,
    group_registered,
    hint_unregistered,
    locale_of,
    reply,
    svc,
    user_info,
)

logger = logging.getLogger(__name__)

PRESENT = frozenset(
    {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED}
)


@dataclass(frozen=True)
class MenuCommand:
    """A command in the menu and in /help; its description is the locale key ``commands.<name>``."""

    name: str
    admin_only: bool = False
    group: bool = True
    private: bool = True


def help_text(
    context: Context, locale: str, menu: list[MenuCommand], *, is_admin: bool, private: bool
) -> Html:
    s = svc(context)
    lines = [
        s.t(
            "help.command_line",
            locale,
            command=f"/{c.name}",
            description=s.texts.plain(f"commands.{c.name}", locale),
        )
        for c in menu
        if (is_admin or not c.admin_only) and (c.private if private else c.group)
    ]
    return s.t("help.text", locale, commands=Html("\n".join(lines)))


async def set_command_menu(app: FirmBotApp, menu: list[MenuCommand]) -> None:
    """setMyCommands for zh and en (and the default): private chats, groups, group admins."""
    s = svc(app)
    for locale, language_code in (("zh_CN", None), ("zh_CN", "zh"), ("en", "en")):

        def commands(keep: Callable[[MenuCommand], bool], locale: str = locale) -> list[BotCommand]:
            return [
                BotCommand(c.name, s.texts.plain(f"commands.{c.name}", locale))
                for c in menu
                if keep(c)
            ]

        scopes: list[tuple[BotCommandScope, list[BotCommand]]] = [
            (BotCommandScopeDefault(), commands(lambda c: not c.admin_only)),
            (BotCommandScopeAllPrivateChats(), commands(lambda c: c.private and not c.admin_only)),
            (BotCommandScopeAllGroupChats(), commands(lambda c: c.group and not c.admin_only)),
            (BotCommandScopeAllChatAdministrators(), commands(lambda c: c.group)),
        ]
        for scope, listed in scopes:
            try:
                await app.bot.set_my_commands(listed, scope=scope, language_code=language_code)
            except TelegramError as exc:
                logger.warning("could not set the command menu (%s): %s", language_code, exc)


async def register_group(context: Context, update: Update, *, bot_is_admin: bool) -> Chat:
    """Store the group as active and let features derive its schedules."""
    s = svc(context)
    tg_chat = update.effective_chat
    assert tg_chat is not None
    now = s.clock.now()
    async with s.db.session() as session:
        chat, _ = await chats.upsert_chat(session, chat_info(tg_chat), now)
        await chats.set_active(session, chat.id, True, now)
        chat.bot_is_admin = bot_is_admin
        await s.scheduler.set_enabled(session, chat.id, True)
        await s.run_chat_hooks(session, chat)
        if update.effective_user is not None:
            await chats.seen(session, user_info(update.effective_user), chat_info(tg_chat), now)
    return chat


async def on_my_chat_member(update: Update, context: Context) -> None:
    """The bot was added to, removed from or promoted in a chat."""
    change = update.my_chat_member
    if change is None:
        return
    s = svc(context)
    chat = change.chat
    old, new = change.old_chat_member.status, change.new_chat_member.status
    if chat.type == "private":
        async with s.db.session() as session:
            user = await chats.upsert_user(session, user_info(change.from_user), s.clock.now())
            user.private_chat_open = new in PRESENT
        return
    if chat.type not in chats.GROUP_TYPES:
        return  # channels are not firm groups
    if new in PRESENT and old not in PRESENT:
        registered = await register_group(
            context, update, bot_is_admin=new == ChatMember.ADMINISTRATOR
        )
        locale = str(chats.effective_settings(registered, s.config)["locale"])
        key = "greeting.added_admin" if new == ChatMember.ADMINISTRATOR else "greeting.added"
        await s.sender.send(chat.id, s.t(key, locale, title=chat.title or ""))
        logger.info("added to %s (%s)", chat.id, new)
    elif new not in PRESENT and old in PRESENT:
        async with s.db.session() as session:
            await chats.set_active(session, chat.id, False, s.clock.now())
            await s.scheduler.set_enabled(session, chat.id, False)
        s.permissions.forget_chat(chat.id)
        logger.info("removed from %s (%s)", chat.id, new)
    elif new in PRESENT:
        async with s.db.session() as session:
            row = await session.get(Chat, chat.id)
            if row is not None:
                row.bot_is_admin = new == ChatMember.ADMINISTRATOR
        if new == ChatMember.ADMINISTRATOR and old != ChatMember.ADMINISTRATOR:
            locale = await locale_of(update, context)
            await s.sender.send(chat.id, s.t("greeting.promoted", locale))


async def on_chat_member(update: Update, context: Context) -> None:
    """A member's status changed: refresh the admin cache and the members table."""
    change = update.chat_member
    if change is None:
        return
    s = svc(context)
    member = change.new_chat_member
    s.permissions.note_status(change.chat.id, member.user.id, member.status)
    s.seen.forget(change.chat.id, member.user.id)
    async with s.db.session() as session:
        await chats.set_member_status(
            session, change.chat.id, user_info(member.user), member.status, s.clock.now()
        )


async def on_migrate(update: Update, context: Context) -> None:
    """A group became a supergroup: every stored row of the chat follows the new id."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    await migrate(context, old, new)


async def migrate(context: Context | FirmBotApp, old: int, new: int) -> None:
    s = svc(context)
    await chats.migrate_chat_retrying(s.db, old, new, s.clock.now())
    s.permissions.forget_chat(old)


async def cmd_start(update: Update, context: Context) -> None:
    """/start: in private, a welcome (deep links handled by features); in a group, register it."""
    s = svc(context)
    chat = update.effective_chat
    if chat is None:
        return
    locale = await locale_of(update, context)
    if chat.type in chats.GROUP_TYPES:
        if not addressed_to_bot(update, context) and context.args is None:
            return
        known = await group_registered(context, chat.id)
        if not known:
            try:
                me = await context.bot.get_chat_member(chat.id, context.bot.id)
                admin = me.status == ChatMember.ADMINISTRATOR
            except TelegramError:
                admin = False
            await register_group(context, update, bot_is_admin=admin)
            await reply(
                update,
                context,
                s.t(
                    "greeting.added_admin" if admin else "greeting.added",
                    locale,
                    title=chat.title or "",
                ),
            )
            return
    await reply(
        update,
        context,
        s.t(
            "start.text",
            locale,
            name=update.effective_user.first_name if update.effective_user else "",
        ),
    )
    await cmd_help(update, context)


async def cmd_help(update: Update, context: Context) -> None:
    from handlers import MENU
    from handlers.common import is_admin

    locale = await locale_of(update, context)
    admin = await is_admin(update, context)
    chat = update.effective_chat
    private = chat is not None and chat.type == "private"
    await reply(update, context, help_text(context, locale, MENU, is_admin=admin, private=private))


async def on_unknown_command(update: Update, context: Context) -> None:
    """A command nobody handles: a hint to /help, but only when it is addressed to us."""
    if not addressed_to_bot(update, context):
        return
    s = svc(context)
    locale = await locale_of(update, context)
    chat = update.effective_chat
    if (
        chat is not None
        and chat.type in chats.GROUP_TYPES
        and not await group_registered(context, chat.id)
    ):
        await hint_unregistered(update, context)
        return
    message = update.effective_message
    command = (message.text or "").split(maxsplit=1)[0].split("@", 1)[0] if message else ""
    await reply(update, context, s.t("errors.unknown_command", locale, command=command), quote=True)


async def track_seen(update: Update, context: Context) -> None:
    """Runs first for every update: remember who spoke where (members, private chats)."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or user.is_bot or update.my_chat_member is not None:
        return
    s = svc(context)
    await s.seen.record(user_info(user), chat_info(chat) if chat else None, s.clock.now())


async def mark_handled(update: Update, context: Context) -> None:
    """Runs last for every update: counts it (metrics) and wakes tests waiting for it."""
    await svc(context).tracker.mark(update.update_id)


async def on_error(update: object, context: Context) -> None:
    """The one error handler: log with the traceback, tell the user briefly, leak nothing."""
    logger.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    try:
        s = svc(context)
        locale = await locale_of(update, context)
        if update.callback_query is not None:
            await s.sender.answer_callback(
                update.callback_query.id, s.texts.plain("errors.internal", locale)
            )
        elif update.effective_chat is not None and update.effective_message is not None:
            text = update.effective_message.text or update.effective_message.caption or ""
            # Commands and private chats get an answer; free text in a group never does.
            if text.startswith("/") or update.effective_chat.type == "private":
                await reply(update, context, s.t("errors.internal", locale))
    except Exception:
        logger.exception("the error handler failed too")
