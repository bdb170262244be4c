"""Batches of events, and the slow work that outlives its batch.

The agents take events in batches (Stream.take_events): the cache path then costs one wait
for the changelog per batch instead of one per event. A job that must wait for PostgreSQL or
a model runs as a task of its own, so it holds up neither its batch nor the next: its event
keeps a reference until the task ends, and Faust commits a partition's offset only up to the
first event not yet acknowledged, so a crash redelivers it (and the jobs table absorbs what
was finished after it). Every event of a batch is held (`hold`) until its own outcome is out.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, List, Set

import structlog
from faust.types import EventT, StreamT

from . import transport

log = structlog.get_logger("bifrost.batching")

# Up to this many events per batch; a batch waits at most this long to fill.
BATCH_MAX = 500
BATCH_WITHIN = 0.005


def set_current_event(event: EventT | None) -> None:
    """What the stream does for each event it yields: tables write to this event's partition.

    take_events yields lists, so the batch sets it for each event it handles: in this task's
    context only. The stream's own `current_event` attribute belongs to its buffering task,
    which reads it while the batch runs."""
    transport.set_current_event(event)


def hold(events: List[EventT]) -> None:
    """take_events acknowledges a whole batch when its body ends, also when the body fails or
    is cancelled at shutdown, and Faust then commits those offsets: a job cut short would be
    lost. So each event gets a reference of ours, released only once its outcome is out; a
    batch cut short leaves its events unacknowledged, and they are delivered again."""
    for event in events:
        event.message.incref()


async def release(stream: StreamT, event: EventT) -> None:
    """The event's outcome (result, DLQ event or forward) is on the producer."""
    await stream.ack(event)


class Later:
    """Runs slow jobs as tasks, at most `limit` at once; a full house holds the batch back."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tasks: Set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every task started so far has ended."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def start(self, stream: StreamT, event: EventT,
                    work: Callable[[], Awaitable[object]]) -> None:
        await self._slots.acquire()
        # The task copies the current context: the current event and the log's job_id.
        task = asyncio.ensure_future(self._run(stream, event, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, stream: StreamT, event: EventT,
                   work: Callable[[], Awaitable[object]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The job's outcome could not be published: leave the event unacknowledged (its
            # offset is never committed) and stop the worker, so a restart redelivers it.
            log.exception("slow_job_crashed")
            await stream.app.crash(exc)
        else:
            await release(stream, event)
        finally:
            self._slots.release()
