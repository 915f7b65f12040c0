"""What chats receive of a notice, and broadcasting it through the outbox.

The summary is one outbox row per (notice, chat) of kind ``notice``, ref the notice's
id (DESIGN.md principle 4): the running bot's outbox worker delivers it, once, also
across a crash. Chats that are inactive (the bot was removed) get a row marked
skipped, so a broadcast's state accounts for every chat it was meant for.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import chats, outbox
from bot.config import Config
from bot.db.models import Chat, OutboxMessage
from bot.db.models.notices import Notice
from bot.notices import store
from bot.notices.render import render_summary_html
from bot.notices.store import ImportResult, ReadNotice, parsed_of
from bot.texts import Html, Texts
from bot.ui import Button, callback

KIND = "notice"
FEATURE = "notice"
# The callback data of a section button: notice:sec:<notice id>:<section>, 0 = full text.
SECTION_ACTION = "sec"
STATE_ACTION = "state"
BUTTON_HEADING_CHARS = 18
INACTIVE = outbox.INACTIVE
_CHUNK = 500


def labels(texts: Texts, locale: str) -> dict[str, str]:
    """The summary's labels (bot.notices.patterns.LABEL_KEYS) in a locale."""
    return {
        "issuer": texts.plain("notices.label.issuer", locale),
        "published": texts.plain("notices.label.published", locale),
        "doc_number": texts.plain("notices.label.doc_number", locale),
        "addressees": texts.plain("notices.label.addressees", locale),
        "points": texts.plain("notices.label.points", locale),
        "actions": texts.plain("notices.label.actions", locale),
        "deadlines": texts.plain("notices.label.deadlines", locale),
        "attachments": texts.plain("notices.label.attachments", locale),
        "separator": texts.plain("notices.label.separator", locale),
    }


def section_data(notice_id: int, number: int) -> str:
    return callback(FEATURE, SECTION_ACTION, notice_id, number)


def parse_section_data(args: Sequence[str]) -> tuple[int, int] | None:
    """(notice id, section number) from the arguments of ``notice:sec:...``."""
    if len(args) != 2 or not all(a.isdecimal() and len(a) <= 9 for a in args):
        return None
    return int(args[0]), int(args[1])


