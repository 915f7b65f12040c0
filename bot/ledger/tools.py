"""``firmbot ledger export|import``: the same Excel files as the chat commands, from a shell."""

from __future__ import annotations

import asyncio
import html
import re
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import chats
from bot.calendar import WorkCalendar
from bot.clock import Clock
from bot.config import Config
from bot.content.loader import load_content
from bot.db import Database
from bot.db.models import Chat
from bot.ledger import render, transfer
from bot.ledger.excel import XlsxError
from bot.ledger.reminders import LadderSettings
from bot.ledger.service import Actor
from bot.scheduling import Scheduler

EXIT_OK = 0
EXIT_FAILURE = 1


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


async def _export(config: Config, chat_id: int) -> bytes | None:
    content = load_content(config.content_path, config.extra_content)
    db = Database(config.database)
    try:
        async with db.session() as session:
            chat = await session.get(Chat, chat_id)
            if chat is None:
                return None
            settings = chats.effective_settings(chat, config)
            data, _ = await transfer.export_xlsx(
                session,
                chat_id,
                title=chat.title or str(chat_id),
                texts=content.texts,
                locale=str(settings["locale"]),
                zone=ZoneInfo(str(settings["timezone"])),
                now=Clock().now(),
                requirement_names={r.number: r.short_name for r in content.requirements},
            )
    finally:
        await db.dispose()
    return data


def export_command(config: Config, chat_id: int, output: Path) -> int:
    """firmbot ledger export --chat ID -o FILE"""
    data = asyncio.run(_export(config, chat_id))
    if data is None:
        print(f"firmbot: no chat {chat_id} in the database", file=sys.stderr)
        return EXIT_FAILURE
    output.write_bytes(data)
    print(f"wrote {output} ({len(data)} bytes)")
    return EXIT_OK


def import_command(config: Config, chat_id: int, path: Path) -> int:
    """firmbot ledger import --chat ID FILE (all rows or none)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"firmbot: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    return asyncio.run(_import(config, chat_id, data))


async def _import(config: Config, chat_id: int, data: bytes) -> int:
    content = load_content(config.content_path, config.extra_content)
    texts = content.texts
    db = Database(config.database)
    clock = Clock()
    calendar = WorkCalendar(config.scheduling.extra_holidays, config.scheduling.extra_workdays)
    scheduler = Scheduler(db, clock, config.scheduling, calendar)
    locale: str = config.locale
    try:
        async with db.session() as session:
            chat = await session.get(Chat, chat_id)
            if chat is None:
                print(f"firmbot: no chat {chat_id} in the database", file=sys.stderr)
                return EXIT_FAILURE
            settings = chats.effective_settings(chat, config)
            locale = str(settings["locale"])
            report = await transfer.import_xlsx(
                session,
                chat_id,
                data,
                texts=texts,
                actor=Actor(None, texts.plain("ledger.history.cli_actor", locale)),
                now=clock.now(),
                zone=ZoneInfo(str(settings["timezone"])),
                scheduler=scheduler,
                ladder=LadderSettings.from_settings(settings),
            )
    except XlsxError as exc:
        print(_plain(render.xlsx_error(texts, exc, locale)), file=sys.stderr)
        return EXIT_FAILURE
    except transfer.ImportFailed as exc:
        print(_plain(render.import_errors(texts, exc.errors, locale)), file=sys.stderr)
        return EXIT_FAILURE
    finally:
        await db.dispose()
    print(
        _plain(
            texts.t(
                "ledger.import.done",
                locale,
                created=len(report.created),
                updated=len(report.updated),
                unchanged=report.unchanged,
            )
        )
    )
    return EXIT_OK
