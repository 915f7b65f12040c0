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
    """Per-key trailing debounce with a configurable delay (tests shorten it)."""

    def __init__(self, delay: float, spawn: Spawn | None = None) -> None:
        self.delay = delay
        self._spawn: Spawn = spawn or asyncio.create_task
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._actions: dict[Hashable, Action] = {}
        self._dirty: set[Hashable] = set()
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
        try:
            while True:
                await asyncio.sleep(self.delay)
                self._dirty.discard(key)
                action = self._actions[key]
                self.runs += 1
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

    async def wait(self) -> None:
        """Until every pending run is done (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
