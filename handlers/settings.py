"""/settings (an inline menu) and /set KEY VALUE, for chat admins and bot-wide admins (TG)."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update

from bot import settings as settings_mod
from bot.chats import effective_settings
from bot.db.models import Chat
from bot.services import Services
from bot.settings import SettingError, SettingSpec
from bot.texts import Html
from bot.ui import Button, callback
from handlers.common import Context, locale_of, reply, require_admin, svc

logger = logging.getLogger(__name__)

TIME_PRESETS = ("07:30", "08:00", "08:30", "09:00", "12:30", "17:30", "19:00", "20:00", "21:00")
TIMEZONE_PRESETS = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
)
SECTIONS = ("study", "quiz", "ledger", "reports", "language", "timezone")
# Which settings each menu section shows, in order.
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "study": ("study", "study_time", "study_days", "session_minutes"),
    "quiz": ("quiz", "quiz_time", "quiz_days", "quiz_questions", "quiz_open_minutes"),
    "ledger": ("ledger_offsets", "ledger_time", "ledger_escalate_days"),
    "reports": ("report", "report_day", "report_time", "report_to"),
    "language": ("language",),
    "timezone": ("timezone",),
}
WEEKDAY_BITS = 7


def label(s: Services, locale: str, spec: SettingSpec) -> str:
    return s.texts.plain(f"settings.name.{spec.name}", locale)


def shown(s: Services, locale: str, spec: SettingSpec, value: Any) -> str:
    """A setting's value as people read it, in the locale's words."""
    # zh_CN: 开启, 工作日, 每周一、三、五 …
    if isinstance(value, bool):
        return s.texts.plain("settings.value.on" if value else "settings.value.off", locale)
    if spec.name.endswith("_days") and isinstance(value, str):
        return days_text(s, locale, value)
    if spec.name == "report_day":
        return s.texts.plain(f"settings.weekday.{value}", locale)
    if spec.name == "report_to":
        return s.texts.plain(f"settings.value.to_{value}", locale)
    if spec.name == "language":
        return s.texts.plain(f"settings.value.lang_{value}", locale)
    if spec.name == "ledger_offsets":
        return s.texts.plain(
            "settings.value.offsets", locale, days="、".join(str(d) for d in value)
        )
    if spec.name in ("quiz_open_minutes", "session_minutes"):
        return s.texts.plain("settings.value.minutes", locale, n=value)
    return str(value)


def days_text(s: Services, locale: str, days: str) -> str:
    if days == "daily":
        return s.texts.plain("settings.value.daily", locale)
    if days == "workdays":
        return s.texts.plain("settings.value.workdays", locale)
    numbers = [int(d) for d in days.split(":", 1)[1].split(",")]
    names = s.texts.plain("settings.value.weekday_separator", locale).join(
        s.texts.plain(f"settings.weekday_short.{n}", locale) for n in numbers
    )
    return s.texts.plain("settings.value.weekdays", locale, days=names)


def summary(
    s: Services,
    locale: str,
    values: dict[str, Any],
    names: tuple[str, ...],
    *,
    with_names: bool = False,
) -> Html:
    lines = []
    for name in names:
        spec = settings_mod.BY_NAME[name]
        fields = {
            "label": label(s, locale, spec),
            "value": shown(s, locale, spec, values[spec.key]),
            "name": spec.name,
        }
        if with_names:
            lines.append(s.t("settings.key_line", locale, **fields))
        else:
            lines.append(s.t("settings.line", locale, **fields))
    return Html("\n".join(lines))


def value_button(s: Services, locale: str, spec: SettingSpec, value: Any, current: Any) -> Button:
    text = shown(s, locale, spec, value)
    if value == current:
        text = "✓ " + text
    raw = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if isinstance(value, bool):
        raw = "on" if value else "off"
    return Button(text, data=callback("set", "v", spec.name, raw))


def back_row(s: Services, locale: str) -> list[Button]:
    return [
        Button(s.texts.plain("settings.button.back", locale), data=callback("set", "m", "main"))
    ]


def menu(
    s: Services, locale: str, values: dict[str, Any], section: str
) -> tuple[Html, list[list[Button]]]:
    """The text and buttons of one page of the settings menu."""
    plain = s.texts.plain
    rows: list[list[Button]] = []
    if section == "main":
        text = s.t(
            "settings.menu.main",
            locale,
            lines=summary(
                s, locale, values, tuple(n for keys in SECTION_KEYS.values() for n in keys)
            ),
            notices=shown(s, locale, settings_mod.BY_NAME["notices"], values["notices.auto"]),
        )
        rows = [
            [
                Button(plain(f"settings.section.{a}", locale), data=callback("set", "m", a))
                for a in pair
            ]
            for pair in (SECTIONS[0:2], SECTIONS[2:4], SECTIONS[4:6])
        ]
        notices = settings_mod.BY_NAME["notices"]
        rows.append(
            [
                Button(
                    plain(
                        "settings.button.notices",
                        locale,
                        value=shown(s, locale, notices, values["notices.auto"]),
                    ),
                    data=callback("set", "v", "notices", "off" if values["notices.auto"] else "on"),
                )
            ]
        )
        rows.append([Button(plain("settings.button.close", locale), data=callback("set", "close"))])
        return text, rows
    names = SECTION_KEYS[section]
    text = s.t(
        "settings.menu.section",
        locale,
        title=plain(f"settings.section.{section}", locale),
        lines=summary(s, locale, values, names),
        hint=s.t(f"settings.hint.{section}", locale),
    )
    by = settings_mod.BY_NAME
    if section in ("study", "quiz"):
        toggle = by[section]
        on = values[toggle.key]
        rows.append([value_button(s, locale, toggle, not on, None)])
        time_spec = by[f"{section}_time"]
        presets = TIME_PRESETS[:6] if section == "study" else TIME_PRESETS[3:]
        rows.append(
            [value_button(s, locale, time_spec, t, values[time_spec.key]) for t in presets[:3]]
        )
        rows.append(
            [value_button(s, locale, time_spec, t, values[time_spec.key]) for t in presets[3:6]]
        )
        days_spec = by[f"{section}_days"]
        rows.append(
            [
                value_button(s, locale, days_spec, "daily", values[days_spec.key]),
                value_button(s, locale, days_spec, "workdays", values[days_spec.key]),
                Button(
                    plain("settings.button.pick_weekdays", locale),
                    data=callback("set", "wd", days_spec.name, _mask(values[days_spec.key])),
                ),
            ]
        )
        if section == "quiz":
            q = by["quiz_questions"]
            rows.append([value_button(s, locale, q, n, values[q.key]) for n in (1, 2, 3, 4, 5)])
            o = by["quiz_open_minutes"]
            rows.append([value_button(s, locale, o, n, values[o.key]) for n in (3, 5, 10)])
    elif section == "ledger":
        offsets = by["ledger_offsets"]
        rows.append(
            [
                value_button(s, locale, offsets, v, values[offsets.key])
                for v in ([3, 1], [7, 3, 1], [1])
            ]
        )
        t = by["ledger_time"]
        rows.append([value_button(s, locale, t, v, values[t.key]) for v in TIME_PRESETS[1:4]])
        e = by["ledger_escalate_days"]
        rows.append([value_button(s, locale, e, n, values[e.key]) for n in (1, 3, 5, 7)])
    elif section == "reports":
        toggle = by["report"]
        rows.append([value_button(s, locale, toggle, not values[toggle.key], None)])
        d = by["report_day"]
        rows.append([value_button(s, locale, d, n, values[d.key]) for n in range(1, 8)])
        t = by["report_time"]
        rows.append(
            [
                value_button(s, locale, t, v, values[t.key])
                for v in ("09:00", "12:00", "17:00", "17:30")
            ]
        )
        to = by["report_to"]
        rows.append([value_button(s, locale, to, v, values[to.key]) for v in ("group", "admins")])
    elif section == "language":
        lang = by["language"]
        rows.append([value_button(s, locale, lang, v, values[lang.key]) for v in ("zh_CN", "en")])
    elif section == "timezone":
        tz = by["timezone"]
        for i in range(0, len(TIMEZONE_PRESETS), 2):
            rows.append(
                [
                    value_button(s, locale, tz, v, values[tz.key])
                    for v in TIMEZONE_PRESETS[i : i + 2]
                ]
            )
    rows.append(back_row(s, locale))
    return text, rows


def _mask(days: str) -> str:
    """A weekday rule as a 7-character mask, Monday first ("1010100")."""
    if days == "daily":
        return "1" * WEEKDAY_BITS
    if days == "workdays":
        return "1111100"
    chosen = {int(d) for d in days.split(":", 1)[1].split(",")}
    return "".join("1" if n in chosen else "0" for n in range(1, 8))


def weekday_picker(
    s: Services, locale: str, spec: SettingSpec, mask: str
) -> tuple[Html, list[list[Button]]]:
    plain = s.texts.plain
    toggles = []
    for n in range(1, 8):
        flipped = mask[: n - 1] + ("0" if mask[n - 1] == "1" else "1") + mask[n:]
        name = plain(f"settings.weekday_short.{n}", locale)
        toggles.append(
            Button(
                ("✓ " if mask[n - 1] == "1" else "") + name,
                data=callback("set", "wd", spec.name, flipped),
            )
        )
    chosen = ",".join(str(n) for n in range(1, 8) if mask[n - 1] == "1")
    rows = [toggles[:4], toggles[4:]]
    if chosen:
        rows.append(
            [
                Button(
                    plain("settings.button.save", locale),
                    data=callback("set", "v", spec.name, chosen),
                )
            ]
        )
    rows.append(back_row(s, locale))
    return s.t("settings.menu.weekdays", locale, label=label(s, locale, spec)), rows


async def _load(context: Context, chat_id: int) -> tuple[Chat | None, dict[str, Any]]:
    s = svc(context)
    async with s.db.session() as session:
        chat = await session.get(Chat, chat_id)
    return chat, effective_settings(chat, s.config)


async def change(
    update: Update, context: Context, spec: SettingSpec, value: Any
) -> tuple[Any, dict[str, Any]] | None:
    """Store a change and re-derive the chat's schedules at once; None if the chat is unknown."""
    s = svc(context)
    chat_id = update.effective_chat.id if update.effective_chat else 0
    async with s.db.session() as session:
        chat = await session.get(Chat, chat_id)
        if chat is None or chat.type not in ("group", "supergroup"):
            return None
        before = effective_settings(chat, s.config)[spec.key]
        await settings_mod.apply(session, chat, spec, value)
        await s.run_chat_hooks(session, chat)
        values = effective_settings(chat, s.config)
    logger.info("chat %s: %s %r -> %r", chat_id, spec.key, before, value)
    return before, values


