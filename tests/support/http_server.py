"""An aiohttp server on 127.0.0.1 in a background thread, for stand-ins the worker calls."""
from __future__ import annotations

import asyncio
import threading
from typing import Optional

from aiohttp import web


class ThreadedServer:
    """Subclasses add their routes in `routes`; `start` returns once the port is open."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: Optional[web.AppRunner] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def suspend(self) -> None:
        """Close the port, as a server that died would: connections are refused."""
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)

    def resume(self) -> None:
        """Listen again on the same port."""
        asyncio.run_coroutine_threadsafe(self._start(self.port), self._loop).result(10)

    async def _start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
