"""Config: defaults, environment precedence, and errors that name the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import ConfigError, build_config, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid_and_documents_every_section() -> None:
    config = load_config(ROOT / "config.example.yaml", env={})
    assert config.database.url == "sqlite+aiosqlite:///firmbot.db"
    assert config.timezone == "Asia/Shanghai"
    assert config.study.time == "09:00"
    assert config.study.days == "workdays"
    assert config.quiz.questions == 3
    assert config.ledger.reminder_offsets_days == (3, 1)
    assert config.telegram.token is None


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "telegram: {token: '111:AAA'}\ndatabase: {url: 'sqlite:///a.db'}\n", encoding="utf-8"
    )
    config = load_config(
        path,
        env={"FIRMBOT_TOKEN": "222:BBB", "FIRMBOT_DATABASE_URL": "postgresql://u:p@h/db"},
    )
    assert config.telegram.token == "222:BBB"
    assert config.database.url == "postgresql+asyncpg://u:p@h/db"


def test_short_scheme_is_upgraded_to_the_async_driver() -> None:
    assert build_config({"database": {"url": "sqlite:///x.db"}}, env={}).database.url == (
        "sqlite+aiosqlite:///x.db"
    )


def test_config_is_frozen() -> None:
    config = build_config({}, env={})
    with pytest.raises(ValidationError):
        config.timezone = "UTC"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"database": {"url": "mysql2://x/y"}}, 'database.url: unsupported scheme "mysql2"'),
        ({"database": {"url": "nonsense"}}, "database.url: expected a URL"),
        ({"timezone": "Mars/Base"}, 'timezone: unknown time zone "Mars/Base"'),
        ({"study": {"time": "25:00"}}, 'study.time: expected a time as HH:MM, got "25:00"'),
        ({"study": {"days": "sometimes"}}, "study.days: expected daily, workdays or weekdays"),
        ({"quiz": {"questions": 0}}, "quiz.questions: Input should be greater than or equal to 1"),
        ({"locale": "fr"}, "locale: Input should be 'zh_CN' or 'en'"),
        ({"telegram": {"token": "not a token"}}, "telegram.token: does not look like a bot token"),
        ({"telegram": {"base_url": "ftp://x"}}, "telegram.base_url: must start with http"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"telegram": ["a"]}, "telegram: expected a mapping"),
        ({"ledger": {"reminder_offsets_days": [3, -1]}}, "ledger.reminder_offsets_days"),
    ],
)
def test_errors_name_the_key_path_and_the_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(data, env={})
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_token_value_is_never_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"telegram": {"token": "123:secret value with spaces"}}, env={})
    assert "secret" not in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("telegram: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad, env={})
