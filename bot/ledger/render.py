"""Ledger items as Telegram HTML (every user string escaped by the catalog)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from bot.db.models.ledger import CANCELLED, CLOSED, OPEN, SUBMITTED, LedgerEvent, LedgerItem
from bot.ledger import service, transfer
from bot.ledger.excel import RowError, XlsxError
from bot.ledger.reminders import Stage
from bot.ledger.service import Digest, Owner, Page
from bot.texts import Html, Texts, escape

SHORT = 40


def mention(owner: Owner) -> Html:
    """A mention that notifies: a tg://user link for known users, @username otherwise."""
    if owner.user_id is not None:
        name = owner.name or (f"@{owner.username}" if owner.username else str(owner.user_id))
        return Html(f'<a href="tg://user?id={owner.user_id}">{escape(name)}</a>')
    if owner.username:
        return escape(f"@{owner.username}")
    return escape(owner.name)


def owner_html(item: LedgerItem) -> Html:
    return mention(service.owner_of(item))


def short(text: str, limit: int = SHORT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def deadline_text(item: LedgerItem) -> str:
    return service.deadline_of(item).iso()


def status_text(texts: Texts, status: str, locale: str) -> str:
    if status == OPEN:
        return texts.plain("ledger.status.open", locale)
    if status == SUBMITTED:
        return texts.plain("ledger.status.submitted", locale)
    if status == CLOSED:
        return texts.plain("ledger.status.closed", locale)
    return texts.plain("ledger.status.cancelled", locale)


def field_name(texts: Texts, field: str, locale: str) -> str:
    names = {
        "problem": texts.plain("ledger.field.problem", locale),
        "requirement": texts.plain("ledger.field.requirement", locale),
        "goal": texts.plain("ledger.field.goal", locale),
        "measures": texts.plain("ledger.field.measures", locale),
        "owner": texts.plain("ledger.field.owner", locale),
        "deadline": texts.plain("ledger.field.deadline", locale),
        "note": texts.plain("ledger.field.note", locale),
        "status": texts.plain("ledger.field.status", locale),
        "evidence": texts.plain("ledger.field.evidence", locale),
    }
    return names.get(field, field)


def requirement_text(texts: Texts, number: int, names: Mapping[int, str], locale: str) -> str:
    return texts.plain(
        "ledger.requirement_label", locale, number=number, name=names.get(number, "")
    )


def overdue_mark(texts: Texts, item: LedgerItem, now: datetime, tz: tzinfo, locale: str) -> Html:
    if not service.is_overdue(item, now, tz):
        return Html("")
    days = service.days_overdue(item, now.astimezone(tz).date())
    if days <= 0:
        return texts.t("ledger.mark.overdue_today", locale)
    return texts.t("ledger.mark.overdue", locale, days=days)


def item_line(texts: Texts, item: LedgerItem, now: datetime, tz: tzinfo, locale: str) -> Html:
    if item.status == CLOSED:
        closed = item.closed_at.astimezone(tz) if item.closed_at else None
        return texts.t(
            "ledger.list.closed_line",
            locale,
            number=item.number,
            problem=short(item.problem),
            owner=service.owner_of(item).label(),
            closed=f"{closed:%Y-%m-%d}" if closed else "",
        )
    return texts.t(
        "ledger.list.line",
        locale,
        number=item.number,
        mark=overdue_mark(texts, item, now, tz, locale),
        submitted=texts.t("ledger.mark.submitted", locale) if item.status == SUBMITTED else "",
        problem=short(item.problem),
        owner=service.owner_of(item).label(),
        deadline=deadline_text(item),
    )


def list_text(texts: Texts, page: Page, flt: str, now: datetime, tz: tzinfo, locale: str) -> Html:
    titles = {
        "all": texts.plain("ledger.list.title_all", locale),
        "mine": texts.plain("ledger.list.title_mine", locale),
        "overdue": texts.plain("ledger.list.title_overdue", locale),
        "closed": texts.plain("ledger.list.title_closed", locale),
    }
    if flt.startswith("r"):
        title = texts.plain("ledger.list.title_requirement", locale, number=flt[1:])
    else:
        title = titles.get(flt, titles["all"])
    if not page.items:
        return texts.t("ledger.list.empty", locale, title=title)
    lines = Html("\n".join(item_line(texts, i, now, tz, locale) for i in page.items))
    return texts.t(
        "ledger.list.text",
        locale,
        title=title,
        total=page.total,
        page=page.page + 1,
        pages=page.pages,
        lines=lines,
    )


def _local(moment: datetime | None, tz: tzinfo) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}" if moment else ""


