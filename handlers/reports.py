"""/report, /report xlsx, the weekly report job, and the association's /firms (TG)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.error import TelegramError

from bot import reports
from bot.charts import LABEL_KEYS, ChartData, render_chart
from bot.chats import effective_settings
from bot.db.models import Chat, User
from bot.report_xlsx import MEMBER_COLUMNS, firms_xlsx, study_record_workbook
from bot.reports import FirmReport, Period
from bot.scheduling import SlotRun
from bot.services import Services
from bot.texts import Html
from bot.ui import Button, callback
from handlers.common import Context, FirmBotApp, locale_of, reply, require_admin, svc

logger = logging.getLogger(__name__)

KIND = "weekly_report"
PERIODS = ("week", "last_week", "month")
SORTS = ("participation", "overdue", "name")
FIRMS_PAGE = 30


def _pct(value: float | None, s: Services, locale: str) -> str:
    return s.texts.plain("reports.none", locale) if value is None else f"{value:.0%}"


def _date(s: Services, locale: str, day: date) -> str:
    return s.texts.plain("reports.date", locale, month=day.month, day=day.day, year=day.year)


def requirement_name(s: Services, number: str) -> str:
    if number.isdigit():
        requirement = s.content.requirement(int(number))
        if requirement is not None:
            return requirement.short_name
    return number


def report_text(s: Services, locale: str, report: FirmReport) -> Html:
    quiz_lines = " · ".join(
        f"{requirement_name(s, r)} {_pct(c / a if a else None, s, locale)}"
        for r, a, c in report.quiz_by_requirement
        if r in reports.REQUIREMENT_KEYS
    )
    hardest = report.hardest_requirement
    return s.t(
        "reports.text",
        locale,
        title=report.title,
        period=s.texts.plain(f"reports.period.{report.period.kind}", locale),
        start=_date(s, locale, report.period.start),
        end=_date(s, locale, report.period.end),
        members=report.members,
        prompts=report.prompts,
        checkins=report.checkins,
        rate=_pct(report.checkin_rate, s, locale),
        reflections=report.reflections,
        sessions=report.sessions,
        attendance=report.attendance,
        answered=report.quiz_answered,
        quiz_rate=_pct(report.quiz_rate, s, locale),
        quiz_lines=quiz_lines,
        hardest=requirement_name(s, hardest) if hardest else s.texts.plain("reports.none", locale),
        open=report.ledger_open,
        overdue=report.ledger_overdue,
        closed=report.ledger_closed_in_period,
        closed_total=report.ledger_closed_total,
    )


def chart_png(s: Services, locale: str, report: FirmReport) -> bytes:
    plain = s.texts.plain
    labels = {key: plain(f"reports.chart.{key}", locale) for key in LABEL_KEYS if key != "title"}
    labels["title"] = plain(
        "reports.chart.title",
        locale,
        start=_date(s, locale, report.period.start),
        end=_date(s, locale, report.period.end),
    )
    weekly = len(report.period.days) <= 7
    days = [
        (
            plain(f"settings.weekday.{day.isoweekday()}", locale) if weekly else str(day.day),
            rate,
        )
        for day, rate in report.checkin_rate_by_day
    ]
    data = ChartData(
        days=days,
        reflections=[n for _, n in report.reflections_by_day],
        quiz=[
            (requirement_name(s, r), c / a if a else None)
            for r, a, c in report.quiz_by_requirement
            if r in reports.REQUIREMENT_KEYS
        ],
        ledger=(report.ledger_open, report.ledger_overdue, report.ledger_closed_in_period),
    )
    return render_chart(data, labels, s.content.directory)


def period_buttons(s: Services, locale: str, current: str) -> list[list[Button]]:
    row = [
        Button(
            ("✓ " if kind == current else "") + s.texts.plain(f"reports.button.{kind}", locale),
            data=callback("report", "p", kind),
        )
        for kind in PERIODS
    ]
    return [
        row,
        [Button(s.texts.plain("reports.button.xlsx", locale), data=callback("report", "x"))],
    ]


async def build_report(
    s: Services, chat_id: int, kind: str, now: datetime
) -> tuple[FirmReport, str] | None:
    async with s.db.session() as session:
        chat = await session.get(Chat, chat_id)
        if chat is None:
            return None
        settings = effective_settings(chat, s.config)
        zone = ZoneInfo(str(settings["timezone"]))
        period = reports.period_for(kind, now.astimezone(zone).date())
        return await reports.firm_report(session, chat, period, zone, now), str(settings["locale"])


async def send_report(
    s: Services, chat_id: int, target: int, kind: str, locale: str | None = None
) -> bool:
    built = await build_report(s, chat_id, kind, s.clock.now())
    if built is None:
        return False
    report, chat_locale = built
    locale = locale or chat_locale
    sent = await s.sender.send(
        target, report_text(s, locale, report), buttons=period_buttons(s, locale, kind)
    )
    if sent is None:
        return False
    await s.sender.send_photo(
        target,
        chart_png(s, locale, report),
        caption=s.t("reports.chart_caption", locale, title=report.title),
    )
    return True


async def cmd_report(update: Update, context: Context) -> None:
    """/report: this week's report and chart; /report xlsx: the study record workbook."""
    chat = update.effective_chat
    if chat is None:
        return
    s = svc(context)
    locale = await locale_of(update, context)
    if chat.type not in ("group", "supergroup"):
        await reply(update, context, s.t("reports.group_only", locale))
        return
    if not await require_admin(update, context):
        return
    args = [a.lower() for a in (context.args or [])]
    if args and args[0] in ("xlsx", "excel"):
        await send_workbook(s, chat.id, chat.id, locale)
        return
    if args:
        await reply(update, context, s.t("reports.usage", locale), quote=True)
        return
    if not await send_report(s, chat.id, chat.id, "week", locale):
        await reply(update, context, s.t("reports.unknown_chat", locale))


