"""What study messages look like: texts from the catalog, filled with plain values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.content.curriculum import Prompt
from bot.content.requirements import Requirement
from bot.study.prompts import REFLECTION_MIN_CHARS
from bot.texts import Html, Texts, escape
from bot.ui import Button, Keyboard, callback

FEATURE = "study"
# Callback actions (``study:<action>:<id>``); parsed in handlers.study.cb_study.
CB_CHECKIN = "in"
CB_REFLECT = "how"
CB_ATTEND = "att"
CB_CANCEL_SESSION = "sx"
# The longest excerpt of a reflection shared with the group (the message limit is 4096).
SHARE_MAX_CHARS = 3000


def fmt_date(texts: Texts, locale: str, day: date) -> str:
    weekdays = texts.plain("study.weekdays", locale).split(",")
    return texts.plain(
        "study.date",
        locale,
        year=day.year,
        month=day.month,
        day=day.day,
        month2=f"{day.month:02d}",
        day2=f"{day.day:02d}",
        weekday=weekdays[day.weekday()] if len(weekdays) == 7 else "",
    )


def fmt_time(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%H:%M")


def fmt_when(texts: Texts, locale: str, moment: datetime, zone: ZoneInfo) -> str:
    """A date and time in the chat's zone, e.g. "Sat 2023-08-05 14:00" in English."""
    local = moment.astimezone(zone)
    return texts.plain(
        "study.when", locale, date=fmt_date(texts, locale, local.date()), time=fmt_time(local, zone)
    )


def fmt_moment(texts: Texts, locale: str, moment: datetime, now: datetime, zone: ZoneInfo) -> str:
    """The time alone if it is today, else date and time."""
    if moment.astimezone(zone).date() == now.astimezone(zone).date():
        return fmt_time(moment, zone)
    return fmt_when(texts, locale, moment, zone)


def prompt_html(
    texts: Texts,
    locale: str,
    *,
    prompt: Prompt | None,
    requirement: Requirement | None,
    day: int,
    total: int,
    cycle: int,
    slot_date: date,
    count: int,
    group_title: str | None = None,
) -> Html:
    """The daily prompt: day N of M, requirement, excerpt, explanation, question, count.

    Day 1 of a later pass says that the curriculum started over.
    """
    lines: list[str] = []
    if group_title:
        lines.append(texts.t("study.prompt.group", locale, title=group_title))
    if cycle > 1 and day == 1:
        lines.append(texts.t("study.prompt.restarted", locale, total=total, cycle=cycle))
    if cycle > 1:
        header = texts.t("study.prompt.header_cycle", locale, cycle=cycle, day=day, total=total)
    else:
        header = texts.t("study.prompt.header", locale, day=day, total=total)
    if prompt is None:
        lines.extend([header, texts.t("study.prompt.missing", locale)])
    else:
        if requirement is None:
            req = texts.t("study.prompt.requirement_general", locale)
        else:
            req = texts.t(
                "study.prompt.requirement",
                locale,
                ordinal=requirement.ordinal,
                headline=requirement.headline,
            )
        lines.append(
            texts.t(
                "study.prompt.body",
                locale,
                header=header,
                date=fmt_date(texts, locale, slot_date),
                title=prompt.title,
                requirement=req,
                excerpt=prompt.excerpt,
                explanation=prompt.explanation,
                question=prompt.question,
                checkin=texts.plain("study.prompt.button_checkin", locale),
                min=REFLECTION_MIN_CHARS,
            )
        )
    if count > 0:
        lines.append(texts.t("study.prompt.count", locale, count=count))
    return Html("\n".join(lines))


def prompt_buttons(texts: Texts, locale: str, post_id: int) -> Keyboard:
    return [
        [
            Button(
                texts.plain("study.prompt.button_checkin", locale),
                data=callback(FEATURE, CB_CHECKIN, post_id),
            ),
            Button(
                texts.plain("study.prompt.button_reflect", locale),
                data=callback(FEATURE, CB_REFLECT, post_id),
            ),
        ]
    ]


def session_open_html(
    texts: Texts, locale: str, *, topic: str, until: str, count: int, closed: bool
) -> Html:
    lines = [texts.t("study.session.open", locale, topic=topic, until=until)]
    if closed:
        lines.append(texts.t("study.session.closed_footer", locale, count=count))
    elif count > 0:
        lines.append(texts.t("study.session.open_count", locale, count=count))
    return Html("\n".join(lines))


def session_buttons(texts: Texts, locale: str, session_id: int) -> Keyboard:
    return [
        [
            Button(
                texts.plain("study.session.button_attend", locale),
                data=callback(FEATURE, CB_ATTEND, session_id),
            )
        ]
    ]


def cancel_buttons(texts: Texts, locale: str, session_id: int) -> Keyboard:
    return [
        [
            Button(
                texts.plain("study.session.button_cancel", locale),
                data=callback(FEATURE, CB_CANCEL_SESSION, session_id),
            )
        ]
    ]


def names_list(texts: Texts, locale: str, names: Sequence[str]) -> str:
    return texts.plain("study.session.name_separator", locale).join(names)


def share_text(texts: Texts, locale: str, text: str) -> Html:
    """A reflection for the group (escaped), cut with a note if very long."""
    if len(text) <= SHARE_MAX_CHARS:
        return escape(text)
    return Html(
        escape(text[:SHARE_MAX_CHARS]) + texts.t("study.excellent.cut", locale, length=len(text))
    )
