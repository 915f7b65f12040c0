"""The sender's limiter after a stall and during a pause, on a fake clock."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from bot import sender as sender_mod
from bot.config import SenderConfig


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fake monotonic clock; the limiter's sleeps move it instead of waiting."""
    clock = [100.0]
    monkeypatch.setattr(sender_mod.time, "monotonic", lambda: clock[0])

    async def sleep(seconds: float) -> None:
        clock[0] += max(seconds, 0.0)

    real = sender_mod.asyncio
    monkeypatch.setattr(sender_mod, "asyncio", SimpleNamespace(sleep=sleep, Lock=real.Lock))
    return clock


def most_in_a_second(times: list[float]) -> int:
    return max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))


async def test_after_a_stall_the_late_messages_do_not_burst_past_the_limit(
    now: list[float],
) -> None:
    limiter = sender_mod.Limiter(SenderConfig(global_per_second=30))
    booked = [limiter._reserve(-n)[0] for n in range(1, 91)]
    left: list[float] = []
    for at in booked[:10]:  # on time
        now[0] = max(now[0], at)
        assert await limiter._leave()
        left.append(now[0])
    now[0] += 0.5  # the event loop stalls half a second (a full garbage collection)
    for at in booked[10:]:
        now[0] = max(now[0], at)
        assert await limiter._leave()
        left.append(now[0])
    assert len(left) == 90
    assert most_in_a_second(left) <= limiter.global_per_window == 29


async def test_undisturbed_sends_keep_their_spacing(now: list[float]) -> None:
    limiter = sender_mod.Limiter(SenderConfig(global_per_second=30))
    left = []
    for n in range(1, 121):
        await limiter.acquire(-n)
        left.append(now[0])
    gaps = [b - a for a, b in itertools.pairwise(left)]
    assert min(gaps) >= 1 / 30
    assert most_in_a_second(left) <= 29
    assert 120 / (left[-1] - left[0] + gaps[0]) > 30 * 0.96


async def test_a_send_booked_before_a_retry_after_waits_for_its_end(now: list[float]) -> None:
    limiter = sender_mod.Limiter(SenderConfig(global_per_second=30))
    at, booked = limiter._reserve(-1)
    assert booked and at == now[0]
    limiter.pause(1.0)  # another send was told "retry after 1"
    assert not await limiter._leave()
    start = now[0]
    await limiter.acquire(-1)
    assert now[0] >= start + 1.0
