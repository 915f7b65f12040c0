"""``firmbot notice parse|import|send``: the association's notice tools, from a shell.

``send`` runs in its own process beside the running bot: it writes outbox rows and
watches them; the bot's outbox worker (which looks for new rows about every 2 s)
delivers them. Messages are in the config's locale.
"""

from __future__ import annotations

import asyncio
import getpass
import html
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bot.clock import Clock
from bot.config import Config
from bot.db import Database
from bot.notices import delivery, store
from bot.notices.delivery import BroadcastState
from bot.notices.fetch import FetchError, fetch, is_url
from bot.notices.parse import parse_notice
from bot.notices.render import render_summary_html
from bot.texts import Texts

EXIT_OK = 0
EXIT_FAILURE = 1
POLL_SECONDS = 0.5
_TAG = re.compile(r"<[^>]+>")


class _Failed(Exception):
    """A message for stderr; the command exits 1."""


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


def _texts(config: Config) -> Texts:
    return Texts.load(config.content_path / "locales")


def _err(message: str) -> int:
    print(f"firmbot: {message}", file=sys.stderr)
    return EXIT_FAILURE


def _read_source(source: str, texts: Texts, locale: str) -> tuple[bytes, str | None, str]:
    """(bytes, declared charset, where from) of a file, URL or ``-`` (stdin)."""
    if is_url(source):
        try:
            fetched = asyncio.run(fetch(source))
        except FetchError as exc:
            raise _Failed(
                texts.plain("notices.cli.fetch_failed", locale, url=source, reason=str(exc))
            ) from None
        return fetched.data, fetched.charset, fetched.url
    if source == "-":
        return sys.stdin.buffer.read(), None, "stdin"
    path = Path(source)
    try:
        return path.read_bytes(), None, str(path.resolve())
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _Failed(
            texts.plain("notices.cli.read_failed", locale, path=source, reason=reason)
        ) from None


# --- parse ---


def parse_command(config: Config, source: str, *, as_json: bool) -> int:
    """firmbot notice parse FILE [--json]: the parser's JSON, or the summary as text."""
    texts = _texts(config)
    try:
        data, charset, _ = _read_source(source, texts, config.locale)
    except _Failed as exc:
        return _err(str(exc))
    text = store.decode_document(data, charset)
    parsed = parse_notice(text)
    if as_json:
        out = json.dumps(parsed.to_json_dict(), ensure_ascii=False, indent=2) + "\n"
    else:
        labels = delivery.labels(texts, config.locale)
        out = _plain(render_summary_html(parsed, labels)) + "\n"
    sys.stdout.flush()
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.buffer.flush()
    return EXIT_OK


# --- import ---


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (OSError, KeyError):
        return "cli"


def import_command(config: Config, source: str, *, auto: bool = True) -> int:
    """firmbot notice import FILE|URL: store it once; queue it for groups with notices on."""
    texts = _texts(config)
    locale = config.locale
    try:
        data, charset, origin = _read_source(source, texts, locale)
    except _Failed as exc:
        return _err(str(exc))
    read = store.read_notice(data, declared_charset=charset)
    if not read.parsed.title.strip():
        return _err(texts.plain("notices.cli.empty", locale, source=source))
    lines = asyncio.run(_import(config, texts, read, origin, auto=auto))
    print("\n".join(lines))
    return EXIT_OK


async def _import(
    config: Config, texts: Texts, read: store.ReadNotice, origin: str, *, auto: bool
) -> list[str]:
    locale = config.locale
    db = Database(config.database)
    now = Clock().now()
    try:
        await db.upgrade()
        # One transaction: the notice and its automatic deliveries, or nothing.
        async with db.session() as session:
            result, plan = await delivery.import_and_queue(
                session,
                read,
                texts=texts,
                config=config,
                now=now,
                source=origin,
                imported_by=_who(),
                auto=auto,
            )
            notice = result.notice
            number, title = notice.id, notice.title
        if not result.created:
            key = (
                "notices.cli.same_content"
                if result.same == "content"
                else "notices.cli.same_title_date"
            )
            return [texts.plain(key, locale, number=number, title=title)]
        lines = [texts.plain("notices.cli.imported", locale, number=number, title=title)]
        if plan is not None:
            if plan.targets:
                lines.append(
                    texts.plain("notices.cli.auto_queued", locale, count=len(plan.targets))
                )
            else:
                lines.append(texts.plain("notices.cli.auto_none", locale))
        return lines
    finally:
        await db.dispose()


