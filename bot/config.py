"""YAML + environment -> one validated, typed, frozen configuration object.

Loaded once at start-up. A bad value stops start-up with ``ConfigError``, whose
message names the key path and the reason, e.g. ``database.url: unsupported scheme "mysql2"``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_TOKEN = "FIRMBOT_TOKEN"
ENV_DATABASE_URL = "FIRMBOT_DATABASE_URL"
ENV_WEBHOOK_SECRET = "FIRMBOT_WEBHOOK_SECRET"
ENV_WEBHOOK_PORT = "FIRMBOT_WEBHOOK_PORT"
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///firmbot.db"
SUPPORTED_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
# Short forms people type; rewritten to the async driver we ship.
SCHEME_ALIASES = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}
LOCALES = ("zh_CN", "en")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_WEEKDAYS = re.compile(r"^(daily|workdays|weekdays:[1-7](,[1-7])*)$")
# Telegram's rule for setWebhook's secret_token.
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(Exception):
    """The configuration is unusable; the message is one line naming the cause."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_hhmm(value: str) -> time:
    """'8:30' or '08:30' -> time(8, 30); ValueError otherwise."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ValueError(f'expected a time as HH:MM, got "{value}"')
    return time(int(match.group(1)), int(match.group(2)))


def check_days(value: str) -> str:
    """Validate a schedule's days: daily | workdays | weekdays:1,3,5 (1 = Monday)."""
    value = value.strip().replace(" ", "")
    if not _WEEKDAYS.match(value):
        raise ValueError(f'expected daily, workdays or weekdays:1,3,5 (1 = Monday), got "{value}"')
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'Asia' is a directory
        raise ValueError(f'unknown time zone "{value}"') from None
    return value


def _hhmm_str(value: str) -> str:
    parsed = parse_hhmm(value)
    return f"{parsed.hour:02d}:{parsed.minute:02d}"


HHMM = Annotated[str, AfterValidator(_hhmm_str)]
Days = Annotated[str, AfterValidator(check_days)]
TimeZoneName = Annotated[str, AfterValidator(check_timezone)]


class TelegramConfig(_Frozen):
    token: str | None = None
    base_url: str = DEFAULT_BASE_URL
    base_file_url: str | None = None
    mode: Literal["polling", "webhook"] = "polling"
    poll_timeout: int = Field(default=30, ge=0, le=60)
    # How many updates are processed at once (PTB concurrent_updates).
    concurrent_updates: int = Field(default=16, ge=1, le=512)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^\d+:[A-Za-z0-9_-]+$", value):
            # Never echo the value: it may be a real secret with a typo.
            raise ValueError("does not look like a bot token (expected <digits>:<letters>)")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError(f'must start with http:// or https://, got "{value}"')
        return value

    def file_url(self) -> str:
        if self.base_file_url:
            return self.base_file_url
        # https://host/bot -> https://host/file/bot, as Telegram lays it out.
        if self.base_url.endswith("/bot"):
            return self.base_url[: -len("/bot")] + "/file/bot"
        return self.base_url.rstrip("/") + "/file/bot"


class DatabaseConfig(_Frozen):
    url: str = DEFAULT_DATABASE_URL
    echo: bool = False
    pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError(f'expected a URL like {DEFAULT_DATABASE_URL}, got "{value}"')
        scheme = SCHEME_ALIASES.get(scheme, scheme)
        if scheme not in SUPPORTED_SCHEMES:
            raise ValueError(
                f'unsupported scheme "{value.partition("://")[0]}" '
                f"(use sqlite+aiosqlite or postgresql+asyncpg)"
            )
        return f"{scheme}://{rest}"

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class WebhookConfig(_Frozen):
    """Webhook mode: Telegram POSTs updates to ``url``; nginx passes them to ``listen:port``."""

    # The public HTTPS address Telegram posts to (nginx's), e.g. https://bot.example.org/telegram.
    url: str | None = None
    listen: str = "127.0.0.1"
    # Env FIRMBOT_WEBHOOK_PORT wins (one config file, one port per process).
    port: int = Field(default=8081, ge=1, le=65535)
    path: str = "/telegram"
    # Env FIRMBOT_WEBHOOK_SECRET wins. Updates without it in the header are refused.
    secret_token: str | None = None
    # Simultaneous connections Telegram may open to deliver updates (setWebhook).
    max_connections: int = Field(default=40, ge=1, le=100)
    # An update claimed by a process that died is handled by another one after this.
    claim_lease_seconds: int = Field(default=60, ge=5, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f'must be an http:// or https:// address, got "{value}"')
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not re.match(r"^/[A-Za-z0-9_./-]*$", value):
            raise ValueError(f'must start with "/" and be a plain URL path, got "{value}"')
        return value

    @field_validator("secret_token")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _SECRET_TOKEN.match(value):
            # Never echo the value: it is a secret.
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value


class HttpConfig(_Frozen):
    """/healthz and /metrics in polling mode (webhook mode serves them on webhook.port)."""

    listen: str = "127.0.0.1"
    # None: no HTTP server in polling mode.
    port: int | None = Field(default=None, ge=1, le=65535)


