"""The per-chat daily study schedule, derived from the chat's effective settings."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chats import GROUP_TYPES, active_groups, effective_settings
from bot.config import Config, check_days, check_timezone, parse_hhmm
from bot.db.models import Chat, Schedule
from bot.scheduling import Scheduler

logger = logging.getLogger(__name__)

KIND = "study"


def study_rule(chat: Chat, config: Config) -> tuple[bool, str, str, str]:
    """(enabled, days, HH:MM, time zone) for a chat; a bad stored value falls back to config."""
    settings = effective_settings(chat, config)
    enabled = bool(settings.get("study.enabled")) and chat.active and chat.type in GROUP_TYPES
    try:
        days = check_days(str(settings["study.days"]))
        parsed = parse_hhmm(str(settings["study.time"]))
        zone = check_timezone(str(settings["timezone"]))
    except ValueError as exc:
        logger.warning("chat %s: unusable study settings (%s); using the defaults", chat.id, exc)
        days, zone = config.study.days, config.timezone
        parsed = parse_hhmm(config.study.time)
    return enabled, days, f"{parsed.hour:02d}:{parsed.minute:02d}", zone


async def sync_schedule(
    session: AsyncSession, scheduler: Scheduler, chat: Chat, config: Config
) -> Schedule | None:
    """Make the chat's "study" schedule match its settings (call after a settings change).

    An unchanged schedule is left alone, so a slot that is pending (e.g. missed while the
    bot was down) is still caught up; a changed one starts from its next slot after now.
    Private chats have none. Does not commit.
    """
    if chat.type not in GROUP_TYPES:
        await scheduler.cancel(session, chat.id, KIND)
        return None
    enabled, days, at, zone = study_rule(chat, config)
    existing = await scheduler.get(session, chat.id, KIND)
    if (
        existing is not None
        and existing.days == days
        and existing.time_of_day == at
        and existing.timezone == zone
        and existing.enabled == enabled
    ):
        return existing
    return await scheduler.upsert(
        session,
        chat_id=chat.id,
        kind=KIND,
        days=days,
        time_of_day=at,
        timezone=zone,
        enabled=enabled,
    )


async def sync_all(session: AsyncSession, scheduler: Scheduler, config: Config) -> int:
    """``sync_schedule`` for every active group (e.g. at start-up after an upgrade)."""
    groups = await active_groups(session)
    for chat in groups:
        await sync_schedule(session, scheduler, chat, config)
    return len(groups)