async def _confirm(
    update: Update, context: Context, spec: SettingSpec, values: dict[str, Any]
) -> None:
    s = svc(context)
    locale = str(values["locale"])
    who = update.effective_user.full_name if update.effective_user else ""
    await reply(
        update,
        context,
        s.t(
            "settings.changed",
            locale,
            label=label(s, locale, spec),
            value=shown(s, locale, spec, values[spec.key]),
            who=who,
        ),
    )


async def _group_only(update: Update, context: Context) -> bool:
    chat = update.effective_chat
    if chat is not None and chat.type in ("group", "supergroup"):
        return True
    s = svc(context)
    await reply(update, context, s.t("settings.group_only", await locale_of(update, context)))
    return False


async def cmd_settings(update: Update, context: Context) -> None:
    if not await _group_only(update, context) or not await require_admin(update, context):
        return
    assert update.effective_chat is not None
    s = svc(context)
    chat, values = await _load(context, update.effective_chat.id)
    if chat is None:
        await reply(update, context, s.t("settings.unknown_chat", await locale_of(update, context)))
        return
    locale = await locale_of(update, context)
    text, rows = menu(s, locale, values, "main")
    await reply(update, context, text, buttons=rows)


async def cmd_set(update: Update, context: Context) -> None:
    """/set alone lists the keys; /set KEY VALUE changes one."""
    if not await _group_only(update, context) or not await require_admin(update, context):
        return
    assert update.effective_chat is not None
    s = svc(context)
    locale = await locale_of(update, context)
    chat, values = await _load(context, update.effective_chat.id)
    if chat is None:
        await reply(update, context, s.t("settings.unknown_chat", locale))
        return
    args = list(context.args or [])
    if not args:
        await reply(
            update,
            context,
            s.t(
                "settings.keys",
                locale,
                lines=summary(
                    s, locale, values, tuple(sp.name for sp in settings_mod.SPECS), with_names=True
                ),
            ),
        )
        return
    try:
        spec, value = settings_mod.parse(args[0], " ".join(args[1:]))
    except SettingError as exc:
        await reply(update, context, s.t(exc.key, locale, **exc.values), quote=True)
        return
    result = await change(update, context, spec, value)
    if result is not None:
        await _confirm(update, context, spec, result[1])