# --- send ---


def send_command(
    config: Config,
    notice_id: int,
    chat_ids: Sequence[int] | None,
    *,
    wait: bool = True,
    timeout: float | None = None,
) -> int:
    """firmbot notice send ID (--chat ID ... | --all) [--no-wait] [--timeout S]."""
    texts = _texts(config)
    try:
        return asyncio.run(_send(config, texts, notice_id, chat_ids, wait=wait, timeout=timeout))
    except _Failed as exc:
        return _err(str(exc))
    except KeyboardInterrupt:
        print(texts.plain("notices.cli.waiting", config.locale), file=sys.stderr)
        return EXIT_FAILURE


def _state_text(texts: Texts, locale: str, state: BroadcastState) -> str:
    return texts.plain(
        "notices.cli.state",
        locale,
        sent=state.sent,
        pending=state.pending,
        sending=state.sending,
        skipped=state.skipped,
        failed=state.failed,
    )


async def _send(
    config: Config,
    texts: Texts,
    notice_id: int,
    chat_ids: Sequence[int] | None,
    *,
    wait: bool,
    timeout: float | None,
) -> int:
    locale = config.locale
    db = Database(config.database)
    try:
        await db.upgrade()
        async with db.session() as session:
            notice = await store.get_notice(session, notice_id)
            if notice is None:
                raise _Failed(texts.plain("notices.cli.not_found", locale, number=notice_id))
            plan = await delivery.queue_broadcast(
                session, notice, texts=texts, config=config, now=Clock().now(), chat_ids=chat_ids
            )
            if plan.unknown:
                raise _Failed(
                    texts.plain(
                        "notices.cli.unknown_chats",
                        locale,
                        chats=", ".join(str(c) for c in plan.unknown),
                    )
                )
            if not plan.targets and not plan.inactive:
                raise _Failed(texts.plain("notices.cli.no_targets", locale))
            title = notice.title
        print(
            texts.plain(
                "notices.cli.queued",
                locale,
                number=notice_id,
                title=title,
                targets=len(plan.targets),
                added=plan.added,
                requeued=plan.requeued,
                inactive=len(plan.inactive),
            )
        )
        state = await _state(db, notice_id, plan.row_ids)
        if wait and not state.finished:
            print(texts.plain("notices.cli.waiting", locale), file=sys.stderr)
            state = await _watch(db, texts, locale, notice_id, plan.row_ids, state, timeout)
        print(_state_text(texts, locale, state))
        if not state.finished:
            if wait:
                print(texts.plain("notices.cli.timeout", locale), file=sys.stderr)
                return EXIT_FAILURE
            return EXIT_OK
        return EXIT_FAILURE if state.failed else EXIT_OK
    finally:
        await db.dispose()


async def _state(db: Database, notice_id: int, row_ids: Sequence[int]) -> BroadcastState:
    async with db.session() as session:
        return await delivery.broadcast_state(session, notice_id, row_ids)


async def _watch(
    db: Database,
    texts: Texts,
    locale: str,
    notice_id: int,
    row_ids: Sequence[int],
    state: BroadcastState,
    timeout: float | None,
) -> BroadcastState:
    """A progress bar until every row is sent, skipped or failed (or the timeout)."""
    from tqdm import tqdm

    deadline = None if timeout is None else time.monotonic() + timeout
    with tqdm(
        total=state.total,
        initial=state.done,
        desc=texts.plain("notices.cli.progress", locale),
        unit=" " + texts.plain("notices.cli.unit", locale),
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        while not state.finished:
            if deadline is not None and time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_SECONDS)
            state = await _state(db, notice_id, row_ids)
            bar.update(state.done - bar.n)
            bar.set_postfix(sent=state.sent, skipped=state.skipped, failed=state.failed)
    return state
