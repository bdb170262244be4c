"""`kill -USR2 <worker pid>` writes every pending asyncio task's stack to the log.

When a worker stops making progress, this shows what each actor is waiting for, without
restarting it (and so without losing the state that explains the stall).
"""
from __future__ import annotations

import asyncio
import io
import signal

import structlog

from .app import app

log = structlog.get_logger("bifrost.diagnostics")


def dump_tasks() -> None:
    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(limit=12, file=out)
        log.warning("task_stack", task=task.get_name(), stack=out.getvalue())


@app.task
async def install_task_dump() -> None:
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump_tasks)