async def cb_settings(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.message is None or update.effective_chat is None:
        return
    s = svc(context)
    if not await require_admin(update, context):
        return
    parts = (query.data or "").split(":", 3)
    action = parts[1] if len(parts) > 1 else ""
    locale = await locale_of(update, context)
    chat_id = update.effective_chat.id
    message_id = query.message.message_id
    if action == "close":
        await s.sender.answer_callback(query.id)
        await s.sender.edit(chat_id, message_id, s.t("settings.closed", locale))
        return
    _, values = await _load(context, chat_id)
    if action == "m" and len(parts) >= 3 and (parts[2] == "main" or parts[2] in SECTION_KEYS):
        text, rows = menu(s, locale, values, parts[2])
        await s.sender.answer_callback(query.id)
        await s.sender.edit(chat_id, message_id, text, buttons=rows)
        return
    if action == "wd" and len(parts) == 4 and parts[2] in settings_mod.BY_NAME:
        mask = parts[3]
        if len(mask) == WEEKDAY_BITS and set(mask) <= {"0", "1"}:
            text, rows = weekday_picker(s, locale, settings_mod.BY_NAME[parts[2]], mask)
            await s.sender.answer_callback(query.id)
            await s.sender.edit(chat_id, message_id, text, buttons=rows)
            return
    if action == "v" and len(parts) == 4:
        try:
            spec, value = settings_mod.parse(parts[2], parts[3])
        except SettingError as exc:
            await s.sender.answer_callback(
                query.id, s.texts.plain(exc.key, locale, **exc.values), alert=True
            )
            return
        result = await change(update, context, spec, value)
        if result is None:
            await s.sender.answer_callback(
                query.id, s.texts.plain("settings.unknown_chat", locale), alert=True
            )
            return
        values = result[1]
        await s.sender.answer_callback(
            query.id,
            s.texts.plain(
                "settings.changed_short",
                str(values["locale"]),
                value=shown(s, locale, spec, values[spec.key]),
            ),
        )
        section = next((sec for sec, names in SECTION_KEYS.items() if spec.name in names), "main")
        # The menu speaks the chat's (possibly new) language.
        text, rows = menu(
            s, str(values["locale"]) if spec.name == "language" else locale, values, section
        )
        await s.sender.edit(chat_id, message_id, text, buttons=rows)
        await _confirm(update, context, spec, values)
        return
    await s.sender.answer_callback(query.id, s.texts.plain("settings.stale", locale))
