"""The event-loop lag watch (bifrost_streams/loop_lag.py), started with every worker."""
from __future__ import annotations

from bifrost_streams.app import app
from bifrost_streams.loop_lag import watch


@app.task
async def watch_event_loop() -> None:
    await watch()
