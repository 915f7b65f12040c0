"""The aiohttp transport under FirmBot's Bot API calls (bot/transport.py).

A small HTTP server in the test records what arrives and answers as told; the emulator
stands in for Telegram where PTB's handling of its answers matters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import BadRequest, ChatMigrated, NetworkError, TimedOut

from bot.sandbox.emulator import Emulator, EmuUser
from bot.transport import AiohttpRequest, RawBot
from tests.e2e.cluster import free_port

TOKEN = "123456:TEST-token-of-this-test"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, Any] = field(default_factory=dict)


@dataclass
class Server:
    url: str
    seen: list[Seen]
    delay: float = 0.0


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """Answers every request with a Bot API success after ``delay`` seconds."""
    seen: list[Seen] = []
    state = Server("", seen)

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        entry = Seen(request.method, str(request.url), dict(request.headers), body)
        if request.content_type == "multipart/form-data":
            entry.form = {}
            reader = await _reread(request, body)
            async for part in reader:
                entry.form[part.name or ""] = (part.filename, await part.read())
        seen.append(entry)
        if state.delay:
            await asyncio.sleep(state.delay)
        return web.json_response({"ok": True, "result": {"message_id": 7}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def _reread(request: web.Request, body: bytes) -> Any:
    """A multipart reader over a body already read."""
    from aiohttp import MultipartReader
    from aiohttp.streams import StreamReader

    stream = StreamReader(request.protocol, limit=2**16, loop=asyncio.get_running_loop())
    stream.feed_data(body)
    stream.feed_eof()
    return MultipartReader(request.headers, stream)


@pytest.fixture
async def raw_bot(server: Server) -> AsyncIterator[RawBot]:
    bot = RawBot(
        TOKEN,
        base_url=f"{server.url}/bot",
        request=AiohttpRequest(connection_pool_size=1, pool_timeout=0.2, read_timeout=0.5),
        get_updates_request=AiohttpRequest(),
    )
    await bot.request.initialize()
    try:
        yield bot
    finally:
        await bot.request.shutdown()


async def test_a_call_goes_as_json_with_chinese_text_unescaped(
    raw_bot: RawBot, server: Server
) -> None:
    result = await raw_bot.post_raw(
        "sendMessage",
        {"chat_id": -100, "text": "整改台账", "reply_markup": {"inline_keyboard": []}, "x": None},
    )
    assert result == {"message_id": 7}
    [call] = server.seen
    assert call.method == "POST" and call.path.endswith(f"/bot{TOKEN}/sendMessage")
    assert call.headers["Content-Type"] == "application/json"
    assert "整改台账".encode() in call.body  # UTF-8, not \\u escapes
    assert json.loads(call.body) == {
        "chat_id": -100,
        "text": "整改台账",
        "reply_markup": {"inline_keyboard": []},
    }
    assert call.headers["User-Agent"].startswith("python-telegram-bot")


async def test_an_upload_goes_as_multipart_with_the_file_name_in_utf8(
    raw_bot: RawBot, server: Server
) -> None:
    document = InputFile(b"PK\x03\x04 workbook", filename="整改台账_20230724.xlsx")
    await raw_bot.post_raw(
        "sendDocument", {"chat_id": -100, "document": document, "caption": "台账"}
    )
    [call] = server.seen
    assert call.headers["Content-Type"].startswith("multipart/form-data")
    assert "整改台账_20230724.xlsx".encode() in call.body  # not percent-encoded
    assert call.form["document"] == ("整改台账_20230724.xlsx", b"PK\x03\x04 workbook")
    assert call.form["caption"] == (None, "台账".encode())


async def test_a_slow_answer_is_timed_out(raw_bot: RawBot, server: Server) -> None:
    server.delay = 2.0
    with pytest.raises(TimedOut):
        await raw_bot.post_raw("sendMessage", {"chat_id": 1, "text": "x"})


async def test_waiting_for_a_free_connection_is_bounded_by_the_pool_timeout(
    raw_bot: RawBot, server: Server
) -> None:
    server.delay = 0.4  # under the read timeout, over the pool timeout
    first = asyncio.create_task(raw_bot.post_raw("sendMessage", {"chat_id": 1, "text": "a"}))
    await asyncio.sleep(0.05)
    with pytest.raises(TimedOut):
        await raw_bot.post_raw("sendMessage", {"chat_id": 1, "text": "b"})
    assert await first == {"message_id": 7}
    assert len(server.seen) == 1  # the second call was never sent


async def test_a_refused_connection_is_a_network_error_without_the_token() -> None:
    bot = RawBot(
        TOKEN,
        base_url=f"http://127.0.0.1:{free_port()}/bot",  # nothing listens there
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(),
    )
    await bot.request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await bot.post_raw("getMe", {})
    finally:
        await bot.request.shutdown()
    assert not isinstance(caught.value, TimedOut)
    assert "aiohttp.ClientConnectorError" in caught.value.message
    assert TOKEN.split(":")[1] not in str(caught.value)


async def test_a_call_before_initialize_says_so() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/x", "POST")


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A stand-in HTTP proxy: records each request's first line and headers; answers a
    plain request with a Bot API success and refuses every tunnel (CONNECT)."""
    heads: list[tuple[str, dict[str, str]]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *rest = head.decode().split("\r\n")
                headers = dict(h.split(": ", 1) for h in rest if h)
                heads.append((line, headers))
                if line.startswith("CONNECT "):
                    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    return
                await reader.readexactly(int(headers.get("Content-Length", "0")))
                body = b'{"ok": true, "result": true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://firm%40proxy:s3cret@127.0.0.1:{port}", heads
    finally:
        listener.close()
        await listener.wait_closed()


async def test_the_environments_proxy_is_used_with_its_credentials(
    proxy: tuple[str, list[tuple[str, dict[str, str]]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, heads = proxy
    for name in ("http_proxy", "https_proxy"):
        monkeypatch.setenv(name, address)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    request = AiohttpRequest()
    await request.initialize()
    try:
        for _ in range(2):
            status, _body = await request.do_request(
                "http://api.telegram.invalid/botX/getMe", "POST"
            )
            assert status == 200
        with pytest.raises(NetworkError):  # this proxy refuses tunnels
            await request.do_request("https://api.telegram.invalid/botX/getMe", "POST")
    finally:
        await request.shutdown()
    credentials = "Basic ZmlybUBwcm94eTpzM2NyZXQ="  # firm@proxy:s3cret
    plain, again, tunnel = heads
    # A proxy receives a plain request's absolute URL, with the credentials.
    for line, headers in (plain, again):
        assert line == "POST http://api.telegram.invalid/botX/getMe HTTP/1.1"
        assert headers["Proxy-Authorization"] == credentials
    # HTTPS asks it for a tunnel to the host, with the credentials.
    assert tunnel[0] == "CONNECT api.telegram.invalid:443 HTTP/1.1"
    assert tunnel[1]["Proxy-Authorization"] == credentials


async def test_no_proxy_hosts_are_reached_directly(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    request = AiohttpRequest()
    await request.initialize()
    try:
        status, body = await request.do_request(f"{server.url}/botX/getMe", "POST")
    finally:
        await request.shutdown()
    assert status == 200 and json.loads(body)["ok"] is True


# --- through PTB, against the emulator ---


async def test_ptb_maps_the_emulators_errors_as_with_its_own_client() -> None:
    async with Emulator() as emulator:
        chat = emulator.create_group("示范律师事务所")
        owner = EmuUser(1, "张三")
        emulator.set_member(chat.id, owner, "creator")
        emulator.add_bot(chat.id, owner)
        bot = RawBot(
            emulator.token,
            base_url=emulator.base_url,
            request=AiohttpRequest(),
            get_updates_request=AiohttpRequest(),
        )
        async with bot:
            sent = await bot.post_raw(
                "sendMessage", {"chat_id": chat.id, "text": "<b>你好</b>", "parse_mode": "HTML"}
            )
            assert sent["text"] == "你好" and sent["entities"][0]["type"] == "bold"
            message = await bot.send_message(chat.id, "第二条")  # PTB's own methods work too
            assert message.text == "第二条" and message.chat.id == chat.id
            with pytest.raises(BadRequest, match=r"(?i)chat not found"):
                await bot.post_raw("sendMessage", {"chat_id": -999, "text": "x"})
            new_id = emulator.upgrade_group(chat.id)
            with pytest.raises(ChatMigrated) as caught:
                await bot.post_raw("sendMessage", {"chat_id": chat.id, "text": "x"})
            assert caught.value.new_chat_id == new_id