def event_line(texts: Texts, event: LedgerEvent, tz: tzinfo, locale: str) -> Html:
    when = _local(event.at, tz)
    who = event.actor_name or "—"
    if event.action == "edited" and event.field:
        field = event.field
        old, new = event.old_value or "", event.new_value or ""
        if field == "status":
            old = status_text(texts, old, locale) if old else ""
            new = status_text(texts, new, locale)
        return texts.t(
            "ledger.history.edited",
            locale,
            when=when,
            who=who,
            field=field_name(texts, field, locale),
            old=short(old, 60) or "—",
            new=short(new, 60) or "—",
        )
    actions = {
        "created": texts.plain("ledger.history.created", locale),
        "imported": texts.plain("ledger.history.imported", locale),
        "submitted": texts.plain("ledger.history.submitted", locale),
        "closed": texts.plain("ledger.history.closed", locale),
        "reopened": texts.plain("ledger.history.reopened", locale),
        "cancelled": texts.plain("ledger.history.cancelled", locale),
        "snoozed": texts.plain("ledger.history.snoozed", locale),
        "linked": texts.plain("ledger.history.linked", locale),
    }
    return texts.t(
        "ledger.history.line",
        locale,
        when=when,
        who=who,
        action=actions.get(event.action, event.action),
    )


def evidence_html(texts: Texts, item: LedgerItem, locale: str) -> Html:
    if not item.evidence_kind:
        return Html("")
    if item.evidence_kind == "photo":
        kind = texts.plain("ledger.evidence.photo", locale)
    elif item.evidence_kind == "document":
        kind = texts.plain("ledger.evidence.document", locale, name=item.evidence_file_name or "")
    else:
        kind = ""
    return texts.t(
        "ledger.card.evidence",
        locale,
        kind=kind,
        text=item.evidence_text or "",
        sep=" " if kind and item.evidence_text else "",
    )


def card(
    texts: Texts,
    item: LedgerItem,
    events: Sequence[LedgerEvent],
    names: Mapping[int, str],
    now: datetime,
    tz: tzinfo,
    locale: str,
) -> Html:
    """One item with every field, its evidence and its history."""
    closed = Html("")
    if item.status == CLOSED:
        closed = texts.t(
            "ledger.card.closed",
            locale,
            who=item.closed_by_name or "—",
            when=_local(item.closed_at, tz),
        )
    history = Html("\n".join(event_line(texts, e, tz, locale) for e in events[-15:]))
    return texts.t(
        "ledger.card.text",
        locale,
        number=item.number,
        status=status_text(texts, item.status, locale),
        mark=overdue_mark(texts, item, now, tz, locale),
        problem=item.problem,
        requirement=requirement_text(texts, item.requirement, names, locale),
        goal=item.goal or "—",
        measures=item.measures,
        owner=owner_html(item),
        deadline=deadline_text(item),
        note=item.note or "—",
        evidence=evidence_html(texts, item, locale),
        closed=closed,
        history=history,
    )


def created_text(texts: Texts, item: LedgerItem, names: Mapping[int, str], locale: str) -> Html:
    return texts.t(
        "ledger.created",
        locale,
        number=item.number,
        problem=item.problem,
        requirement=requirement_text(texts, item.requirement, names, locale),
        goal=item.goal or "—",
        measures=item.measures,
        owner=owner_html(item),
        deadline=deadline_text(item),
    )


def reminder_text(
    texts: Texts, item: LedgerItem, stage: Stage, locale: str, *, snoozed: bool
) -> Html:
    values: dict[str, object] = {
        "number": item.number,
        "problem": item.problem,
        "measures": short(item.measures, 120),
        "owner": owner_html(item),
        "deadline": deadline_text(item),
        "days": stage.days,
    }
    if stage.kind == "before":
        text = texts.t("ledger.remind.before", locale, **values)
    elif stage.kind == "due":
        text = texts.t("ledger.remind.due", locale, **values)
    else:
        text = texts.t("ledger.remind.overdue", locale, **values)
    if snoozed:
        return Html(texts.t("ledger.remind.snoozed_prefix", locale) + text)
    return text


