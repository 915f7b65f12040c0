"""The emulator in a process of its own, playing Telegram for the morning benchmark.

Telegram is not inside the bot's process: here the emulator's own work (parsing,
HTML checks, bookkeeping of 10,000 groups) and its pauses do not land on the bot's
event loop and CPU time. Started by ``bench/morning/run.py``; speaks on stdin/stdout:

- on start it prints one JSON line: ``{"base_url": ..., "token": ..., "chats": [...]}``;
- ``report`` prints ``{"sends": [[chat id, unix time], ...], "refused": n}``: every
  message delivered (the moment it was accepted) and every 429 answered;
- ``quit`` (or the end of stdin) stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.sandbox.emulator import Emulator, SentMessage


async def serve(args: argparse.Namespace) -> None:
    async with Emulator() as emulator:
        chats = []
        for n in range(args.groups):
            chat = emulator.create_group(f"律所{n + 1:05d}")
            emulator.set_member(chat.id, emulator.bot_user, "administrator")
            chats.append(chat.id)
        sends: list[tuple[int, float]] = []

        def on_message(message: SentMessage, action: str) -> None:
            if action == "send":
                sends.append((message.chat_id, time.time()))

        emulator.on_bot_message(on_message)
        emulator.latency = args.latency
        emulator.enforce_rate_limits(
            global_per_second=args.per_second, per_group_per_minute=20, per_private_per_second=1
        )
        print(
            json.dumps({"base_url": emulator.base_url, "token": emulator.token, "chats": chats}),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "report":
                refused = sum(1 for c in emulator.requests if c.status == 429)
                print(json.dumps({"sends": sends, "refused": refused}), flush=True)
            elif line in ("quit", ""):
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.035)
    parser.add_argument("--per-second", type=float, default=30.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
