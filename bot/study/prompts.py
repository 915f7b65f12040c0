"""Daily prompts: which one comes next, what was sent, check-ins and reflections.

Functions take a session and plain values, never commit (the caller's block does) and
never talk to Telegram.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content.curriculum import Prompt
from bot.db.dml import insert_builder, insert_ignore
from bot.db.models.study import StudyCheckin, StudyCopy, StudyPost, StudyReflection

# A reflection is stored up to this many characters (the member is told when cut)...
REFLECTION_LIMIT = 4000
# ...and counts as one from this many characters on (shorter replies are kept).
REFLECTION_MIN_CHARS = 10
PART_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class NextPrompt:
    """The prompt a chat gets next: day N of M, in which pass through the curriculum."""

    prompt: Prompt
    day: int
    total: int
    cycle: int
    # True on the first day of a second (third...) pass.
    restarted: bool


def choose_next(curriculum: Sequence[Prompt], sent: Sequence[tuple[str, int]]) -> NextPrompt | None:
    """The first prompt in curriculum order not yet sent in the current pass.

    ``sent`` holds (prompt id, cycle) of the chat's posts. After the last prompt the
    curriculum starts over (cycle + 1): the notice asks for sustained, repeated study
    ("rotation training"), and admins who want it to stop turn study off in the
    settings. Prompts a firm appends later are picked up in the current pass.
    """
    if not curriculum:
        return None
    cycle = max((c for _, c in sent), default=1)
    done = {pid for pid, c in sent if c == cycle}
    for index, prompt in enumerate(curriculum):
        if prompt.id not in done:
            return NextPrompt(prompt, index + 1, len(curriculum), cycle, False)
    return NextPrompt(curriculum[0], 1, len(curriculum), cycle + 1, True)


def find_prompt(curriculum: Sequence[Prompt], prompt_id: str) -> Prompt | None:
    return next((p for p in curriculum if p.id == prompt_id), None)


# --- posts ---


async def post_for_date(session: AsyncSession, chat_id: int, day: date) -> StudyPost | None:
    return await session.scalar(
        select(StudyPost).where(StudyPost.chat_id == chat_id, StudyPost.slot_date == day)
    )


async def reserve_post(
    session: AsyncSession,
    chat_id: int,
    curriculum: Sequence[Prompt],
    *,
    slot_at: datetime,
    slot_date: date,
    now: datetime,
) -> tuple[StudyPost, NextPrompt] | None:
    """Reserve the chat's post for a local day before sending it.

    None if that day's prompt was sent already (a second slot the same day, a retaken
    claim) or there is nothing to send. A reservation left by a sender that died is
    reused, so the day's prompt still goes out once.
    """
    existing = await post_for_date(session, chat_id, slot_date)
    if existing is not None:
        if existing.message_id is not None:
            return None
        prompt = find_prompt(curriculum, existing.prompt_id)
        if prompt is None:
            return None
        return existing, NextPrompt(
            prompt, existing.day_number, existing.total_days, existing.cycle, False
        )
    rows = await session.execute(
        select(StudyPost.prompt_id, StudyPost.cycle).where(
            StudyPost.chat_id == chat_id, StudyPost.message_id.is_not(None)
        )
    )
    chosen = choose_next(curriculum, [(pid, cycle) for pid, cycle in rows.all()])
    if chosen is None:
        return None
    inserted = await insert_ignore(
        session,
        StudyPost,
        {
            "chat_id": chat_id,
            "prompt_id": chosen.prompt.id,
            "day_number": chosen.day,
            "total_days": chosen.total,
            "cycle": chosen.cycle,
            "slot_date": slot_date,
            "slot_at": slot_at,
            "created_at": now,
        },
        ("chat_id", "slot_date"),
    )
    if not inserted:
        return None
    post = await post_for_date(session, chat_id, slot_date)
    assert post is not None
    return post, chosen


async def mark_sent(
    session: AsyncSession, post_id: int, chat_id: int, message_id: int, now: datetime
) -> None:
    post = await session.get(StudyPost, post_id)
    if post is None:
        return
    post.chat_id = chat_id  # the group may have been upgraded while sending
    post.message_id = message_id
    post.sent_at = now


async def drop_reservation(session: AsyncSession, post_id: int) -> None:
    """The send failed: free the day so the prompt goes out on the next study day."""
    post = await session.get(StudyPost, post_id)
    if post is not None and post.message_id is None:
        await session.delete(post)


async def latest_post(session: AsyncSession, chat_id: int) -> StudyPost | None:
    """The chat's most recent prompt that was actually sent."""
    return await session.scalar(
        select(StudyPost)
        .where(StudyPost.chat_id == chat_id, StudyPost.message_id.is_not(None))
        .order_by(StudyPost.slot_date.desc(), StudyPost.id.desc())
        .limit(1)
    )


