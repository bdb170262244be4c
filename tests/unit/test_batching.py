"""Later.in_order: a batch's publication waits for the one before, the agent does not."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from bifrost_streams.batching import BATCHES_AHEAD, Later


def _stream(crashed):
    async def crash(exc):
        crashed.append(exc)
    return SimpleNamespace(app=SimpleNamespace(crash=crash))


async def test_batches_publish_in_order_while_the_agent_goes_on():
    later, order, crashed = Later(4), [], []
    first_may_end = asyncio.Event()

    async def first():
        await first_may_end.wait()  # its table writes are slow to be acknowledged
        order.append(1)

    async def second():
        order.append(2)
    await later.in_order(_stream(crashed), first)
    await later.in_order(_stream(crashed), second)  # returns at once: the agent reads on
    await asyncio.sleep(0.01)
    assert order == []  # the second waits for the first
    first_may_end.set()
    await later.drain()
    assert order == [1, 2] and crashed == []


async def test_a_failed_publication_stops_the_worker_and_the_next_batch_still_runs():
    later, order, crashed = Later(4), [], []

    async def broken():
        raise RuntimeError("producer stopped")

    async def next_batch():
        order.append("next")
    await later.in_order(_stream(crashed), broken)
    await later.in_order(_stream(crashed), next_batch)
    await later.drain()
    assert [str(exc) for exc in crashed] == ["producer stopped"] and order == ["next"]


async def test_at_most_a_few_batches_wait_before_the_agent_is_held():
    later, crashed = Later(4), []
    gate = asyncio.Event()
    for _ in range(BATCHES_AHEAD):
        await later.in_order(_stream(crashed), gate.wait)
    held = asyncio.ensure_future(later.in_order(_stream(crashed), gate.wait))
    await asyncio.sleep(0.01)
    assert not held.done()  # the agent waits: backlog stays bounded
    gate.set()
    await asyncio.wait_for(held, 5)
    await later.drain()