def _short(text: str, limit: int = BUTTON_HEADING_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_buttons(notice: Notice, texts: Texts, locale: str) -> list[list[Button]]:
    """One button per section; a notice without sections gets "full text"."""
    # Buttons 一、 二、 … in the notice's order.
    sections = parsed_of(notice).sections
    if not sections:
        label = texts.plain("notices.button.full_text", locale)
        return [[Button(label, data=section_data(notice.id, 0))]]
    return [
        [
            Button(
                texts.plain(
                    "notices.button.section", locale, number=s.number, heading=_short(s.heading)
                ),
                data=section_data(notice.id, index),
            )
        ]
        for index, s in enumerate(sections, 1)
    ]


def summary_html(notice: Notice, texts: Texts, locale: str) -> Html:
    body = render_summary_html(parsed_of(notice), labels(texts, locale))
    footer = texts.t("notices.summary.footer", locale, number=notice.id)
    return Html(f"{body}\n\n{footer}")


def summary_payload(notice: Notice, texts: Texts, locale: str) -> dict[str, Any]:
    """An outbox payload: the summary and its section buttons (as plain dicts)."""
    buttons = summary_buttons(notice, texts, locale)
    return {
        "text": str(summary_html(notice, texts, locale)),
        "buttons": [[{"text": b.text, "data": b.data} for b in row] for row in buttons],
    }


def _paragraphs(text: str) -> str:
    """Escaped paragraphs with a blank line between them (long text reads better)."""
    lines = (html.escape(line, quote=False) for line in text.split("\n") if line.strip())
    return "\n\n".join(lines)


def section_html(notice: Notice, number: int, texts: Texts, locale: str) -> Html | None:
    """A section in full (0: the whole text); None if the notice has no such section."""
    parsed = parsed_of(notice)
    if number == 0:
        if not notice.text.strip():
            return None  # an empty file was imported: an empty message would be refused
        return texts.t(
            "notices.section.full_text",
            locale,
            title=parsed.title,
            body=Html(_paragraphs(notice.text)),
        )
    if not 1 <= number <= len(parsed.sections):
        return None
    section = parsed.sections[number - 1]
    parts = [
        texts.t("notices.section.heading", locale, number=section.number, heading=section.heading)
    ]
    if section.body.strip():
        parts.append(Html(_paragraphs(section.body)))
    for sub in section.subsections:
        lines = [
            texts.t("notices.section.subheading", locale, number=sub.number, heading=sub.heading)
        ]
        if sub.body.strip():
            lines.append(Html(_paragraphs(sub.body)))
        parts.append(Html("\n".join(lines)))
    return texts.t(
        "notices.section.text", locale, title=parsed.title, body=Html("\n\n".join(parts))
    )


# --- broadcasting -------------------------------------------------------------------


@dataclass
class BroadcastPlan:
    """What queueing a notice did. ``unknown`` non-empty: nothing was queued."""

    notice_id: int
    targets: list[int] = field(default_factory=list)
    inactive: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    added: int = 0
    requeued: int = 0
    row_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class BroadcastState:
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.sending + self.sent + self.failed + self.skipped

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def finished(self) -> bool:
        return self.pending + self.sending == 0

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> BroadcastState:
        return cls(
            pending=counts.get(outbox.PENDING, 0),
            sending=counts.get(outbox.SENDING, 0),
            sent=counts.get(outbox.SENT, 0),
            failed=counts.get(outbox.FAILED, 0),
            skipped=counts.get(outbox.SKIPPED, 0),
        )


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


async def _chats(session: AsyncSession, ids: Sequence[int]) -> list[Chat]:
    found: list[Chat] = []
    for chunk in _chunks(ids):
        found.extend((await session.scalars(select(Chat).where(Chat.id.in_(chunk)))).all())
    return found


async def queue_broadcast(
    session: AsyncSession,
    notice: Notice,
    *,
    texts: Texts,
    config: Config,
    now: datetime,
    chat_ids: Sequence[int] | None = None,
    auto: bool = False,
) -> BroadcastPlan:
    """Queue the summary for chats: the given ones, or every active group.

    ``auto``: only groups whose settings have notices on (``notices.auto``), as for a
    newly imported notice. Rows that exist already are left alone, except failed or
    skipped ones of chats that are active now, which are queued again; a chat is never
    sent the same notice twice. Given chats that are inactive get a skipped row.
    """
    plan = BroadcastPlan(notice.id)
    if chat_ids is None:
        groups = await chats.active_groups(session)
        if auto:
            groups = [g for g in groups if chats.effective_settings(g, config)["notices.auto"]]
        active, inactive = groups, []
    else:
        wanted = list(dict.fromkeys(chat_ids))
        rows = {chat.id: chat for chat in await _chats(session, wanted)}
        plan.unknown = [cid for cid in wanted if cid not in rows]
        if plan.unknown:
            return plan
        active = [rows[cid] for cid in wanted if rows[cid].active]
        inactive = [rows[cid] for cid in wanted if not rows[cid].active]
    plan.targets = [chat.id for chat in active]
    plan.inactive = [chat.id for chat in inactive]
    ref = str(notice.id)

    by_locale: dict[str, list[int]] = {}
    for chat in [*active, *inactive]:
        locale = str(chats.effective_settings(chat, config)["locale"])
        by_locale.setdefault(locale, []).append(chat.id)
    for locale, ids in by_locale.items():
        payload = summary_payload(notice, texts, locale)
        plan.added += await outbox.enqueue(
            session, kind=KIND, ref=ref, chat_ids=ids, payload=payload, now=now
        )
    rows_of = OutboxMessage.kind == KIND, OutboxMessage.ref == ref
    for chunk in _chunks(plan.inactive):
        await session.execute(
            update(OutboxMessage)
            .where(*rows_of, OutboxMessage.chat_id.in_(chunk))
            .where(OutboxMessage.status == outbox.PENDING)
            .values(status=outbox.SKIPPED, error=INACTIVE)
        )
    for chunk in _chunks(plan.targets):
        result = await session.execute(
            update(OutboxMessage)
            .where(*rows_of, OutboxMessage.chat_id.in_(chunk))
            .where(OutboxMessage.status.in_((outbox.FAILED, outbox.SKIPPED)))
            .values(status=outbox.PENDING, error=None, not_before=None, lease_until=None)
        )
        plan.requeued += int(getattr(result, "rowcount", 0) or 0)
    for chunk in _chunks([*plan.targets, *plan.inactive]):
        plan.row_ids.extend(
            (
                await session.scalars(
                    select(OutboxMessage.id).where(*rows_of, OutboxMessage.chat_id.in_(chunk))
                )
            ).all()
        )
    return plan


async def broadcast_state(
    session: AsyncSession, notice_id: int, row_ids: Sequence[int] | None = None
) -> BroadcastState:
    """Rows per status of a notice's broadcast (all of it, or the given rows)."""
    if row_ids is None:
        return BroadcastState.of(await outbox.counts(session, KIND, str(notice_id)))
    counts: dict[str, int] = {}
    for chunk in _chunks(row_ids):
        query = (
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.id.in_(chunk))
            .group_by(OutboxMessage.status)
        )
        for status, n in (await session.execute(query)).all():
            counts[status] = counts.get(status, 0) + int(n)
    return BroadcastState.of(counts)


async def import_and_queue(
    session: AsyncSession,
    read: ReadNotice,
    *,
    texts: Texts,
    config: Config,
    now: datetime,
    source: str | None,
    imported_by: str | None,
    auto: bool = True,
) -> tuple[ImportResult, BroadcastPlan | None]:
    """Store a notice once; a new one is queued for the groups with notices on (``auto``).

    In the caller's transaction: the notice and its deliveries are written together.
    """
    result = await store.import_notice(
        session, read, source=source, imported_by=imported_by, now=now
    )
    if not result.created or not auto:
        return result, None
    plan = await queue_broadcast(
        session, result.notice, texts=texts, config=config, now=now, auto=True
    )
    return result, plan