async def post_by_message(session: AsyncSession, chat_id: int, message_id: int) -> StudyPost | None:
    """The prompt behind a message: the post itself or a copy shown by /study."""
    post = await session.scalar(
        select(StudyPost).where(StudyPost.chat_id == chat_id, StudyPost.message_id == message_id)
    )
    if post is not None:
        return post
    copy = await session.scalar(
        select(StudyCopy).where(StudyCopy.chat_id == chat_id, StudyCopy.message_id == message_id)
    )
    return await session.get(StudyPost, copy.post_id) if copy is not None else None


async def record_copy(
    session: AsyncSession, post_id: int, chat_id: int, message_id: int, now: datetime
) -> None:
    await insert_ignore(
        session,
        StudyCopy,
        {"post_id": post_id, "chat_id": chat_id, "message_id": message_id, "created_at": now},
        ("chat_id", "message_id"),
    )


# --- check-ins ---


@dataclass(frozen=True, slots=True)
class CheckinResult:
    created: bool
    # When the member checked in (the first time, for a repeated press).
    checked_at: datetime


# Built once: every check-in runs them (building a statement costs more than running it).
_posts = cast(Table, StudyPost.__table__)
_checkins = cast(Table, StudyCheckin.__table__)
_CHECKED_AT = select(_checkins.c.checked_at).where(
    _checkins.c.post_id == bindparam("post_id"), _checkins.c.user_id == bindparam("user_id")
)
# A press that inserted nothing: the sent prompt's chat and when the member checked in
# (no row: the prompt is unknown or unsent).
_PRESS_SEEN = (
    select(_posts.c.chat_id, _checkins.c.checked_at)
    .select_from(
        _posts.outerjoin(
            _checkins,
            (_checkins.c.post_id == _posts.c.id) & (_checkins.c.user_id == bindparam("user_id")),
        )
    )
    .where(_posts.c.id == bindparam("post_id"), _posts.c.message_id.is_not(None))
)


async def check_in(
    session: AsyncSession, post_id: int, chat_id: int, user_id: int, now: datetime, source: str
) -> CheckinResult:
    """Record a check-in once per member and prompt (the unique key settles races)."""
    created = await insert_ignore(
        session,
        StudyCheckin,
        {
            "post_id": post_id,
            "chat_id": chat_id,
            "user_id": user_id,
            "source": source,
            "checked_at": now,
        },
        ("post_id", "user_id"),
    )
    if created:
        return CheckinResult(True, now)
    at = (await session.execute(_CHECKED_AT, {"post_id": post_id, "user_id": user_id})).scalar()
    return CheckinResult(False, at or now)


async def check_in_by_button(
    session: AsyncSession, post_id: int, user_id: int, now: datetime
) -> tuple[int, CheckinResult] | None:
    """A press of a prompt's check-in button: the prompt's chat and the result; None
    for a prompt that does not exist (any more) or was never sent.

    The first press is one statement (the insert takes the chat from the prompt), so a
    caller may run it without a transaction around it (``Database.standalone``); a
    repeated press, or one on an unknown prompt, reads what is there in a second.
    """
    dialect = session.get_bind().dialect.name
    params = {"post_id": post_id, "user_id": user_id, "source": "button", "now": now}
    chat_id = (await session.execute(_check_in_from_post(dialect), params)).scalar()
    if chat_id is not None:
        return chat_id, CheckinResult(True, now)
    found = (await session.execute(_PRESS_SEEN, params)).first()
    if found is None:
        return None
    chat_id, at = found
    return chat_id, CheckinResult(False, at or now)


@functools.cache
def _check_in_from_post(dialect: str) -> Any:
    """INSERT INTO study_checkins ... SELECT from the sent prompt ... ON CONFLICT DO
    NOTHING RETURNING chat_id: a row back means this press checked the member in."""
    source = select(
        _posts.c.id,
        _posts.c.chat_id,
        bindparam("user_id", type_=_checkins.c.user_id.type),
        bindparam("source", type_=_checkins.c.source.type),
        bindparam("now", type_=_checkins.c.checked_at.type),
    ).where(_posts.c.id == bindparam("post_id"), _posts.c.message_id.is_not(None))
    return (
        insert_builder(dialect)(_checkins)
        .from_select(["post_id", "chat_id", "user_id", "source", "checked_at"], source)
        .on_conflict_do_nothing(index_elements=["post_id", "user_id"])
        .returning(_checkins.c.chat_id)
    )


