"""Daily study: prompts on a schedule, check-ins, reflections, sessions, records (domain).

The settings feature calls ``sync_schedule(session, scheduler, chat, config)`` after a
chat's study settings change; the chat hook calls it when a group is registered.
"""

from __future__ import annotations

from bot.study.schedule import KIND, study_rule, sync_all, sync_schedule

__all__ = ["KIND", "study_rule", "sync_all", "sync_schedule"]
