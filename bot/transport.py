"""The HTTP client under every Bot API call (aiohttp instead of PTB's default httpx), and
the bot object that can take an answer without parsing it.

PTB lets an application bring its own ``BaseRequest`` (its documented extension point for
the network backend); everything above it (error mapping by status code, JSON decoding,
``RetryAfter``, ``ChatMigrated``) stays PTB's. Why: one API call through httpx and
httpcore costs about 0.5 ms of CPU on this project's machines, through aiohttp about
0.13 ms (bench/README.md, "the transport"). FirmBot makes one call per ``getUpdates`` and
one or two per update it answers, and 10,000 sends on a busy morning.

Bodies are JSON (``application/json``, which the Bot API accepts for every method without
a file) rather than the URL-encoded form PTB's default sends: percent-encoding a Chinese
text costs a Python-level step per byte. Calls that upload a file go as
``multipart/form-data`` as before.

Timeouts follow ``HTTPXRequest``'s meaning: ``connect`` to open a connection, ``read``
between bytes of the answer, ``pool`` to wait for a free connection (a semaphore of the
pool's size: aiohttp's own bound would count the wait and the connect together), ``write``
bounds the whole call of an upload (aiohttp has no per-write timeout; other bodies are
small). Any timeout becomes ``TimedOut``, any other client error ``NetworkError``. A proxy
comes from the environment (``HTTPS_PROXY``, ``NO_PROXY``), as with httpx; it is looked up
once per host, not per call as aiohttp's ``trust_env`` does (it reads the environment and
``~/.netrc`` on a thread every time).

``RawBot.post_raw`` makes a call and returns Telegram's JSON answer as it came. The
sender uses it for the messages it sends and edits, where only the message id matters:
PTB would build a ``Message`` with its entities and every button of its keyboard from the
answer, a sixth of the CPU a ``/ledger`` reply costs (bench/README.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.parse
import urllib.request
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue  # as PTB's own HTTPXRequest uses it
from telegram.error import NetworkError, TimedOut
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT = 5.0  # seconds, as HTTPXRequest's connect, read and write
MEDIA_WRITE_TIMEOUT = 20.0
# A timeout argument: seconds, None for no limit, or PTB's "not given" marker.
Timeout = float | None | DefaultValue[float] | DefaultValue[None]


def _chosen(value: Timeout, default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _sum(*parts: float | None) -> float | None:
    """A bound over several steps; none if any step is unbounded."""
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` on one ``aiohttp.ClientSession`` with a bounded connection pool."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxies",
        "_read_timeout",
        "_session",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        *,
        connection_pool_size: int = 1,
        read_timeout: float | None = DEFAULT_TIMEOUT,
        write_timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_TIMEOUT,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        # Made on the running loop by initialize(): aiohttp binds a session to its loop.
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._proxies: dict[str, tuple[str | None, dict[str, str]]] = {}

    def _proxy_for(self, url: str) -> tuple[str | None, dict[str, str]]:
        """The environment's proxy for this URL's host, and the headers for it (its
        credentials as ``Proxy-Authorization``)."""
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._proxies:
            proxy = urllib.request.getproxies().get(parts.scheme)
            if proxy is None or urllib.request.proxy_bypass(parts.hostname or ""):
                self._proxies[origin] = (None, {})
            else:
                address = urllib.parse.urlsplit(proxy)
                headers = {}
                if address.username:
                    login = urllib.parse.unquote(address.username)
                    password = urllib.parse.unquote(address.password or "")
                    token = base64.b64encode(f"{login}:{password}".encode()).decode()
                    headers["Proxy-Authorization"] = f"Basic {token}"
                    host = address.netloc.rpartition("@")[2]
                    proxy = urllib.parse.urlunsplit(address._replace(netloc=host))
                self._proxies[origin] = (proxy, headers)
        return self._proxies[origin]

    @property
    def read_timeout(self) -> float | None:
        """PTB adds this to a long poll's ``timeout`` for ``getUpdates``."""
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is not None and not self._session.closed:
            return
        self._slots = asyncio.Semaphore(self._pool_size)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._pool_size),
            # Telegram sets no cookies; a real jar would inspect every answer for them.
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": self.USER_AGENT},
        )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        write_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        connect_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        pool_timeout: Timeout = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = _chosen(read_timeout, self._read_timeout)
        connect = _chosen(connect_timeout, self._connect_timeout)
        pool = _chosen(pool_timeout, self._pool_timeout)
        body: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] = {}
        total: float | None = None
        if request_data is not None and request_data.contains_files:
            # Unquoted: a Chinese file name goes as UTF-8, as browsers and httpx send it;
            # aiohttp's default would percent-encode it and Telegram would show that.
            form = aiohttp.FormData(request_data.json_parameters, quote_fields=False)
            for name, (filename, content, mime) in request_data.multipart_data.items():
                form.add_field(name, content, filename=filename, content_type=mime)
            body = form
            write = _chosen(write_timeout, self._media_write_timeout)
            total = _sum(pool, connect, write, read)
        elif request_data is not None and (parameters := request_data.parameters):
            body = json.dumps(parameters, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        proxy, proxy_headers = self._proxy_for(url)
        if proxy_headers and url.startswith("http:"):
            # Plain HTTP goes to the proxy itself; HTTPS sends these with its CONNECT.
            headers.update(proxy_headers)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)
        slots = self._slots
        assert slots is not None
        try:
            # The pool: a free connection within ``pool`` seconds, or the call is not sent.
            if slots.locked():
                await asyncio.wait_for(slots.acquire(), pool)
            else:
                await slots.acquire()
        except TimeoutError:
            raise TimedOut(
                "Pool timeout: all connections are busy; the request was not sent"
            ) from None
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                proxy=proxy,
                proxy_headers=proxy_headers or None,
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            raise TimedOut(f"{type(exc).__name__}: {exc}" if str(exc) else None) from exc
        except aiohttp.ClientError as exc:
            # The class name helps when the message is empty. aiohttp names the host here,
            # never the path (where the token is); the log filter redacts it regardless.
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        finally:
            slots.release()


class RawBot(ExtBot[None]):
    """PTB's ``ExtBot`` with one more way to call the API (subclassing is PTB's own way to
    extend the bot; ``_post`` is what every method of it calls)."""

    async def post_raw(self, endpoint: str, data: dict[str, Any]) -> Any:
        """Call ``endpoint`` with ``data`` (JSON-ready values; None values are left out);
        the answer's ``result`` as decoded JSON. Errors raise as for any PTB call."""
        return await self._post(endpoint, data)
