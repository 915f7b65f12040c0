"""The outbox claims: a row whose lease ran out while this process still holds it is not
taken a second time by the same drain (a long RetryAfter must not duplicate a message)."""

from __future__ import annotations

from datetime import timedelta

from bot import outbox
from bot.clock import FakeClock
from bot.config import DatabaseConfig
from bot.db import Database
from bot.db.models import Chat


async def test_claims_skip_rows_this_process_holds(database_url: str, clock: FakeClock) -> None:
    db = Database(DatabaseConfig(url=database_url))
    try:
        async with db.session() as session:
            for chat_id in (-1, -2, -3):
                session.add(Chat(id=chat_id, type="group", title="g", settings={}, active=True))
            await session.flush()
            await outbox.enqueue(
                session,
                kind="notice",
                ref="1",
                chat_ids=[-1, -2, -3],
                payload={"text": "x"},
                now=clock.now(),
            )
        async with db.session() as session:
            first = await outbox.claim_batch(
                session, "me", clock.now(), limit=2, lease=timedelta(seconds=1)
            )
        assert [i.chat_id for i in first] == [-1, -2]
        clock.advance(timedelta(seconds=5))  # their leases ran out; the sends still wait
        async with db.session() as session:
            again = await outbox.claim_batch(
                session,
                "me",
                clock.now(),
                limit=10,
                lease=timedelta(seconds=1),
                exclude={i.id for i in first},
            )
        assert [i.chat_id for i in again] == [-3]
        # Another process (after the lease) may take them: the dead-owner path.
        async with db.session() as session:
            other = await outbox.claim_batch(
                session, "other", clock.now(), limit=10, lease=timedelta(seconds=1)
            )
        assert sorted(i.chat_id for i in other) == [-2, -1]
    finally:
        await db.dispose()


async def test_the_idle_look_sees_only_rows_a_claim_would_take(
    database_url: str, clock: FakeClock
) -> None:
    """``any_ready``, the idle worker's read before claiming, agrees with ``claim_batch``:
    a later row, one in flight under a live lease and a sent one are not ready."""
    db = Database(DatabaseConfig(url=database_url))
    try:
        async with db.session() as session:
            session.add(Chat(id=-1, type="group", title="g", settings={}, active=True))
            await session.flush()
            await outbox.enqueue(
                session, kind="notice", ref="1", chat_ids=[-1], payload={"text": "x"},
                now=clock.now(),
            )  # fmt: skip
        async with db.read() as session:
            assert await outbox.any_ready(session, clock.now())
        async with db.session() as session:
            [item] = await outbox.claim_batch(
                session, "me", clock.now(), limit=5, lease=timedelta(seconds=60)
            )
        async with db.read() as session:
            assert not await outbox.any_ready(session, clock.now())  # in flight
            assert await outbox.any_ready(session, clock.now() + timedelta(seconds=61))
        # Put back to be tried in an hour (a send that will be retried later).
        retry_at = clock.now() + timedelta(hours=1)
        async with db.session() as session:
            await outbox.mark(session, item.id, outbox.PENDING, clock.now(), retry_at=retry_at)
        async with db.read() as session:
            assert not await outbox.any_ready(session, retry_at - timedelta(minutes=1))
            assert await outbox.any_ready(session, retry_at)
        async with db.session() as session:
            await outbox.mark(session, item.id, outbox.SENT, clock.now(), message_id=7)
        async with db.read() as session:
            assert not await outbox.any_ready(session, retry_at)
    finally:
        await db.dispose()
