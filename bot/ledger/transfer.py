"""Export a chat's ledger to .xlsx and import one back (all or nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dates import ParsedDate
from bot.db.models.ledger import CANCELLED, CLOSED, OPEN, STATUSES, SUBMITTED, LedgerItem
from bot.ledger import reminders, service
from bot.ledger.excel import (
    COLUMNS,
    ExportRow,
    ImportRow,
    Labels,
    RowError,
    build_workbook,
    read_workbook,
)
from bot.ledger.service import Actor, Draft, LedgerError, Owner
from bot.scheduling import Scheduler
from bot.texts import LOCALES, Texts


def column_labels(texts: Texts, locale: str) -> dict[str, str]:
    return {
        "number": texts.plain("ledger.xlsx.headers.number", locale),
        "problem": texts.plain("ledger.xlsx.headers.problem", locale),
        "requirement": texts.plain("ledger.xlsx.headers.requirement", locale),
        "goal": texts.plain("ledger.xlsx.headers.goal", locale),
        "measures": texts.plain("ledger.xlsx.headers.measures", locale),
        "owner": texts.plain("ledger.xlsx.headers.owner", locale),
        "deadline": texts.plain("ledger.xlsx.headers.deadline", locale),
        "status": texts.plain("ledger.xlsx.headers.status", locale),
        "closed_at": texts.plain("ledger.xlsx.headers.closed_at", locale),
        "note": texts.plain("ledger.xlsx.headers.note", locale),
    }


def status_labels(texts: Texts, locale: str) -> dict[str, str]:
    return {
        OPEN: texts.plain("ledger.status.open", locale),
        SUBMITTED: texts.plain("ledger.status.submitted", locale),
        CLOSED: texts.plain("ledger.status.closed", locale),
        CANCELLED: texts.plain("ledger.status.cancelled", locale),
    }


def header_aliases(texts: Texts) -> dict[str, list[str]]:
    """Every locale's header for each column, plus the column key itself."""
    aliases: dict[str, list[str]] = {key: [key] for key in COLUMNS}
    for locale in LOCALES:
        for key, label in column_labels(texts, locale).items():
            aliases[key].append(label)
    return aliases


def status_aliases(texts: Texts) -> dict[str, str]:
    aliases = {code: code for code in STATUSES}
    for locale in LOCALES:
        for code, label in status_labels(texts, locale).items():
            aliases[label] = code
    return aliases


def owner_cell(item: LedgerItem) -> str:
    if item.owner_username:
        return f"@{item.owner_username}"
    return item.owner_name


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)


async def export_xlsx(
    session: AsyncSession,
    chat_id: int,
    *,
    title: str,
    texts: Texts,
    locale: str,
    zone: ZoneInfo,
    now: datetime,
    requirement_names: Mapping[int, str],
) -> tuple[bytes, str]:
    """(file bytes, file name) of the chat's whole ledger, in number order."""
    statuses = status_labels(texts, locale)
    rows = []
    for item in await service.all_items(session, chat_id):
        deadline = service.deadline_of(item)
        rows.append(
            ExportRow(
                number=item.number,
                problem=item.problem,
                requirement=texts.plain(
                    "ledger.xlsx.requirement",
                    locale,
                    number=item.requirement,
                    name=requirement_names.get(item.requirement, ""),
                ),
                goal=item.goal,
                measures=item.measures,
                owner=owner_cell(item),
                deadline=datetime.combine(deadline.day, deadline.time_of_day)
                if deadline.time_of_day
                else deadline.day,
                status=statuses[item.status],
                closed_at=_local(item.closed_at, zone) if item.status == CLOSED else None,
                note=item.note,
            )
        )
    local_now = now.astimezone(zone)
    labels = Labels(
        title=texts.plain("ledger.xlsx.title", locale),
        subtitle=texts.plain(
            "ledger.xlsx.subtitle", locale, chat=title, time=f"{local_now:%Y-%m-%d %H:%M}"
        ),
        headers=column_labels(texts, locale),
        footer=texts.plain("ledger.xlsx.footer", locale),
    )
    filename = texts.plain("ledger.xlsx.filename", locale, date=f"{local_now:%Y%m%d}")
    return build_workbook(rows, labels), filename


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0