_CHECKIN_COUNT = (
    select(func.count()).select_from(_checkins).where(_checkins.c.post_id == bindparam("post_id"))
)
_POST_WITH_COUNT = select(StudyPost, _CHECKIN_COUNT.scalar_subquery()).where(
    StudyPost.id == bindparam("post_id")
)


async def checkin_count(session: AsyncSession, post_id: int) -> int:
    return int(await session.scalar(_CHECKIN_COUNT, {"post_id": post_id}) or 0)


async def post_with_count(session: AsyncSession, post_id: int) -> tuple[StudyPost, int] | None:
    """A prompt and how many members checked in to it, in one query."""
    found = (await session.execute(_POST_WITH_COUNT, {"post_id": post_id})).first()
    return None if found is None else (found[0], int(found[1] or 0))


# --- reflections ---


@dataclass(frozen=True, slots=True)
class ReflectionResult:
    """What saving a reply did, so the handler can acknowledge it fittingly."""

    # first | added (another reply to the same prompt) | edited
    action: str
    # The reflection as a whole is long enough to count.
    counted: bool
    # This reply was cut to keep the reflection within the limit.
    truncated: bool
    checked_in: bool
    length: int


def _visible_len(text: str) -> int:
    return len("".join(text.split()))


def _join(parts: Sequence[dict[str, Any]]) -> str:
    return PART_SEPARATOR.join(str(p["text"]) for p in parts if p["text"])


async def save_reflection(
    session: AsyncSession,
    post: StudyPost,
    user_id: int,
    *,
    chat_id: int,
    message_id: int,
    text: str,
    now: datetime,
    edited: bool = False,
    limit: int = REFLECTION_LIMIT,
    min_chars: int = REFLECTION_MIN_CHARS,
) -> ReflectionResult:
    """Store a member's reply to a prompt as (part of) their reflection on it.

    Every reply of a member to one prompt is kept, in order, as one reflection; an
    edited reply replaces its own part. The whole is cut at ``limit`` characters, and
    counts as a reflection from ``min_chars`` non-blank characters on. The first reply
    also checks the member in.
    """
    text = text.strip()
    await insert_ignore(
        session,
        StudyReflection,
        {
            "post_id": post.id,
            "chat_id": post.chat_id,
            "user_id": user_id,
            "text": "",
            "parts": [],
            "counted": False,
            "truncated": False,
            "created_at": now,
            "updated_at": now,
        },
        ("post_id", "user_id"),
    )
    reflection = await session.scalar(
        select(StudyReflection)
        .where(StudyReflection.post_id == post.id, StudyReflection.user_id == user_id)
        .with_for_update()
    )
    assert reflection is not None
    parts = [dict(p) for p in reflection.parts or []]
    index = next(
        (
            i
            for i, p in enumerate(parts)
            if int(p["chat"]) == chat_id and int(p["message"]) == message_id
        ),
        None,
    )
    if index is None:
        action = "first" if not parts else "added"
        parts.append({"chat": chat_id, "message": message_id, "text": ""})
        index = len(parts) - 1
    else:
        action = "edited"
    others = _join([p for i, p in enumerate(parts) if i != index])
    room = limit - len(others) - (len(PART_SEPARATOR) if others else 0)
    stored = text[: max(room, 0)]
    truncated = len(stored) < len(text)
    parts[index] = {"chat": chat_id, "message": message_id, "text": stored}
    joined = _join(parts)
    reflection.parts = parts
    reflection.text = joined
    reflection.counted = _visible_len(joined) >= min_chars
    reflection.truncated = reflection.truncated or truncated
    reflection.updated_at = now
    checked = await check_in(session, post.id, post.chat_id, user_id, now, "reply")
    return ReflectionResult(
        action=action,
        counted=reflection.counted,
        truncated=truncated,
        checked_in=checked.created,
        length=len(joined),
    )


async def reflection_by_message(
    session: AsyncSession, chat_id: int, author_id: int, message_id: int
) -> tuple[StudyReflection, StudyPost] | None:
    """The reflection a member's reply message belongs to (for /excellent)."""
    rows = await session.scalars(
        select(StudyReflection)
        .where(StudyReflection.user_id == author_id)
        .order_by(StudyReflection.id.desc())
        .limit(500)
    )
    for reflection in rows.all():
        for part in reflection.parts or []:
            if int(part["chat"]) == chat_id and int(part["message"]) == message_id:
                post = await session.get(StudyPost, reflection.post_id)
                return (reflection, post) if post is not None else None
    return None


async def mark_excellent(
    session: AsyncSession, reflection: StudyReflection, by: int | None, now: datetime
) -> bool:
    """False if it was marked already."""
    if reflection.excellent_at is not None:
        return False
    reflection.excellent_at = now
    reflection.excellent_by = by
    return True
