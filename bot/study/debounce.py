"""Coalesce bursts: many triggers for one key within a short delay cost one run.

A check-in count edit is keyed by the message; 50 presses in a second become one or
two edits. The action reads the current state when it runs (not when triggered), so
the last run always shows the exact final state: a trigger that arrives while the
action runs schedules one more run after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any

logger = logging.getLogger(__name__)

Action = Callable[[], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class Debouncer:
    """Per-key trailing debounce with a configurable delay (tests shorten it).

    ``min_gap`` spaces further runs for a key that keeps being triggered: a steady
    stream of check-ins edits a message at most once per gap, so the edits leave room
    in the group's send budget (Telegram's 20 a minute) for real messages.
    """

    def __init__(self, delay: float, spawn: Spawn | None = None, *, min_gap: float = 0.0) -> None:
        self.delay = delay
        self.min_gap = min_gap
        self._spawn: Spawn = spawn or asyncio.create_task
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._actions: dict[Hashable, Action] = {}
        self._dirty: set[Hashable] = set()
        # When each key last ran (loop time), to keep min_gap across bursts.
        self._last: dict[Hashable, float] = {}
        self.runs = 0

    def trigger(self, key: Hashable, action: Action) -> None:
        """Run ``action`` for ``key`` after the delay, once for every burst of triggers."""
        self._actions[key] = action
        if key in self._tasks:
            self._dirty.add(key)
            return
        self._tasks[key] = self._spawn(self._run(key))

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def _run(self, key: Hashable) -> None:
        loop = asyncio.get_running_loop()
        last = self._last.get(key)
        wait = self.delay if last is None else max(self.delay, last + self.min_gap - loop.time())
        try:
            while True:
                await asyncio.sleep(wait)
                wait = max(self.delay, self.min_gap)
                self._dirty.discard(key)
                action = self._actions[key]
                self.runs += 1
                self._remember(key, loop.time())
                try:
                    await action()
                except Exception:
                    logger.exception("debounced action for %r failed", key)
                if key not in self._dirty:
                    return
        finally:
            self._tasks.pop(key, None)
            self._actions.pop(key, None)
            self._dirty.discard(key)

    def _remember(self, key: Hashable, at: float) -> None:
        self._last[key] = at
        if len(self._last) > 1000:
            horizon = at - max(self.delay, self.min_gap)
            self._last = {k: t for k, t in self._last.items() if t > horizon}

    async def wait(self) -> None:
        """Until every pending run is done (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
