"""Webhook updates handled once across processes: the ``processed_updates`` table.

Telegram delivers an update again when it did not get a 2xx answer in time: the answer
was lost, the process died, or it answered 5xx because the database was down. Behind a
load balancer the repeat may reach another process. So a process claims the update (a
row keyed by update_id) before handling it, and marks it done afterwards:

- a repeat of a done update is answered 200 without handling it;
- a repeat of an update another process is still handling is answered 503 (try later);
- an attempt that failed for an infrastructure reason releases its claim, so the next
  delivery handles it; after ``MAX_ATTEMPTS`` such failures the update is given up;
- a claim whose process died (its heartbeat stopped) is taken over after the lease.

Rows are pruned after ``RETENTION`` (Telegram keeps an undelivered update for 24 hours).

Polling mode does not use the table: only one process can poll a bot (Telegram answers
a second getUpdates with 409), and the getUpdates offset confirms each update once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ProcessedUpdate

MAX_ATTEMPTS = 5
RETENTION = timedelta(hours=48)


class Claim(enum.Enum):
    CLAIMED = "claimed"  # handle it now
    DONE = "done"  # handled before: answer 200, do nothing
    BUSY = "busy"  # another process is handling it: answer 503
    GAVE_UP = "gave_up"  # failed MAX_ATTEMPTS times: answer 200, logged


async def claim(
    session: AsyncSession, update_id: int, owner: str, now: datetime, *, lease: timedelta
) -> Claim:
    """Claim an update for ``owner``. The caller knows it is not handling it already."""
    values = {
        "update_id": update_id,
        "claimed_by": owner,
        "claimed_at": now,
        "attempts": 1,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ProcessedUpdate).values(values).on_conflict_do_nothing()
    result = await session.execute(stmt)
    if getattr(result, "rowcount", 0):
        return Claim.CLAIMED
    # A repeat: released after a failure, or its claimer died, or it was our own claim
    # that a failed release left behind (the caller is not handling it any more).
    taken = await session.execute(
        update(ProcessedUpdate)
        .where(
            ProcessedUpdate.update_id == update_id,
            ProcessedUpdate.done_at.is_(None),
            ProcessedUpdate.attempts < MAX_ATTEMPTS,
            or_(
                ProcessedUpdate.claimed_by.is_(None),
                ProcessedUpdate.claimed_by == owner,
                ProcessedUpdate.claimed_at < now - lease,
            ),
        )
        .values(
            claimed_by=owner,
            claimed_at=now,
            attempts=ProcessedUpdate.attempts + 1,
        )
    )
    if getattr(taken, "rowcount", 0):
        return Claim.CLAIMED
    row = await session.get(ProcessedUpdate, update_id, populate_existing=True)
    if row is None:
        return Claim.BUSY  # pruned between the two statements; the next delivery claims it
    if row.done_at is not None:
        return Claim.DONE
    idle = row.claimed_by in (None, owner) or row.claimed_at < now - lease
    if row.attempts >= MAX_ATTEMPTS and idle:
        row.done_at = now
        row.error = f"gave up after {row.attempts} attempts: {row.error or 'unknown'}"[:200]
        return Claim.GAVE_UP
    return Claim.BUSY


async def release(session: AsyncSession, update_id: int, owner: str, error: str) -> None:
    """The attempt failed for an infrastructure reason: let the next delivery handle it."""
    await session.execute(
        update(ProcessedUpdate)
        .where(
            ProcessedUpdate.update_id == update_id,
            ProcessedUpdate.claimed_by == owner,
            ProcessedUpdate.done_at.is_(None),
        )
        .values(claimed_by=None, error=error[:200])
    )


async def finish(session: AsyncSession, update_id: int, now: datetime) -> None:
    """Handled: every later delivery of this update is answered without handling it."""
    await session.execute(
        update(ProcessedUpdate)
        .where(ProcessedUpdate.update_id == update_id, ProcessedUpdate.done_at.is_(None))
        .values(done_at=now, error=None)
    )


async def heartbeat(
    session: AsyncSession, update_ids: Iterable[int], owner: str, now: datetime
) -> None:
    """Keep this process's claims fresh while it is still handling them."""
    ids = list(update_ids)
    if not ids:
        return
    await session.execute(
        update(ProcessedUpdate)
        .where(
            ProcessedUpdate.update_id.in_(ids),
            ProcessedUpdate.claimed_by == owner,
            ProcessedUpdate.done_at.is_(None),
        )
        .values(claimed_at=now)
    )


async def prune(session: AsyncSession, now: datetime) -> int:
    """Forget updates older than Telegram could deliver again."""
    result = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.claimed_at < now - RETENTION)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def get(session: AsyncSession, update_id: int) -> ProcessedUpdate | None:
    return await session.scalar(
        select(ProcessedUpdate).where(ProcessedUpdate.update_id == update_id)
    )