class ImportFailed(Exception):
    """Some rows are bad; nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s)")
        self.errors = errors


async def _resolve_owner(session: AsyncSession, chat_id: int, row: ImportRow) -> Owner | None:
    if row.owner_username:
        return await service.resolve_username(session, row.owner_username)
    return await service.resolve_member_name(session, chat_id, row.owner)


async def import_xlsx(
    session: AsyncSession,
    chat_id: int,
    data: bytes,
    *,
    texts: Texts,
    actor: Actor,
    now: datetime,
    zone: ZoneInfo,
    scheduler: Scheduler,
    ladder: reminders.LadderSettings,
) -> ImportReport:
    """Check every row, then create or update items in this transaction, or change nothing.

    A row with a number that exists in the chat updates that item; a row with a new
    number creates it with that number; a row without a number gets the next one.
    Raises XlsxError (unreadable file) or ImportFailed (every bad row listed).
    """
    today = now.astimezone(zone).date()
    result = read_workbook(data, header_aliases(texts), status_aliases(texts), today)
    errors = list(result.errors)
    owners: dict[int, Owner] = {}
    for row in result.rows:
        owner = await _resolve_owner(session, chat_id, row)
        if owner is None:
            errors.append(RowError(row.row, "owner", "owner_unknown", row.owner[:60]))
        else:
            owners[row.row] = owner
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: (e.row, COLUMNS.index(e.column))))
    existing = {(i.year, i.seq): i for i in await service.all_items(session, chat_id)}
    report = ImportReport()
    touched: list[LedgerItem] = []
    for row in result.rows:
        owner = owners[row.row]
        item = existing.get(row.number) if row.number else None
        if item is None:
            draft = Draft(
                problem=row.problem,
                requirement=row.requirement,
                measures=row.measures,
                owner=owner,
                deadline=row.deadline,
                goal=row.goal,
                note=row.note,
            )
            try:
                item = await service.create_item(
                    session, chat_id, draft, actor, now, zone, number=row.number, action="imported"
                )
            except LedgerError as exc:
                raise ImportFailed([RowError(row.row, "", exc.code)]) from None
            if row.status != OPEN:
                _set_status(session, item, row, actor, now, zone)
            report.created.append(item.number)
        else:
            changed = False
            if item.status == CANCELLED and row.status != CANCELLED:
                _set_status(session, item, row, actor, now, zone)
                changed = True
            values: list[tuple[service.Field, str | int | Owner | ParsedDate]] = [
                ("problem", row.problem),
                ("requirement", row.requirement),
                ("goal", row.goal),
                ("measures", row.measures),
                ("owner", owner),
                ("deadline", row.deadline),
                ("note", row.note),
            ]
            for name, value in values if item.status != CANCELLED else []:
                if name == "owner" and _same_owner(item, owner):
                    continue
                try:
                    if await service.edit_item(session, item, name, value, actor, now):
                        changed = True
                except LedgerError as exc:
                    raise ImportFailed([RowError(row.row, name, exc.code)]) from None
            if row.status != item.status:
                _set_status(session, item, row, actor, now, zone)
                changed = True
            if changed:
                report.updated.append(item.number)
            else:
                report.unchanged += 1
        touched.append(item)
    await session.flush()
    for item in touched:
        await reminders.sync_item(session, scheduler, item, ladder, now)
    if touched:
        await reminders.ensure_digest(session, scheduler, chat_id, ladder)
    return report


def _same_owner(item: LedgerItem, owner: Owner) -> bool:
    if owner.user_id is not None and item.owner_user_id == owner.user_id:
        return True
    return bool(owner.user_id is None and owner.username and item.owner_username == owner.username)


def _set_status(
    session: AsyncSession,
    item: LedgerItem,
    row: ImportRow,
    actor: Actor,
    now: datetime,
    zone: ZoneInfo,
) -> None:
    old = item.status
    item.status = row.status
    if row.status == CLOSED:
        item.closed_at = row.closed_at.replace(tzinfo=zone) if row.closed_at else now
        item.closed_by_name = item.closed_by_name or actor.name
    else:
        item.closed_at = None
        item.closed_by = None
        item.closed_by_name = None
    item.updated_at = now
    service.record(session, item, actor, now, "edited", "status", old, row.status)