async def send_workbook(s: Services, chat_id: int, target: int, locale: str) -> None:
    data, filename = await record_workbook(s, chat_id, locale)
    await s.sender.send_document(
        target, data, filename, caption=s.t("reports.xlsx_caption", locale)
    )


async def record_workbook(s: Services, chat_id: int, locale: str) -> tuple[bytes, str]:
    """The per-member study record: the whole record, then one sheet per week, newest first."""
    # 学习记录 in the catalog.
    now = s.clock.now()
    async with s.db.session() as session:
        chat = await session.get(Chat, chat_id)
        assert chat is not None
        zone = ZoneInfo(str(effective_settings(chat, s.config)["timezone"]))
        today = now.astimezone(zone).date()
        first = min(await reports.first_activity(session, chat, zone), today)
        summary = await reports.firm_report(session, chat, Period("all", first, today), zone, now)
        weeks = [
            await reports.firm_report(session, chat, week, zone, now)
            for week in reversed(reports.weeks_between(first, today))
        ]
    plain = s.texts.plain
    labels = {c: plain(f"reports.xlsx.{c}", locale) for c in MEMBER_COLUMNS}
    labels["summary_sheet"] = plain("reports.xlsx.summary_sheet", locale)
    labels["summary_title"] = plain(
        "reports.xlsx.summary_title",
        locale,
        title=summary.title,
        start=_date(s, locale, first),
        end=_date(s, locale, today),
    )
    sheets = [w.period.start.isoformat() for w in weeks]
    titles = [
        plain(
            "reports.xlsx.week_title",
            locale,
            title=w.title,
            start=_date(s, locale, w.period.start),
            end=_date(s, locale, w.period.end),
        )
        for w in weeks
    ]
    data = study_record_workbook(summary, weeks, labels, sheets, titles)
    return data, f"study-record-{today.isoformat()}.xlsx"


async def cb_report(update: Update, context: Context) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or query.message is None:
        return
    s = svc(context)
    if not await require_admin(update, context):
        return
    locale = await locale_of(update, context)
    parts = (query.data or "").split(":")
    if len(parts) == 3 and parts[1] == "p" and parts[2] in PERIODS:
        built = await build_report(s, chat.id, parts[2], s.clock.now())
        if built is None:
            await s.sender.answer_callback(query.id, s.texts.plain("reports.unknown_chat", locale))
            return
        report, _ = built
        await s.sender.answer_callback(query.id)
        await s.sender.edit(
            chat.id,
            query.message.message_id,
            report_text(s, locale, report),
            buttons=period_buttons(s, locale, parts[2]),
        )
        await s.sender.send_photo(
            chat.id,
            chart_png(s, locale, report),
            caption=s.t("reports.chart_caption", locale, title=report.title),
        )
        return
    if len(parts) == 2 and parts[1] == "x":
        await s.sender.answer_callback(query.id, s.texts.plain("reports.xlsx_coming", locale))
        await send_workbook(s, chat.id, chat.id, locale)
        return
    await s.sender.answer_callback(query.id, s.texts.plain("reports.stale", locale))


# --- the weekly report, sent by itself ---


async def sync_schedule(session: AsyncSession, chat: Chat, s: Services) -> None:
    """Derive the chat's weekly-report schedule from its settings (on/off, day, time)."""
    settings = effective_settings(chat, s.config)
    await s.scheduler.upsert(
        session,
        chat_id=chat.id,
        kind=KIND,
        days=f"weekdays:{int(settings['reports.day'])}",
        time_of_day=str(settings["reports.time"]),
        timezone=str(settings["timezone"]),
        enabled=bool(settings["reports.weekly"]) and chat.active,
    )


async def admins_reachable_privately(app: FirmBotApp, chat_id: int) -> list[int]:
    """The chat's human admins who have opened a private chat with the bot."""
    try:
        admins = await app.bot.get_chat_administrators(chat_id)
    except TelegramError as exc:
        logger.info("cannot list the admins of %s: %s", chat_id, exc)
        return []
    ids = [a.user.id for a in admins if not a.user.is_bot]
    s = svc(app)
    async with s.db.session() as session:
        users = [await session.get(User, uid) for uid in ids]
    return [u.id for u in users if u is not None and u.private_chat_open]


