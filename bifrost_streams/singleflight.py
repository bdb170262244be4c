"""One in-flight computation per key: concurrent callers with the same key share its outcome.

The analysis agent runs several actors at once; two copies of one request, or two requests
with the same log template, must still reach the model only once.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Dict, Generic, Tuple, TypeVar

T = TypeVar("T")


class LeaderCancelled(Exception):
    """The call that others were sharing was cancelled (its caller's deadline passed)."""


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._calls: Dict[str, asyncio.Future] = {}

    def __len__(self) -> int:
        return len(self._calls)

    async def do(self, key: str, work: Callable[[], Awaitable[T]]) -> Tuple[T, bool]:
        """Run work() unless a call for key is running; return (outcome, shared)."""
        running = self._calls.get(key)
        if running is not None:
            return await asyncio.shield(running), True
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            outcome = await work()
        except asyncio.CancelledError:
            # The sharers have deadlines of their own: they fail, they are not cancelled.
            future.set_exception(LeaderCancelled(key))
            future.exception()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            # Nobody may be waiting; read the exception so asyncio does not log it as lost.
            future.exception()
            raise
        else:
            future.set_result(outcome)
            return outcome, False
        finally:
            del self._calls[key]
