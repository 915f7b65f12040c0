"""Settings: parsers, and the texts the menu looks up by name exist in every locale."""

from __future__ import annotations

import pytest

from bot import settings
from bot.content.paths import default_content_dir
from bot.settings import SettingError
from bot.texts import LOCALES, Texts
from handlers.settings import SECTION_KEYS, SECTIONS


def test_menu_texts_exist_for_every_setting_and_section() -> None:
    texts = Texts.load(default_content_dir() / "locales")
    keys = [f"settings.name.{spec.name}" for spec in settings.SPECS]
    keys += [f"settings.section.{s}" for s in SECTIONS] + [f"settings.hint.{s}" for s in SECTIONS]
    keys += [f"settings.weekday.{n}" for n in range(1, 8)]
    keys += [f"settings.weekday_short.{n}" for n in range(1, 8)]
    keys += ["settings.value.to_group", "settings.value.to_admins"]
    keys += ["settings.value.lang_zh_CN", "settings.value.lang_en"]
    missing = [(k, loc) for k in keys for loc in LOCALES if not texts.has(k, loc)]
    assert missing == []
    assert {n for names in SECTION_KEYS.values() for n in names} | {"notices"} == set(
        settings.BY_NAME
    )


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("study_days", "工作日", "workdays"),
        ("study_days", "每天", "daily"),
        ("study_days", "星期一、星期五", "weekdays:1,5"),
        ("study_days", "mon,fri", "weekdays:1,5"),
        ("study_days", "weekdays:3", "weekdays:3"),
        ("study_time", "8：30", "08:30"),
        ("study_time", "8.30", "08:30"),
        ("study", "开启", True),
        ("language", "中文", "zh_CN"),
        ("timezone", "UTC", "UTC"),
        ("ledger_offsets", "1 3 3", [3, 1]),
    ],
)
def test_parsers_accept_common_forms(name: str, raw: str, value: object) -> None:
    assert settings.parse(name, raw)[1] == value


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("study_days", "8"),
        ("study_time", "24:00"),
        ("quiz_questions", "-1"),
        ("timezone", "Shanghai"),
    ],
)
def test_parsers_refuse(name: str, raw: str) -> None:
    with pytest.raises(SettingError):
        settings.parse(name, raw)
