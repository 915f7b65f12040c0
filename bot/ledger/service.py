"""Ledger items: numbering, changes with history, listing, owners (session in, plain values out).

Nothing here commits: the caller's ``async with db.session()`` is the transaction, so an
update either changes an item and writes its history, or does neither.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content.grammar import alternation, grammar
from bot.dates import END_OF_DAY, ParsedDate
from bot.db.models import Member, User
from bot.db.models.ledger import (
    ACTIVE_STATUSES,
    CANCELLED,
    CLOSED,
    OPEN,
    SUBMITTED,
    LedgerCounter,
    LedgerEvent,
    LedgerItem,
    format_number,
)

MAX_PROBLEM = 500
MAX_TEXT = 1000
PAGE_SIZE = 8

Field = Literal["problem", "requirement", "goal", "measures", "owner", "deadline", "note"]
FIELDS: tuple[Field, ...] = (
    "problem",
    "requirement",
    "goal",
    "measures",
    "owner",
    "deadline",
    "note",
)
# What people type after /ledger_edit N: the English field names, and the Chinese column
# headers and short forms of content/grammar/zh.yaml (责任人, 时限 ...).
FIELD_ALIASES: dict[str, Field] = {
    **{field: field for field in FIELDS},
    **{
        alias: field
        for field, aliases in grammar().ledger.field_aliases.items()
        for alias in aliases
    },
}
TEXT_LIMITS: dict[str, int] = {
    "problem": MAX_PROBLEM,
    "goal": MAX_TEXT,
    "measures": MAX_TEXT,
    "note": MAX_TEXT,
}
ListFilter = str  # all | mine | overdue | closed | r1..r5
FILTERS = ("all", "mine", "overdue", "closed", "r1", "r2", "r3", "r4", "r5")

_NUMBER = re.compile(r"^#?(?:(\d{4})\s*[-/.]\s*)?0*(\d{1,5})$")
_USERNAME = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{3,31})$")


class LedgerError(Exception):
    """An expected refusal; ``code`` is a text key suffix the handler turns into a message."""

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(code)
        self.code = code
        self.values = values


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something (for the history)."""

    id: int | None
    name: str


@dataclass(frozen=True, slots=True)
class Owner:
    """A resolved owner: a known user (id), or a username the bot has not seen yet."""

    user_id: int | None
    username: str | None
    name: str

    def label(self) -> str:
        if self.user_id is None and self.username:
            return f"@{self.username}"
        return self.name or (f"@{self.username}" if self.username else "")


@dataclass(frozen=True, slots=True)
class Draft:
    """The fields of a new item, validated."""

    problem: str
    requirement: int
    measures: str
    owner: Owner
    deadline: ParsedDate
    goal: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: str  # text | photo | document
    text: str | None = None
    file_id: str | None = None
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[LedgerItem]
    total: int
    page: int
    pages: int


# --- plain helpers ---


def parse_number(text: str) -> tuple[int | None, int] | None:
    """ "2023-007", "2023-7", "7", "#7", "007" -> (year or None, seq)."""
    match = _NUMBER.match(text.strip())
    if match is None:
        return None
    seq = int(match.group(2))
    if seq <= 0:
        return None
    return (int(match.group(1)) if match.group(1) else None), seq


def parse_username(text: str) -> str | None:
    """ "@Zhang_San" -> "zhang_san" (Telegram usernames are case-insensitive)."""
    match = _USERNAME.match(text.strip())
    return match.group(1).lower() if match else None


_REQUIREMENT_PREFIX = re.compile(f"^(?:{alternation(grammar().ledger.requirement_prefixes)})")
_REQUIREMENT_SUFFIX = re.compile(f"(?:{alternation(grammar().ledger.requirement_suffixes)})$")
# 一 .. 五
REQUIREMENT_NUMERALS: dict[str, int] = {
    ch: value for value, ch in enumerate(grammar().numerals.digits) if 1 <= value <= 5
}


def parse_requirement(text: str) -> int | None:
    """A requirement number 1-5, also in Chinese numerals or with a prefix; None otherwise."""
    # 3, #3, 三, 要求3, 第三条, 第3项, 三是 -> 3
    value = text.strip().lstrip("#").strip()
    value = _REQUIREMENT_PREFIX.sub("", value)
    value = _REQUIREMENT_SUFFIX.sub("", value)
    if value in REQUIREMENT_NUMERALS:
        return REQUIREMENT_NUMERALS[value]
    if value.isdecimal() and 1 <= int(value) <= 5:  # not isdigit(): int('²') fails
        return int(value)
    return None


