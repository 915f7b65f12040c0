"""The ``firmbot notice`` subcommands (argparse only; the work is in bot.notices.tools)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bot.config import Config

Load = Callable[[argparse.Namespace], Config]

SEND_EPILOG = (
    "The running bot delivers: it looks for queued messages about every 2 seconds, so "
    "delivery starts within about 2 s. The progress bar follows it until every chat has "
    "its copy (or was skipped because the bot was removed); --no-wait prints the state "
    "and returns at once. A chat never gets the same notice twice: sending again only "
    "retries chats that failed or were skipped."
)


def add_subcommands(sub: Any, load: Load) -> None:
    """``firmbot notice parse|import|send`` on the top-level subparsers ``sub``."""

    def cmd_parse(args: argparse.Namespace) -> int:
        from bot.notices.tools import parse_command

        return parse_command(load(args), args.file, as_json=args.json)

    def cmd_import(args: argparse.Namespace) -> int:
        from bot.notices.tools import import_command

        return import_command(load(args), args.source, auto=args.auto)

    def cmd_send(args: argparse.Namespace) -> int:
        from bot.notices.tools import send_command

        return send_command(
            load(args),
            args.id,
            None if args.all else args.chat,
            wait=args.wait,
            timeout=args.timeout,
        )

    notice = sub.add_parser("notice", help="notice tools: parse, import, send")
    notice_sub = notice.add_subparsers(dest="notice_command", required=True)

    parse = notice_sub.add_parser(
        "parse", help="parse a notice file (UTF-8 or GB18030 text, or HTML) and print it"
    )
    parse.add_argument("file", help="the notice: a file, a http(s) URL, or - for stdin")
    parse.add_argument("--json", action="store_true", help="print the parsed notice as JSON")
    parse.set_defaults(handler=cmd_parse)

    imp = notice_sub.add_parser(
        "import",
        help="parse and store a notice; groups with notices on receive it automatically",
        description=(
            "Parse and store a notice. Importing the same notice again (same content, or "
            "same title and date) changes nothing and says so. Active groups whose "
            "settings have notices on get the summary queued; the running bot sends it."
        ),
    )
    imp.add_argument("source", help="a file (UTF-8/GB18030 text or HTML) or a http(s) URL")
    imp.add_argument(
        "--no-auto",
        dest="auto",
        action="store_false",
        help="store only; queue nothing (send it later with `notice send`)",
    )
    imp.set_defaults(handler=cmd_import)

    send = notice_sub.add_parser(
        "send",
        help="queue a notice's summary for chosen groups or all, and follow the delivery",
        description="Queue a notice's summary in the outbox for the chosen active groups.",
        epilog=SEND_EPILOG,
    )
    send.add_argument("id", type=int, help="the notice's number (shown by import, /notice list)")
    target = send.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--chat",
        type=int,
        action="extend",
        nargs="+",
        metavar="CHAT_ID",
        help="one or more group chat ids",
    )
    target.add_argument("--all", action="store_true", help="every active group")
    send.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="print the delivery state and return without waiting",
    )
    send.add_argument(
        "--timeout", type=float, default=None, help="stop waiting after this many seconds"
    )
    send.set_defaults(handler=cmd_send)

    for p in (parse, imp, send):
        p.add_argument("-c", "--config", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
