"""The outbox: messages delivered in the background, once per (kind, ref, chat).

A broadcast writes one row per chat; drainers claim rows (``FOR UPDATE SKIP LOCKED``
on PostgreSQL), send them and mark them. A row claimed by a process that died is
claimed again once its lease expires, so a crash mid-broadcast resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Chat, OutboxMessage

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"
INACTIVE = "chat inactive"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    kind: str
    ref: str
    chat_id: int
    payload: dict[str, Any]
    attempts: int


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    ref: str,
    chat_ids: Iterable[int],
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """Queue one row per chat; rows that exist already are left alone. Returns rows added."""
    rows = [
        {
            "kind": kind,
            "ref": ref,
            "chat_id": chat_id,
            "payload": payload,
            "status": PENDING,
            "attempts": 0,
            "created_at": now,
        }
        for chat_id in dict.fromkeys(chat_ids)
    ]
    if not rows:
        return 0
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    added = 0
    # Chunks keep each statement under the drivers' bound-parameter limits.
    for start in range(0, len(rows), 500):
        stmt = insert(OutboxMessage).values(rows[start : start + 500])
        stmt = stmt.on_conflict_do_nothing(index_elements=["kind", "ref", "chat_id"])
        result = await session.execute(stmt)
        added += int(getattr(result, "rowcount", 0) or 0)
    return added


_ANY_READY = (
    select(OutboxMessage.id)
    .where(
        or_(
            OutboxMessage.status == PENDING,
            (OutboxMessage.status == SENDING) & (OutboxMessage.lease_until < bindparam("now")),
        ),
        or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= bindparam("now")),
    )
    .limit(1)
)


async def any_ready(session: AsyncSession, now: datetime) -> bool:
    """Whether a row could be claimed now: the idle worker's cheap look (one indexed read,
    no transaction on PostgreSQL) before a claim's locking statements."""
    return (await session.execute(_ANY_READY, {"now": now})).first() is not None


async def claim_batch(
    session: AsyncSession,
    owner: str,
    now: datetime,
    *,
    limit: int,
    lease: timedelta,
    exclude: Collection[int] = (),
) -> list[OutboxItem]:
    """Take up to ``limit`` deliverable rows for this process (commit right after).

    ``exclude``: rows this process holds already (queued or in flight); a row whose lease
    ran out while its send still waits (a long RetryAfter) must not be taken twice.
    """
    ready = or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now)
    claimable = or_(
        OutboxMessage.status == PENDING,
        (OutboxMessage.status == SENDING) & (OutboxMessage.lease_until < now),
    )
    # Rows of chats the bot was removed from are skipped, not sent (and not failed).
    inactive = select(Chat.id).where(Chat.active.is_(False))
    await session.execute(
        update(OutboxMessage)
        .where(claimable, OutboxMessage.chat_id.in_(inactive))
        .values(status=SKIPPED, error=INACTIVE, lease_until=None)
    )
    query = select(OutboxMessage).where(claimable, ready).order_by(OutboxMessage.id).limit(limit)
    if exclude:
        query = query.where(OutboxMessage.id.not_in(list(exclude)))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = (await session.scalars(query)).all()
    items = []
    for row in rows:
        row.status = SENDING
        row.claimed_by = owner
        row.lease_until = now + lease
        row.attempts += 1
        items.append(
            OutboxItem(row.id, row.kind, row.ref, row.chat_id, dict(row.payload), row.attempts)
        )
    await session.flush()
    return items


async def release(session: AsyncSession, item_ids: Sequence[int]) -> None:
    """Claimed rows never tried (a stopping worker's) go back to pending."""
    for start in range(0, len(item_ids), 500):
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(item_ids[start : start + 500]))
            .where(OutboxMessage.status == SENDING)
            .values(status=PENDING, lease_until=None)
        )


async def release_dead(session: AsyncSession, is_dead: Callable[[str], bool]) -> int:
    """Rows claimed by a process known to be dead go back to pending at once.

    Without this they would wait for their lease to expire: after a crash and restart
    that is minutes of a broadcast standing still.
    """
    rows = (
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.claimed_by).where(
                OutboxMessage.status == SENDING
            )
        )
    ).all()
    dead = [row_id for row_id, owner in rows if owner and is_dead(owner)]
    for start in range(0, len(dead), 500):
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(dead[start : start + 500]))
            .where(OutboxMessage.status == SENDING)
            .values(status=PENDING, lease_until=None)
        )
    return len(dead)


async def mark(
    session: AsyncSession,
    item_id: int,
    status: str,
    now: datetime,
    *,
    message_id: int | None = None,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "error": error, "lease_until": None}
    if status == SENT:
        values.update(sent_at=now, message_id=message_id)
    if status == PENDING:
        values["not_before"] = retry_at
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == item_id).values(values))


async def counts(
    session: AsyncSession, kind: str | None = None, ref: str | None = None
) -> dict[str, int]:
    """Rows per status, optionally for one broadcast."""
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    if ref is not None:
        query = query.where(OutboxMessage.ref == ref)
    return {status: int(n) for status, n in (await session.execute(query)).all()}


async def depth(session: AsyncSession) -> int:
    """Rows still to deliver (pending or in flight)."""
    value = await session.scalar(
        select(func.count()).where(OutboxMessage.status.in_((PENDING, SENDING)))
    )
    return int(value or 0)


async def rows_for(session: AsyncSession, kind: str, ref: str) -> Sequence[OutboxMessage]:
    return (
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == kind, OutboxMessage.ref == ref)
            .order_by(OutboxMessage.id)
        )
    ).all()
