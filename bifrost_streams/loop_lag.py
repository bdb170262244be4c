"""How late the event loop wakes up, and what held it when it was late.

Everything of a worker runs on one event loop: a handler that computes for 300 ms (a regex on
a hostile line, a big JSON) delays every other event, the heartbeats and the web views by as
much. A task asks to wake up every 100 ms; how late it wakes is the lag: the last one is the
gauge `bifrost_event_loop_lag_seconds`, all of them the histogram
`bifrost_event_loop_lag_distribution_seconds`. A lag over 100 ms is a stall, logged with what
ran: the asyncio task and the top frames of the loop's thread (function, file and line only,
never a value: values can be secrets).

The frames cannot be read after the stall, when the loop is free again, so a watchdog thread
samples them while it lasts: when the loop has not woken for 100 ms past its time. Code that
holds the interpreter lock throughout (a regex in C) lets the watchdog in only when it
returns; the sample then shows its caller. A loop blocked for good is logged by the watchdog
itself after BLOCKED_SECONDS, as nothing on the loop can log it.
"""
from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import structlog

from bifrost_streams import metrics

log = structlog.get_logger("bifrost.loop")

INTERVAL = 0.1  # seconds between wake-ups
STALL = 0.1  # a lag from here on is logged
FRAMES = 10
BLOCKED_SECONDS = 5.0


@dataclass
class Sample:
    """What the loop's thread was running, taken during one stall."""

    due: float  # the wake-up it delayed (clock time)
    task: Optional[str]
    frames: List[str] = field(default_factory=list)  # innermost first


def describe_task(task: Optional[asyncio.Task]) -> Optional[str]:
    if task is None:
        return None
    coro = task.get_coro()
    return f"{task.get_name()} ({getattr(coro, '__qualname__', type(coro).__name__)})"


def _where(filename: str) -> str:
    # The last two parts say which module; the full path says where it was installed.
    parts = filename.replace("\\", "/").rsplit("/", 2)
    return "/".join(parts[-2:])


def frames_of(frame, limit: int = FRAMES) -> List[str]:
    """`file:line function` of a stack, innermost first, nothing of its values."""
    out: List[str] = []
    while frame is not None and len(out) < limit:
        code = frame.f_code
        out.append(f"{_where(code.co_filename)}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return out


class Watchdog(threading.Thread):
    """Samples the loop thread's stack when its wake-up is `stall` seconds overdue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int, stall: float,
                 clock: Callable[[], float], blocked_after: float = BLOCKED_SECONDS) -> None:
        super().__init__(name="bifrost-loop-watchdog", daemon=True)
        self.loop, self.thread_id, self.stall, self.clock = loop, thread_id, stall, clock
        self.blocked_after = blocked_after
        self.due: Optional[float] = None  # set by the loop before each sleep
        self.sample: Optional[Sample] = None
        self._reported: Optional[float] = None
        self._stopped = threading.Event()

    def expect(self, due: float) -> None:
        self.due = due

    def taken(self, due: float) -> Optional[Sample]:
        sample = self.sample
        return sample if sample is not None and sample.due == due else None

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        while not self._stopped.wait(self.stall / 4):
            due = self.due
            if due is None:
                continue
            overdue = self.clock() - due
            if overdue >= self.stall and (self.sample is None or self.sample.due != due):
                self.sample = self._take(due)
            if overdue >= self.blocked_after and self._reported != due:
                self._reported = due
                sample = self.sample if self.sample and self.sample.due == due else None
                log.error("event_loop_blocked", blocked_s=round(overdue, 3),
                          task=sample.task if sample else None,
                          frames=sample.frames if sample else [])

    def _take(self, due: float) -> Sample:
        frame = sys._current_frames().get(self.thread_id)
        try:
            task = describe_task(asyncio.current_task(self.loop))
        except RuntimeError:  # the loop closed meanwhile
            task = None
        return Sample(due, task, frames_of(frame))


def record(lag: float, sample: Optional[Sample], stall: float = STALL) -> None:
    metrics.EVENT_LOOP_LAG.set(lag)
    metrics.EVENT_LOOP_LAGS.observe(lag)
    if lag >= stall:
        log.warning("event_loop_stall", lag_s=round(lag, 3),
                    task=sample.task if sample else None,
                    frames=sample.frames if sample else [])


async def watch(interval: float = INTERVAL, stall: float = STALL,
                clock: Callable[[], float] = time.monotonic,
                blocked_after: float = BLOCKED_SECONDS) -> None:
    """Run until cancelled: wake every `interval`, record how late, name what held a stall."""
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, threading.get_ident(), stall, clock, blocked_after)
    watchdog.start()
    try:
        while True:
            due = clock() + interval
            watchdog.expect(due)
            await asyncio.sleep(interval)
            lag = max(0.0, clock() - due)
            record(lag, watchdog.taken(due), stall)
    finally:
        watchdog.stop()
