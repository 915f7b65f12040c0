"""The review queue: Leitner boxes over days.

A wrong answer (in practice or in a group round) puts the question in box 1, due the
next day. A right answer to a question that is due moves it up a box (due after 1, 2,
4, 7, 14 days for boxes 1-5); right in box 5 and it leaves the queue. A right answer
before the question is due changes nothing: only spaced recall counts. Days are
calendar days in the bot's time zone: due means from 00:00 of the due day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from bot.db.dml import upsert
from bot.db.models.quiz import ReviewItem

BOX_DAYS: dict[int, int] = {1: 1, 2: 2, 3: 4, 4: 7, 5: 14}
MAX_BOX = 5


def next_box(box: int | None, correct: bool, due: bool) -> int | None:
    """The box after an answer; None: not (or no longer) in the queue."""
    if not correct:
        return 1
    if box is None:
        return None
    if not due:
        return box
    return box + 1 if box < MAX_BOX else None


def due_at(answered_at: datetime, box: int, zone: ZoneInfo) -> datetime:
    """00:00 (in ``zone``) of the day the question in ``box`` is due again."""
    day = answered_at.astimezone(zone).date() + timedelta(days=BOX_DAYS[box])
    return datetime.combine(day, time(0), tzinfo=zone)


async def note_answer(
    session: AsyncSession,
    user_id: int,
    question_id: str,
    correct: bool,
    now: datetime,
    zone: ZoneInfo,
) -> int | None:
    """Move a question between boxes after an answer; returns its box (None: not queued)."""
    key = identity_key(ReviewItem, (user_id, question_id))
    if not correct and key not in session.identity_map:
        # Wrong puts it in box 1 whatever it was: one statement, on every wrong answer
        # (unless this session holds the item, which a Core statement would leave stale).
        due = due_at(now, 1, zone)
        await upsert(
            session,
            ReviewItem,
            {
                "user_id": user_id,
                "question_id": question_id,
                "box": 1,
                "due_at": due,
                "updated_at": now,
            },
            ("user_id", "question_id"),
            ("box", "due_at", "updated_at"),
        )
        return 1
    if key not in session.identity_map:
        return await _note_right_answer(session, user_id, question_id, now, zone)
    item = await session.get(ReviewItem, (user_id, question_id))
    box = next_box(item.box if item else None, correct, item is not None and item.due_at <= now)
    if box is None:
        if item is not None:
            await session.delete(item)
        return None
    if item is None:
        item = ReviewItem(user_id=user_id, question_id=question_id, box=box)
        session.add(item)
    elif item.box == box and correct:
        return box  # right, but not due yet
    item.box = box
    item.due_at = due_at(now, box, zone)
    item.updated_at = now
    await session.flush()
    return box


# A right answer, when the session holds no copy of the item: Core statements, built
# once (every right answer in a group round comes through here).
_reviews = cast(Table, ReviewItem.__table__)
_REVIEW_BOX = select(_reviews.c.box, _reviews.c.due_at).where(
    _reviews.c.user_id == bindparam("uid"), _reviews.c.question_id == bindparam("qid")
)
_REVIEW_MOVE = (
    update(_reviews)
    .where(
        _reviews.c.user_id == bindparam("uid"),
        _reviews.c.question_id == bindparam("qid"),
    )
    .values(box=bindparam("box"), due_at=bindparam("due"), updated_at=bindparam("now"))
)
_REVIEW_LEAVE = delete(_reviews).where(
    _reviews.c.user_id == bindparam("uid"), _reviews.c.question_id == bindparam("qid")
)


async def _note_right_answer(
    session: AsyncSession, user_id: int, question_id: str, now: datetime, zone: ZoneInfo
) -> int | None:
    key = {"uid": user_id, "qid": question_id}
    found = (await session.execute(_REVIEW_BOX, key)).first()
    if found is None:
        return None  # right and not queued: nothing to do
    box, due = found
    moved = next_box(box, True, due <= now)
    if moved is None:
        await session.execute(_REVIEW_LEAVE, key)
    elif moved != box:
        await session.execute(
            _REVIEW_MOVE, {**key, "box": moved, "due": due_at(now, moved, zone), "now": now}
        )
    return moved


async def due_items(
    session: AsyncSession, user_id: int, now: datetime, limit: int
) -> Sequence[ReviewItem]:
    """Due questions, the longest overdue and the lowest box first."""
    rows = await session.scalars(
        select(ReviewItem)
        .where(ReviewItem.user_id == user_id, ReviewItem.due_at <= now)
        .order_by(ReviewItem.due_at, ReviewItem.box, ReviewItem.question_id)
        .limit(limit)
    )
    return rows.all()


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    due: int
    queued: int
    next_due_at: datetime | None  # the earliest not yet due


async def review_summary(session: AsyncSession, user_id: int, now: datetime) -> ReviewSummary:
    due = await session.scalar(
        select(func.count())
        .select_from(ReviewItem)
        .where(ReviewItem.user_id == user_id, ReviewItem.due_at <= now)
    )
    queued = await session.scalar(
        select(func.count()).select_from(ReviewItem).where(ReviewItem.user_id == user_id)
    )
    upcoming = await session.scalar(
        select(func.min(ReviewItem.due_at)).where(
            ReviewItem.user_id == user_id, ReviewItem.due_at > now
        )
    )
    return ReviewSummary(int(due or 0), int(queued or 0), upcoming)
