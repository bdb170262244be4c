"""A stand-in for a Slack incoming webhook, for tests only: records every POST with its
arrival time and answers 200 "ok", or what a test scripts for the n-th request (429 with
Retry-After, 5xx, 400)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

from tests.support.http_server import ThreadedServer


@dataclass
class Received:
    at: float  # time.monotonic() in the test process
    body: Dict[str, Any]
    status: int  # what it was answered


class FakeSlack(ThreadedServer):
    # The path of a real webhook is its secret; tests look for it in logs.
    PATH = "/services/T0TEST/B0TEST/s3cretWebhookToken"

    def __init__(self) -> None:
        super().__init__()
        self.received: List[Received] = []
        self._answers: Dict[int, Tuple[int, Dict[str, str]]] = {}
        self._lock = threading.Lock()

    @property
    def webhook_url(self) -> str:
        return self.url + self.PATH

    def answer(self, request_number: int, status: int,
               headers: Optional[Dict[str, str]] = None) -> None:
        """Answer the n-th POST (1-based) with `status` instead of 200."""
        self._answers[request_number] = (status, headers or {})

    def accepted(self) -> List[Received]:
        with self._lock:
            return [r for r in self.received if r.status == 200]

    def all(self) -> List[Received]:
        with self._lock:
            return list(self.received)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(self.PATH, self._post)

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            status, headers = self._answers.get(len(self.received) + 1, (200, {}))
            self.received.append(Received(time.monotonic(), body, status))
        text = {200: "ok", 429: "rate_limited", 400: "invalid_blocks"}.get(status, "error")
        return web.Response(status=status, text=text, headers=headers)
