"""Fetch a notice page over HTTP(S) with httpx: timeouts, a size cap, the declared charset."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_BYTES = 10 * 1024 * 1024
USER_AGENT = "FirmBot notice importer (+https://core.telegram.org/bots)"


class FetchError(Exception):
    """The page cannot be had; the message says why in a few words (no traceback)."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    charset: str | None  # from Content-Type, if the server said


def is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


async def fetch(url: str, *, timeout: float = READ_TIMEOUT, max_bytes: int = MAX_BYTES) -> Fetched:
    """GET the page, following redirects; FetchError on any failure."""
    limits = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
    try:
        async with (
            httpx.AsyncClient(
                timeout=limits, follow_redirects=True, headers={"User-Agent": USER_AGENT}
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"larger than {max_bytes // (1024 * 1024)} MB")
                chunks.append(chunk)
            return Fetched(str(response.url), b"".join(chunks), response.charset_encoding)
    except httpx.TimeoutException:
        raise FetchError(f"no answer within {timeout:g} s") from None
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL ({exc})") from None
    except httpx.HTTPError as exc:
        raise FetchError(str(exc) or type(exc).__name__) from None