def digest_text(texts: Texts, digest: Digest, now: datetime, tz: tzinfo, locale: str) -> Html:
    def section(key_items: Sequence[LedgerItem], title: str) -> str:
        if not key_items:
            return ""
        lines = "\n".join(item_line(texts, i, now, tz, locale) for i in key_items[:30])
        more = (
            "\n" + texts.t("ledger.digest.more", locale, count=len(key_items) - 30)
            if len(key_items) > 30
            else ""
        )
        return f"<b>{escape(title)}</b>\n{lines}{more}"

    parts = [
        section(
            digest.overdue, texts.plain("ledger.digest.overdue", locale, count=len(digest.overdue))
        ),
        section(digest.open, texts.plain("ledger.digest.open", locale, count=len(digest.open))),
        section(
            digest.submitted,
            texts.plain("ledger.digest.submitted", locale, count=len(digest.submitted)),
        ),
        section(
            digest.closed, texts.plain("ledger.digest.closed", locale, count=len(digest.closed))
        ),
    ]
    return texts.t("ledger.digest.text", locale, sections=Html("\n\n".join(p for p in parts if p)))


def escalation_text(
    texts: Texts, item: LedgerItem, days: int, chat_title: str, locale: str
) -> Html:
    return texts.t(
        "ledger.escalate.private",
        locale,
        chat=chat_title,
        number=item.number,
        problem=item.problem,
        owner=owner_html(item),
        deadline=deadline_text(item),
        days=days,
    )


def is_final(item: LedgerItem) -> bool:
    return item.status in (CLOSED, CANCELLED)


MAX_IMPORT_ERRORS_SHOWN = 30


def xlsx_error(texts: Texts, exc: XlsxError, locale: str) -> Html:
    t = texts.t
    if exc.code == "too_big":
        return t("ledger.import.errors.too_big", locale)
    if exc.code == "not_xlsx":
        return t("ledger.import.errors.not_xlsx", locale)
    if exc.code == "no_header":
        return t("ledger.import.errors.no_header", locale)
    if exc.code == "missing_columns":
        names = transfer.column_labels(texts, locale)
        missing = "、".join(names.get(k, k) for k in exc.detail.split(",") if k)
        return t("ledger.import.errors.missing_columns", locale, columns=missing)
    if exc.code == "too_many_rows":
        return t("ledger.import.errors.too_many_rows", locale)
    if exc.code == "empty":
        return t("ledger.import.errors.empty", locale)
    return t("ledger.import.errors.unreadable", locale)


def row_error_text(texts: Texts, error: RowError, locale: str) -> str:
    p = texts.plain
    reasons = {
        "number": p("ledger.import.errors.row.number", locale),
        "duplicate": p("ledger.import.errors.row.duplicate", locale),
        "required": p("ledger.import.errors.row.required", locale),
        "too_long": p("ledger.import.errors.row.too_long", locale),
        "requirement": p("ledger.import.errors.row.requirement", locale),
        "owner": p("ledger.import.errors.row.owner", locale),
        "owner_unknown": p("ledger.import.errors.row.owner_unknown", locale),
        "deadline": p("ledger.import.errors.row.deadline", locale),
        "status": p("ledger.import.errors.row.status", locale),
        "closed_at": p("ledger.import.errors.row.closed_at", locale),
    }
    column = transfer.column_labels(texts, locale).get(error.column, "")
    return p(
        "ledger.import.errors.row.line",
        locale,
        row=error.row,
        column=column,
        reason=reasons.get(error.code, p("ledger.errors.generic", locale)),
        value=error.value,
    )


def import_errors(texts: Texts, errors: list[RowError], locale: str) -> Html:
    lines = [row_error_text(texts, e, locale) for e in errors[:MAX_IMPORT_ERRORS_SHOWN]]
    more = len(errors) - len(lines)
    return texts.t(
        "ledger.import.errors.rows",
        locale,
        count=len(errors),
        lines="\n".join(lines),
        more=texts.plain("ledger.import.errors.more", locale, count=more) if more > 0 else "",
    )