def check_text(field: str, value: str, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise LedgerError("empty_field", field=field)
    limit = TEXT_LIMITS.get(field, MAX_TEXT)
    if len(value) > limit:
        raise LedgerError("too_long", field=field, limit=limit)
    return value


def deadline_of(item: LedgerItem) -> ParsedDate:
    at = time.fromisoformat(item.deadline_time) if item.deadline_time else None
    return ParsedDate(item.deadline_date, at)


def deadline_moment(item: LedgerItem, tz: tzinfo) -> datetime:
    """When the item falls overdue: its time, or the end of its day, in the chat's zone."""
    return deadline_of(item).at(tz, END_OF_DAY)


def is_overdue(item: LedgerItem, now: datetime, tz: tzinfo) -> bool:
    return item.status in ACTIVE_STATUSES and now > deadline_moment(item, tz)


def days_overdue(item: LedgerItem, today: date) -> int:
    return (today - item.deadline_date).days


def owner_of(item: LedgerItem) -> Owner:
    return Owner(item.owner_user_id, item.owner_username, item.owner_name)


def is_owner(item: LedgerItem, user_id: int | None, username: str | None = None) -> bool:
    if user_id is not None and item.owner_user_id == user_id:
        return True
    return bool(
        item.owner_user_id is None
        and username
        and item.owner_username
        and item.owner_username == username.lower()
    )


def _deadline_str(value: ParsedDate) -> str:
    return value.iso()


def _field_value(item: LedgerItem, field: Field) -> str:
    if field == "owner":
        return owner_of(item).label()
    if field == "deadline":
        return _deadline_str(deadline_of(item))
    if field == "requirement":
        return str(item.requirement)
    value = getattr(item, field)
    return str(value or "")


# --- owners ---


async def resolve_username(session: AsyncSession, username: str) -> Owner:
    """A known user by username, or a pending owner kept by username."""
    name = username.lstrip("@").lower()
    user = await session.scalar(
        select(User).where(func.lower(User.username) == name).order_by(User.id).limit(1)
    )
    if user is not None:
        return Owner(user.id, name, user.display_name)
    return Owner(None, name, "")


async def resolve_user(
    session: AsyncSession, user_id: int, username: str | None, name: str
) -> Owner:
    return Owner(user_id, username.lower() if username else None, name)


async def resolve_member_name(session: AsyncSession, chat_id: int, name: str) -> Owner | None:
    """A member of the chat whose displayed name is exactly ``name`` (only if unique)."""
    wanted = name.strip()
    if not wanted:
        return None
    rows = (
        await session.scalars(
            select(User).join(Member, Member.user_id == User.id).where(Member.chat_id == chat_id)
        )
    ).all()
    found = [u for u in rows if u.display_name == wanted]
    if len(found) != 1:
        return None
    user = found[0]
    return Owner(user.id, user.username.lower() if user.username else None, user.display_name)


async def link_pending_owner(
    session: AsyncSession, user_id: int, username: str | None, name: str, now: datetime
) -> list[LedgerItem]:
    """The user spoke: items that named them by @username now point at them."""
    if not username:
        return []
    items = (
        await session.scalars(
            select(LedgerItem).where(
                LedgerItem.owner_user_id.is_(None),
                LedgerItem.owner_username == username.lower(),
            )
        )
    ).all()
    for item in items:
        item.owner_user_id = user_id
        item.owner_name = name
        item.updated_at = now
        record(session, item, Actor(user_id, name), now, "linked")
    if items:
        await session.flush()
    return list(items)


# --- numbering ---


async def _next_seq(session: AsyncSession, chat_id: int, year: int, at_least: int = 0) -> int:
    """Take the next number of a chat's year, atomically.

    ``UPDATE ... SET last_seq = last_seq + 1 RETURNING`` holds the counter row's lock until
    the transaction ends (PostgreSQL) or runs under the database's write lock (SQLite), so
    two processes never get the same number, and a rolled-back item gives its number back:
    numbers are gap-free. The unique (chat_id, year, seq) constraint is the backstop.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(LedgerCounter)
        .values(chat_id=chat_id, year=year, last_seq=0)
        .on_conflict_do_nothing(index_elements=["chat_id", "year"])
    )
    if at_least:
        seq = await session.scalar(
            update(LedgerCounter)
            .where(LedgerCounter.chat_id == chat_id, LedgerCounter.year == year)
            .values(
                last_seq=func.max(LedgerCounter.last_seq, at_least)
                if dialect == "sqlite"
                else func.greatest(LedgerCounter.last_seq, at_least)
            )
            .returning(LedgerCounter.last_seq)
        )
        return int(seq or 0)
    seq = await session.scalar(
        update(LedgerCounter)
        .where(LedgerCounter.chat_id == chat_id, LedgerCounter.year == year)
        .values(last_seq=LedgerCounter.last_seq + 1)
        .returning(LedgerCounter.last_seq)
    )
    assert seq is not None
    return int(seq)


# --- history ---


def record(
    session: AsyncSession,
    item: LedgerItem,
    actor: Actor,
    now: datetime,
    action: str,
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
) -> None:
    session.add(
        LedgerEvent(
            item_id=item.id,
            at=now,
            actor_id=actor.id,
            actor_name=actor.name[:255],
            action=action,
            field=field,
            old_value=old,
            new_value=new,
        )
    )


async def history(session: AsyncSession, item: LedgerItem) -> list[LedgerEvent]:
    rows = await session.scalars(
        select(LedgerEvent)
        .where(LedgerEvent.item_id == item.id)
        .order_by(LedgerEvent.at, LedgerEvent.id)
    )
    return list(rows.all())


# --- creating and finding ---


def _apply_owner(item: LedgerItem, owner: Owner) -> None:
    item.owner_user_id = owner.user_id
    item.owner_username = owner.username
    item.owner_name = owner.name[:255]


def _apply_deadline(item: LedgerItem, value: ParsedDate) -> None:
    item.deadline_date = value.day
    item.deadline_time = f"{value.time_of_day:%H:%M}" if value.time_of_day else None


async def create_item(
    session: AsyncSession,
    chat_id: int,
    draft: Draft,
    actor: Actor,
    now: datetime,
    tz: tzinfo,
    *,
    number: tuple[int, int] | None = None,
    action: str = "created",
) -> LedgerItem:
    """A new item with the chat's next number for this year (or a given, free number)."""
    if number is None:
        year = now.astimezone(tz).year
        seq = await _next_seq(session, chat_id, year)
    else:
        year, seq = number
        await _next_seq(session, chat_id, year, at_least=seq)
    item = LedgerItem(
        chat_id=chat_id,
        year=year,
        seq=seq,
        problem=check_text("problem", draft.problem),
        requirement=draft.requirement,
        goal=check_text("goal", draft.goal, required=False),
        measures=check_text("measures", draft.measures),
        note=check_text("note", draft.note, required=False),
        status=OPEN,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    _apply_owner(item, draft.owner)
    _apply_deadline(item, draft.deadline)
    session.add(item)
    await session.flush()
    record(session, item, actor, now, action)
    await session.flush()
    return item


async def find_item(
    session: AsyncSession, chat_id: int, text: str, current_year: int
) -> LedgerItem | None:
    """By its number as people type it; a bare number means this year's, else the latest."""
    parsed = parse_number(text)
    if parsed is None:
        return None
    year, seq = parsed
    query = select(LedgerItem).where(LedgerItem.chat_id == chat_id, LedgerItem.seq == seq)
    if year is not None:
        return await session.scalar(query.where(LedgerItem.year == year))
    rows = (await session.scalars(query.order_by(LedgerItem.year.desc()))).all()
    for row in rows:
        if row.year == current_year:
            return row
    return rows[0] if rows else None


async def get_item(session: AsyncSession, item_id: int) -> LedgerItem | None:
    return await session.get(LedgerItem, item_id)


# --- changes ---


async def edit_item(
    session: AsyncSession,
    item: LedgerItem,
    field: Field,
    value: str | int | Owner | ParsedDate,
    actor: Actor,
    now: datetime,
) -> tuple[str, str] | None:
    """Change one field; returns (old, new) as shown in the history, None if unchanged."""
    if item.status == CANCELLED:
        raise LedgerError("is_cancelled", number=item.number)
    old = _field_value(item, field)
    if field == "owner":
        assert isinstance(value, Owner)
        _apply_owner(item, value)
    elif field == "deadline":
        assert isinstance(value, ParsedDate)
        _apply_deadline(item, value)
        # A new deadline starts a new ladder: new escalation, new snooze allowance.
        item.escalated_at = None
        item.snoozed_until = None
        item.reminded_on = None
    elif field == "requirement":
        assert isinstance(value, int) and 1 <= value <= 5
        item.requirement = value
    else:
        assert isinstance(value, str)
        setattr(item, field, check_text(field, value, required=field in ("problem", "measures")))
    new = _field_value(item, field)
    if new == old:
        return None
    item.updated_at = now
    record(session, item, actor, now, "edited", field, old, new)
    await session.flush()
    return old, new


async def submit(
    session: AsyncSession, item: LedgerItem, actor: Actor, evidence: Evidence, now: datetime
) -> None:
    """The owner reports the item done, with evidence; an admin then closes it."""
    if item.status != OPEN:
        raise LedgerError(f"not_open_{item.status}", number=item.number)
    item.status = SUBMITTED
    item.evidence_kind = evidence.kind
    item.evidence_text = (evidence.text or "")[:MAX_TEXT] or None
    item.evidence_file_id = evidence.file_id
    item.evidence_file_name = (evidence.file_name or "")[:255] or None
    item.submitted_at = now
    item.submitted_by = actor.id
    item.updated_at = now
    record(session, item, actor, now, "submitted", "evidence", None, _evidence_label(evidence))
    await session.flush()


def _evidence_label(evidence: Evidence) -> str:
    if evidence.kind == "text":
        return evidence.text or ""
    if evidence.kind == "document":
        return f"[document] {evidence.file_name or ''}".strip()
    return f"[{evidence.kind}] {evidence.text or ''}".strip()


async def close(
    session: AsyncSession, item: LedgerItem, actor: Actor, now: datetime, note: str = ""
) -> None:
    """An admin strikes the item off (from open or submitted)."""
    # 销号 in the notice's words.
    if item.status not in ACTIVE_STATUSES:
        raise LedgerError(f"cannot_close_{item.status}", number=item.number)
    note = check_text("note", note, required=False)
    old = item.status
    item.status = CLOSED
    item.closed_at = now
    item.closed_by = actor.id
    item.closed_by_name = actor.name[:255]
    if note:
        item.note = f"{item.note}\n{note}".strip() if item.note else note
    item.updated_at = now
    record(session, item, actor, now, "closed", "status", old, CLOSED)
    if note:
        record(session, item, actor, now, "edited", "note", None, note)
    await session.flush()


async def reopen(session: AsyncSession, item: LedgerItem, actor: Actor, now: datetime) -> None:
    """A closed item (or a submission sent back) is open again; its ladder restarts."""
    if item.status not in (CLOSED, SUBMITTED):
        raise LedgerError(f"cannot_reopen_{item.status}", number=item.number)
    old = item.status
    item.status = OPEN
    item.closed_at = None
    item.closed_by = None
    item.closed_by_name = None
    item.escalated_at = None
    item.snoozed_until = None
    item.reminded_on = None
    item.updated_at = now
    record(session, item, actor, now, "reopened", "status", old, OPEN)
    await session.flush()


async def cancel(session: AsyncSession, item: LedgerItem, actor: Actor, now: datetime) -> None:
    if item.status == CANCELLED:
        raise LedgerError("is_cancelled", number=item.number)
    old = item.status
    item.status = CANCELLED
    item.updated_at = now
    record(session, item, actor, now, "cancelled", "status", old, CANCELLED)
    await session.flush()


async def snooze(
    session: AsyncSession, item: LedgerItem, actor: Actor, now: datetime, tz: tzinfo
) -> datetime:
    """Hold reminders back for a day; at most once per item per chat-local day."""
    if item.status != OPEN:
        raise LedgerError(f"not_open_{item.status}", number=item.number)
    today = now.astimezone(tz).date()
    if item.snoozed_on == today:
        raise LedgerError("snoozed_today", number=item.number)
    until = now + timedelta(days=1)
    item.snoozed_on = today
    item.snoozed_until = until
    item.updated_at = now
    record(session, item, actor, now, "snoozed", None, None, until.isoformat())
    await session.flush()
    return until


# --- listing ---


def _order_active(query: Select[Any]) -> Select[Any]:
    return query.order_by(
        LedgerItem.deadline_date,
        LedgerItem.deadline_time.is_(None),
        LedgerItem.deadline_time,
        LedgerItem.year,
        LedgerItem.seq,
    )


@functools.cache
def _list_query(shape: str) -> Select[Any]:
    """The list's statement for one kind of filter, built once; values are parameters
    (``/ledger`` and its page buttons run it for every press)."""
    query = select(LedgerItem).where(LedgerItem.chat_id == bindparam("chat_id"))
    if shape == "closed":
        return query.where(LedgerItem.status == CLOSED).order_by(
            LedgerItem.closed_at.desc(), LedgerItem.id.desc()
        )
    query = _order_active(query.where(LedgerItem.status.in_(ACTIVE_STATUSES)))
    if shape.startswith("mine"):
        conditions = [LedgerItem.owner_user_id == bindparam("owner")]
        if shape == "mine+username":
            conditions.append(
                (LedgerItem.owner_user_id.is_(None))
                & (LedgerItem.owner_username == bindparam("username"))
            )
        query = query.where(or_(*conditions))
    elif shape == "overdue":
        query = query.where(LedgerItem.deadline_date <= bindparam("today"))
    elif shape == "requirement":
        query = query.where(LedgerItem.requirement == bindparam("requirement"))
    return query


@functools.cache
def _page_query(shape: str) -> Select[Any]:
    """One page of ``_list_query(shape)`` and the number of rows it has in all."""
    return (
        _list_query(shape)
        .add_columns(func.count().over())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


async def list_items(
    session: AsyncSession,
    chat_id: int,
    flt: ListFilter,
    *,
    user_id: int | None,
    username: str | None,
    page: int,
    now: datetime,
    tz: tzinfo,
    page_size: int = PAGE_SIZE,
) -> Page:
    """One page of a filtered list: active items by deadline (overdue first), or closed ones."""
    params: dict[str, Any] = {"chat_id": chat_id}
    if flt == "mine":
        params["owner"] = user_id or 0
        if username:
            params["username"] = username.lower()
        shape = "mine+username" if username else "mine"
    elif flt == "overdue":
        params["today"] = now.astimezone(tz).date()
        shape = flt
    elif flt.startswith("r") and flt[1:].isdigit():
        params["requirement"] = int(flt[1:])
        shape = "requirement"
    else:
        shape = "closed" if flt == "closed" else "all"
    page = max(page, 0)
    if flt != "overdue":
        # The page alone, with the filter's total alongside (a long ledger is not loaded
        # whole for eight lines). A page past the end (items closed since the list was
        # shown) falls through to the whole list, which shows the last page instead.
        window = {**params, "limit": page_size, "offset": page * page_size}
        found = (await session.execute(_page_query(shape), window)).all()
        if found or page == 0:
            total = int(found[0][1]) if found else 0
            return Page([row[0] for row in found], total, page, _page_count(total, page_size))
    rows = list((await session.scalars(_list_query(shape), params)).all())
    if flt == "overdue":
        # The query keeps items due today or earlier; whether one due today has passed
        # its time is decided here, in the chat's zone.
        rows = [r for r in rows if is_overdue(r, now, tz)]
    total = len(rows)
    pages = _page_count(total, page_size)
    page = min(page, pages - 1)
    return Page(rows[page * page_size : (page + 1) * page_size], total, page, pages)


def _page_count(total: int, page_size: int) -> int:
    """Pages a list of ``total`` items takes (an empty list still shows one)."""
    return max(1, -(-total // page_size))


async def active_items(session: AsyncSession, chat_id: int | None = None) -> list[LedgerItem]:
    query = select(LedgerItem).where(LedgerItem.status == OPEN)
    if chat_id is not None:
        query = query.where(LedgerItem.chat_id == chat_id)
    return list((await session.scalars(query)).all())


async def all_items(session: AsyncSession, chat_id: int) -> list[LedgerItem]:
    rows = await session.scalars(
        select(LedgerItem)
        .where(LedgerItem.chat_id == chat_id)
        .order_by(LedgerItem.year, LedgerItem.seq)
    )
    return list(rows.all())


@dataclass(frozen=True, slots=True)
class Digest:
    overdue: list[LedgerItem]
    open: list[LedgerItem]
    submitted: list[LedgerItem]
    closed: list[LedgerItem]

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.open or self.submitted or self.closed)


async def digest(
    session: AsyncSession, chat_id: int, now: datetime, tz: tzinfo, days: int = 7
) -> Digest:
    """The week in one view: overdue, open and awaiting items, and what was closed lately."""
    active = _order_active(
        select(LedgerItem).where(
            LedgerItem.chat_id == chat_id, LedgerItem.status.in_(ACTIVE_STATUSES)
        )
    )
    rows = list((await session.scalars(active)).all())
    closed = (
        await session.scalars(
            select(LedgerItem)
            .where(
                LedgerItem.chat_id == chat_id,
                LedgerItem.status == CLOSED,
                LedgerItem.closed_at >= now - timedelta(days=days),
            )
            .order_by(LedgerItem.closed_at)
        )
    ).all()
    overdue = [r for r in rows if r.status == OPEN and is_overdue(r, now, tz)]
    return Digest(
        overdue=overdue,
        open=[r for r in rows if r.status == OPEN and r not in overdue],
        submitted=[r for r in rows if r.status == SUBMITTED],
        closed=list(closed),
    )


def numbers(items: Sequence[LedgerItem]) -> list[str]:
    return [format_number(i.year, i.seq) for i in items]