def setup(app: FirmBotApp) -> None:
    s = svc(app)

    async def job_weekly_report(run: SlotRun) -> None:
        async with s.db.session() as session:
            chat = await session.get(Chat, run.chat_id)
            if chat is None or not chat.active:
                return
            settings: dict[str, Any] = effective_settings(chat, s.config)
        if settings["reports.to"] == "admins":
            admins = await admins_reachable_privately(app, run.chat_id)
            if admins:
                for admin in admins:
                    await send_report(s, run.chat_id, admin, "week")
                return
            logger.info(
                "no admin of %s opened a private chat; the report goes to the group", run.chat_id
            )
        await send_report(s, run.chat_id, run.chat_id, "week")

    async def hook(session: AsyncSession, chat: Chat) -> None:
        await sync_schedule(session, chat, s)

    s.scheduler.register(KIND, job_weekly_report)
    s.chat_hooks.append(hook)


# --- the association's view ---


def firms_text(s: Services, locale: str, rows: list[reports.FirmRow], sort: str) -> Html:
    lines = [
        s.t(
            "reports.firms.line",
            locale,
            n=index,
            title=row.title,
            rate=_pct(row.participation, s, locale),
            participants=row.participants,
            members=row.members,
            overdue=row.overdue,
        )
        for index, row in enumerate(rows[:FIRMS_PAGE], start=1)
    ]
    more = len(rows) - FIRMS_PAGE
    return s.t(
        "reports.firms.text",
        locale,
        count=len(rows),
        sort=s.texts.plain(f"reports.firms.sort.{sort}", locale),
        lines=Html("\n".join(lines)) if lines else s.t("reports.firms.empty", locale),
        more=s.t("reports.firms.more", locale, n=more) if more > 0 else "",
    )


def firms_buttons(s: Services, locale: str, sort: str) -> list[list[Button]]:
    return [
        [
            Button(
                ("✓ " if key == sort else "") + s.texts.plain(f"reports.firms.sort.{key}", locale),
                data=callback("firms", "s", key),
            )
            for key in SORTS
        ],
        [Button(s.texts.plain("reports.button.xlsx", locale), data=callback("firms", "x"))],
    ]


async def firms_rows(s: Services, sort: str) -> list[reports.FirmRow]:
    async with s.db.session() as session:
        return await reports.firms_overview(session, s.clock.now(), s.config.zone, sort)


def _today(s: Services) -> date:
    return s.clock.now().astimezone(s.config.zone).date()


async def _bot_admin_in_private(update: Update, context: Context) -> bool:
    s = svc(context)
    user = update.effective_user
    chat = update.effective_chat
    if (
        user is not None
        and s.permissions.is_bot_admin(user.id)
        and chat is not None
        and chat.type == "private"
    ):
        return True
    locale = await locale_of(update, context)
    if update.callback_query is not None:
        await s.sender.answer_callback(
            update.callback_query.id, s.texts.plain("reports.firms.denied", locale), alert=True
        )
    else:
        await reply(update, context, s.t("reports.firms.denied", locale))
    return False


async def cmd_firms(update: Update, context: Context) -> None:
    """/firms [participation|overdue|name|xlsx] for bot-wide admins in a private chat."""
    if not await _bot_admin_in_private(update, context):
        return
    s = svc(context)
    locale = await locale_of(update, context)
    args = [a.lower() for a in (context.args or [])]
    sort = args[0] if args and args[0] in SORTS else "participation"
    rows = await firms_rows(s, sort)
    if args and args[0] in ("xlsx", "excel"):
        assert update.effective_chat is not None
        await s.sender.send_document(
            update.effective_chat.id,
            firms_xlsx(s.texts, locale, rows, _today(s)),
            "firms.xlsx",
            caption=s.t("reports.firms.xlsx_caption", locale),
        )
        return
    await reply(
        update, context, firms_text(s, locale, rows, sort), buttons=firms_buttons(s, locale, sort)
    )


async def cb_firms(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.message is None or update.effective_chat is None:
        return
    if not await _bot_admin_in_private(update, context):
        return
    s = svc(context)
    locale = await locale_of(update, context)
    parts = (query.data or "").split(":")
    chat_id = update.effective_chat.id
    if len(parts) == 3 and parts[1] == "s" and parts[2] in SORTS:
        rows = await firms_rows(s, parts[2])
        await s.sender.answer_callback(query.id)
        await s.sender.edit(
            chat_id,
            query.message.message_id,
            firms_text(s, locale, rows, parts[2]),
            buttons=firms_buttons(s, locale, parts[2]),
        )
        return
    if len(parts) == 2 and parts[1] == "x":
        await s.sender.answer_callback(query.id)
        rows = await firms_rows(s, "participation")
        await s.sender.send_document(
            chat_id,
            firms_xlsx(s.texts, locale, rows, _today(s)),
            "firms.xlsx",
            caption=s.t("reports.firms.xlsx_caption", locale),
        )
        return
    await s.sender.answer_callback(query.id, s.texts.plain("reports.stale", locale))
