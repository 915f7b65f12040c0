"""Per-chat settings: the registry of keys, parsing and validation, and storing a change.

A chat's settings are its overrides of the config's defaults (``chats.effective_settings``).
Every key has a short name for ``/set`` (``study_time``) and a typed parser; a value that
does not parse raises ``SettingError`` carrying a locale key and values for the message.
After a change the caller re-derives the chat's schedules (``services.chat_hooks``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import check_days, parse_hhmm
from bot.content.grammar import grammar
from bot.db.models import Chat


class SettingError(Exception):
    """A value was refused; ``key`` is a locale key, ``values`` fill its template."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


Parser = Callable[[str], Any]

# The Chinese words (开启, 关闭, 每天, 工作日, 周一 ...) are in content/grammar/zh.yaml.
_WORDS = grammar().settings
_TRUE = {"on", "true", "yes", "1", *_WORDS.on}
_FALSE = {"off", "false", "no", "0", *_WORDS.off}
_WEEKDAY_NAMES = {
    **grammar().weekdays,
    "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7,
}  # fmt: skip
_DAILY = {"daily", "everyday", *_WORDS.daily}
_WORKDAYS = {"workdays", "workday", *_WORDS.workdays}
_LOCALE_ZH = {"zh", "zh_cn", "cn", *_WORDS.locale_zh}
_LOCALE_EN = {"en", "english", *_WORDS.locale_en}


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingError("settings.error.bool")


def parse_time(raw: str) -> str:
    value = raw.strip().replace("：", ":").replace(".", ":")
    try:
        parsed = parse_hhmm(value)
    except ValueError:
        raise SettingError("settings.error.time", value=raw) from None
    return f"{parsed.hour:02d}:{parsed.minute:02d}"


def parse_days(raw: str) -> str:
    value = raw.strip().lower()
    if value in _DAILY:
        return "daily"
    if value in _WORKDAYS:
        return "workdays"
    if value.startswith("weekdays:"):
        value = value.split(":", 1)[1]
    parts = [p for p in re.split(r"[,，、\s]+", value) if p]
    days: set[int] = set()
    for part in parts:
        for prefix in _WORDS.weekday_prefixes:
            part = part.removeprefix(prefix)
        if part.isdecimal() and 1 <= int(part) <= 7:  # not isdigit(): int('²') fails
            days.add(int(part))
        elif part[:3] in _WEEKDAY_NAMES:
            days.add(_WEEKDAY_NAMES[part[:3]])
        elif part in _WEEKDAY_NAMES:
            days.add(_WEEKDAY_NAMES[part])
        else:
            raise SettingError("settings.error.days", value=raw)
    if not days:
        raise SettingError("settings.error.days", value=raw)
    return check_days("weekdays:" + ",".join(str(d) for d in sorted(days)))


def int_parser(low: int, high: int) -> Parser:
    def parse(raw: str) -> int:
        value = raw.strip()
        if not re.fullmatch(r"\d{1,3}", value) or not low <= int(value) <= high:
            raise SettingError("settings.error.int", value=raw, low=low, high=high)
        return int(value)

    return parse


def parse_offsets(raw: str) -> list[int]:
    parts = [p for p in re.split(r"[,，、\s]+", raw.strip()) if p]
    try:
        days = sorted({int(p) for p in parts}, reverse=True)
    except ValueError:
        raise SettingError("settings.error.offsets", value=raw) from None
    if not days or any(d < 1 or d > 60 for d in days) or len(days) > 5:
        raise SettingError("settings.error.offsets", value=raw)
    return days


def choice_parser(*choices: str) -> Parser:
    def parse(raw: str) -> str:
        value = raw.strip()
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        raise SettingError("settings.error.choice", value=raw, choices=" / ".join(choices))

    return parse


def parse_locale(raw: str) -> str:
    value = raw.strip().lower().replace("-", "_")
    if value in _LOCALE_ZH:
        return "zh_CN"
    if value in _LOCALE_EN:
        return "en"
    raise SettingError("settings.error.choice", value=raw, choices="zh_CN / en")


def parse_timezone(raw: str) -> str:
    value = raw.strip()
    if not value or ("/" not in value and value != "UTC"):
        raise SettingError("settings.error.timezone", value=raw)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'Asia' is a directory
        raise SettingError("settings.error.timezone", value=raw) from None
    return value


@dataclass(frozen=True)
class SettingSpec:
    key: str  # as in effective_settings, e.g. "study.time"
    name: str  # for /set, e.g. "study_time"
    parse: Parser


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("study.enabled", "study", parse_bool),
    SettingSpec("study.time", "study_time", parse_time),
    SettingSpec("study.days", "study_days", parse_days),
    SettingSpec("study.session_minutes", "session_minutes", int_parser(10, 600)),
    SettingSpec("quiz.enabled", "quiz", parse_bool),
    SettingSpec("quiz.time", "quiz_time", parse_time),
    SettingSpec("quiz.days", "quiz_days", parse_days),
    SettingSpec("quiz.questions", "quiz_questions", int_parser(1, 10)),
    SettingSpec("quiz.open_minutes", "quiz_open_minutes", int_parser(1, 10)),
    SettingSpec("ledger.reminder_offsets_days", "ledger_offsets", parse_offsets),
    SettingSpec("ledger.reminder_time", "ledger_time", parse_time),
    SettingSpec("ledger.escalate_after_days", "ledger_escalate_days", int_parser(1, 60)),
    SettingSpec("reports.weekly", "report", parse_bool),
    SettingSpec("reports.day", "report_day", int_parser(1, 7)),
    SettingSpec("reports.time", "report_time", parse_time),
    SettingSpec("reports.to", "report_to", choice_parser("group", "admins")),
    SettingSpec("notices.auto", "notices", parse_bool),
    SettingSpec("locale", "language", parse_locale),
    SettingSpec("timezone", "timezone", parse_timezone),
)
BY_NAME = {spec.name: spec for spec in SPECS}
BY_KEY = {spec.key: spec for spec in SPECS}


def spec_for(name_or_key: str) -> SettingSpec:
    """Look a setting up by its /set name or its dotted key."""
    value = name_or_key.strip().lower().lstrip("/")
    spec = BY_NAME.get(value) or BY_KEY.get(value) or BY_NAME.get(value.replace(".", "_"))
    if spec is None:
        raise SettingError("settings.error.unknown_key", value=name_or_key)
    return spec


def parse(name_or_key: str, raw: str) -> tuple[SettingSpec, Any]:
    spec = spec_for(name_or_key)
    if not raw.strip():
        raise SettingError("settings.error.missing_value", name=spec.name)
    return spec, spec.parse(raw)


async def apply(session: AsyncSession, chat: Chat, spec: SettingSpec, value: Any) -> Any:
    """Store one setting for a chat; returns the previous effective value."""
    if spec.key == "locale":
        previous = chat.locale
        chat.locale = str(value)
    elif spec.key == "timezone":
        previous = chat.timezone
        chat.timezone = str(value)
    else:
        current = dict(chat.settings or {})
        previous = current.get(spec.key)
        current[spec.key] = value
        # A new dict, so the JSON column is seen as changed.
        chat.settings = current
    await session.flush()
    return previous


def display_value(spec: SettingSpec, settings: dict[str, Any]) -> Any:
    value = settings.get(spec.key)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value
