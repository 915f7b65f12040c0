"""The ``firmbot`` command: run, sandbox, check-config, db upgrade, and feature tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bot.config import ENV_TOKEN, Config, ConfigError, load_config
from bot.content.errors import ContentError

logger = logging.getLogger("firmbot")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

NO_TOKEN_MESSAGE = (
    "firmbot: no bot token. Set it with `export {env}=123456:ABC...` (from @BotFather) "
    "or telegram.token in the config file; to try FirmBot offline, run `firmbot sandbox`."
)


class RedactingFilter(logging.Filter):
    """Replaces secrets (the bot token, webhook secrets) in every log record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.exc_text, record.exc_info = text, None
        return True


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Only the entry point configures logging; chatty libraries are turned down."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs request URLs, and a Bot API URL contains the token.
    for name in ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # PTB logs the token ("Set Bot API URL") and setWebhook's secret at DEBUG; the filter
    # above redacts them, but a handler added later would not. Keep them out at the source.
    for name in ("telegram.Bot", "telegram.ext.ExtBot", "telegram._bot"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelNamesMapping()[level]))


def _fail(message: str, code: int = EXIT_FAILURE) -> int:
    print(f"firmbot: {message}", file=sys.stderr)
    return code


def _load(args: argparse.Namespace) -> Config:
    path = args.config
    if path is None and Path("config.yaml").is_file():
        path = "config.yaml"
    return load_config(path)


# --- run ---


async def _serve(config: Config) -> int:
    from bot.app import build_application, freeze_startup_objects, running
    from bot.db import DatabaseUnavailable

    app = build_application(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running(app, poll_timeout=config.telegram.poll_timeout):
            freeze_startup_objects()
            logger.info("FirmBot is running as @%s; Ctrl+C stops it", app.bot.username)
            await stop.wait()
    except DatabaseUnavailable as exc:
        return _fail(str(exc))
    logger.info("stopped")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    if not config.telegram.token:
        print(NO_TOKEN_MESSAGE.format(env=ENV_TOKEN), file=sys.stderr)
        return EXIT_USAGE
    secrets = [config.telegram.token, config.webhook.secret_token]
    setup_logging(config.log_level, [secret for secret in secrets if secret])
    from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError

    try:
        return asyncio.run(_serve(config))
    except InvalidToken:
        return _fail("Telegram rejected the bot token (check FIRMBOT_TOKEN)")
    except BadRequest as exc:  # a NetworkError in PTB, but Telegram did answer
        return _fail(f"Telegram refused to start the bot: {exc}")
    except NetworkError as exc:
        return _fail(f"cannot reach the Bot API at {config.telegram.base_url}: {exc}")
    except TelegramError as exc:
        # e.g. setWebhook refused: "bad webhook: ..."; Telegram's messages hold no secrets.
        return _fail(f"Telegram refused to start the bot: {exc}")


# --- check-config ---


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.content.loader import load_content

    config = _load(args)
    content = load_content(config.content_path, config.extra_content)
    print(
        f"config ok; content ok: {len(content.requirements)} requirements, "
        f"{len(content.curriculum)} study prompts, {len(content.questions)} quiz questions, "
        f"{len(content.texts.catalogs)} locales"
    )
    return EXIT_OK


# --- db ---


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.db import Database, safe_url

    config = _load(args)

    async def upgrade() -> None:
        db = Database(config.database)
        try:
            await db.upgrade()
        finally:
            await db.dispose()

    asyncio.run(upgrade())
    print(f"database {safe_url(config.database.url)} is up to date")
    return EXIT_OK


# --- sandbox ---


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox.repl import run_sandbox

    script = None
    if args.script is not None:
        script = Path(args.script).read_text(encoding="utf-8").splitlines()
    return asyncio.run(run_sandbox(script=script, echo=script is not None))


# --- ledger ---


def cmd_ledger_export(args: argparse.Namespace) -> int:
    from bot.ledger.tools import export_command

    return export_command(_load(args), args.chat, Path(args.output))


def cmd_ledger_import(args: argparse.Namespace) -> int:
    from bot.ledger.tools import import_command

    return import_command(_load(args), args.chat, Path(args.file))


# --- reports ---


def cmd_report_firms(args: argparse.Namespace) -> int:
    """The association's firm list as .xlsx, from the database (the bot need not run)."""
    from bot.clock import Clock
    from bot.db import Database
    from bot.report_xlsx import firms_xlsx
    from bot.reports import FirmRow, firms_overview
    from bot.texts import Texts

    config = _load(args)
    texts = Texts.load(config.content_path / "locales")

    async def rows() -> list[FirmRow]:
        db = Database(config.database)
        try:
            await db.ping()
            async with db.session() as session:
                return list(await firms_overview(session, Clock().now(), config.zone, args.sort))
        finally:
            await db.dispose()

    found = asyncio.run(rows())
    today = Clock().now().astimezone(config.zone).date()
    data = firms_xlsx(texts, config.locale, found, today)
    Path(args.output).write_bytes(data)
    print(f"{len(found)} firm groups written to {args.output}")
    return EXIT_OK


Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firmbot", description="FirmBot, a study assistant for law firms"
    )
    parser.add_argument(
        "-c", "--config", help="YAML config file (default: ./config.yaml if present)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("-c", "--config", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
        p.set_defaults(handler=handler)
        return p

    add("run", cmd_run, "run the bot (long polling, or webhook as configured)")
    add("check-config", cmd_check_config, "validate the config and every content file")
    db = sub.add_parser("db", help="database tools")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the database migrations")
    up.add_argument("-c", "--config", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
    up.set_defaults(handler=cmd_db_upgrade)
    sandbox = add("sandbox", cmd_sandbox, "try the bot offline against a local emulator")
    sandbox.add_argument("--script", help="read the lines from a file instead of the keyboard")
    # Feature tools register their subcommands here.
    from bot.notices.commands import add_subcommands as add_notice_commands

    add_notice_commands(sub, _load)
    ledger = sub.add_parser("ledger", help="rectification ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    export = ledger_sub.add_parser("export", help="write a chat's ledger as .xlsx")
    export.add_argument("--chat", type=int, required=True, help="the group's chat id")
    export.add_argument("-o", "--output", required=True, help="the .xlsx file to write")
    export.set_defaults(handler=cmd_ledger_export)
    ledger_import = ledger_sub.add_parser("import", help="import a .xlsx into a chat's ledger")
    ledger_import.add_argument("--chat", type=int, required=True, help="the group's chat id")
    ledger_import.add_argument("file", help="the .xlsx file (the export's layout)")
    ledger_import.set_defaults(handler=cmd_ledger_import)
    for p in (export, ledger_import):
        p.add_argument("-c", "--config", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
    report = sub.add_parser("report", help="reports")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    firms = report_sub.add_parser("firms", help="every firm group's participation as .xlsx")
    firms.add_argument("-o", "--output", required=True, help="the .xlsx file to write")
    firms.add_argument(
        "--sort", choices=("participation", "overdue", "name"), default="participation"
    )
    firms.add_argument("-c", "--config", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
    firms.set_defaults(handler=cmd_report_firms)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Opt in to PTB's coming timedelta fields now instead of a warning per flood wait.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    except ContentError as exc:
        return _fail(f"content error: {exc}")
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except Exception as exc:
        from bot.db import DatabaseUnavailable

        if isinstance(exc, DatabaseUnavailable):
            return _fail(str(exc))
        raise


if __name__ == "__main__":
    sys.exit(main())