class SchedulingConfig(_Frozen):
    # Slots missed while the bot was down run once on start if younger than this.
    grace_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)
    # How often the JobQueue wakes the scheduler up; the DB decides what is due.
    tick_seconds: float = Field(default=20.0, gt=0, le=3600)
    # A claim held this long by a process that never finished is taken over.
    lease_seconds: int = Field(default=300, ge=10, le=86400)
    # China's official calendar, for years the chinesecalendar package does not know yet.
    extra_holidays: tuple[str, ...] = ()
    extra_workdays: tuple[str, ...] = ()

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)


class SenderConfig(_Frozen):
    global_per_second: float = Field(default=30.0, gt=0)
    group_per_minute: int = Field(default=20, ge=1)
    private_per_second: float = Field(default=1.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    # The most messages in flight at once; hides API latency without exceeding the rate.
    concurrency: int = Field(default=16, ge=1, le=256)


class StudyDefaults(_Frozen):
    enabled: bool = True
    time: HHMM = "09:00"
    days: Days = "workdays"
    # How long a collective study session's attendance stays open.
    session_minutes: int = Field(default=90, ge=10, le=600)


class QuizDefaults(_Frozen):
    enabled: bool = True
    time: HHMM = "20:00"
    days: Days = "workdays"
    questions: int = Field(default=3, ge=1, le=10)
    open_minutes: int = Field(default=10, ge=1, le=10)


def _offsets(value: tuple[int, ...]) -> tuple[int, ...]:
    if any(day < 1 or day > 60 for day in value):
        raise ValueError("each offset must be between 1 and 60 days")
    return tuple(sorted(set(value), reverse=True))


class LedgerDefaults(_Frozen):
    reminder_offsets_days: Annotated[tuple[int, ...], AfterValidator(_offsets)] = (3, 1)
    reminder_time: HHMM = "09:00"
    escalate_after_days: int = Field(default=3, ge=1, le=60)


class ReportDefaults(_Frozen):
    weekly: bool = True
    day: int = Field(default=5, ge=1, le=7)  # 1 = Monday
    time: HHMM = "17:00"
    to: Literal["group", "admins"] = "group"


class Config(_Frozen):
    telegram: TelegramConfig = TelegramConfig()
    database: DatabaseConfig = DatabaseConfig()
    webhook: WebhookConfig = WebhookConfig()
    http: HttpConfig = HttpConfig()
    timezone: TimeZoneName = "Asia/Shanghai"
    locale: Literal["zh_CN", "en"] = "zh_CN"
    admins: tuple[int, ...] = ()
    content_dir: str | None = None
    # Extra curriculum / quiz files a firm adds on top of the shipped ones.
    extra_content: tuple[str, ...] = ()
    notices_auto: bool = True
    scheduling: SchedulingConfig = SchedulingConfig()
    sender: SenderConfig = SenderConfig()
    study: StudyDefaults = StudyDefaults()
    quiz: QuizDefaults = QuizDefaults()
    ledger: LedgerDefaults = LedgerDefaults()
    reports: ReportDefaults = ReportDefaults()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def content_path(self) -> Path:
        from bot.content.paths import default_content_dir

        return Path(self.content_dir) if self.content_dir else default_content_dir()


def _format_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    path = ".".join(str(part) for part in err["loc"]) or "(top level)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{path}: {msg}"


def build_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """Validate a mapping (parsed YAML); environment variables win over it."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {key: value for key, value in data.items()}
    for key in ("telegram", "database", "webhook"):
        section = merged.get(key)
        if section is None:
            merged[key] = {}
        elif not isinstance(section, Mapping):
            raise ConfigError(f"{key}: expected a mapping of keys, got {type(section).__name__}")
        else:
            merged[key] = dict(section)
    if env.get(ENV_TOKEN):
        merged["telegram"]["token"] = env[ENV_TOKEN]
    if env.get(ENV_DATABASE_URL):
        merged["database"]["url"] = env[ENV_DATABASE_URL]
    if env.get(ENV_WEBHOOK_SECRET):
        merged["webhook"]["secret_token"] = env[ENV_WEBHOOK_SECRET]
    if env.get(ENV_WEBHOOK_PORT):
        merged["webhook"]["port"] = env[ENV_WEBHOOK_PORT]
    try:
        config = Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None
    check_mode(config)
    return config


def check_mode(config: Config) -> None:
    """Keys that depend on telegram.mode; ConfigError naming the key otherwise."""
    if config.telegram.mode == "webhook":
        if config.webhook.url is None:
            raise ConfigError(
                "webhook.url: required when telegram.mode is webhook "
                "(the public https:// address Telegram posts updates to)"
            )
        if config.webhook.secret_token is None:
            raise ConfigError(
                f"webhook.secret_token: required when telegram.mode is webhook "
                f"(or set {ENV_WEBHOOK_SECRET}; 1-256 characters of A-Z, a-z, 0-9, _ and -)"
            )
        if config.http.port is not None:
            raise ConfigError(
                "http.port: not used in webhook mode; /healthz and /metrics are served "
                "on webhook.port"
            )


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Load the YAML file (None: defaults only) and the environment."""
    data: Any = {}
    if path is not None:
        file = Path(path)
        try:
            raw = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{file}: file not found (copy config.example.yaml)") from None
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read ({exc.strerror})") from None
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(
                f"{file}:{where} invalid YAML ({getattr(exc, 'problem', exc)})"
            ) from None
        if not isinstance(data, Mapping):
            raise ConfigError(f"{file}: expected a mapping of keys at the top level")
    return build_config(data, env)
