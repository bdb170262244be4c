"""POST a message to a Slack incoming webhook, retrying what Slack asks to be retried.

429 and 5xx answers (and lost connections) are retried, after `Retry-After` when Slack sends
one, within `give_up_after` seconds; then SlackUnavailable tells the caller to keep the
message for later (it is never dropped here). Any other 4xx is a refusal that no retry can
change (a revoked webhook, a malformed message): SlackRejected.

The URL is the webhook's credential: it is kept here and never logged or put in an error;
`key` (a hash) names the webhook instead.
"""
from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any, Dict, Optional, Tuple

import aiohttp
import structlog

from bifrost_streams import metrics
from bifrost_streams.alerts.rule import webhook_key

log = structlog.get_logger("bifrost.slack")

BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0


class SlackRejected(Exception):
    """Slack refused the message for good."""


class SlackUnavailable(Exception):
    """Slack did not take the message in time; try again after `retry_after` (if known)."""

    def __init__(self, detail: str, retry_after: Optional[float]) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def retry_after_seconds(header: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Retry-After as seconds (Slack's form) or as an HTTP date; None if absent or unreadable."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class SlackWebhook:
    def __init__(self, url: str, timeout: float = 10.0, give_up_after: float = 30.0) -> None:
        self._url = url
        self.key = webhook_key(url)
        self.timeout = timeout
        # Short enough that an alert being retried does not hold a rebalance past Faust's
        # rebalance timeout; a message still refused goes back to the caller, not away.
        self.give_up_after = give_up_after
        self._session: Optional[aiohttp.ClientSession] = None

    async def post(self, message: Dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.give_up_after
        attempt = 0
        while True:
            accepted, wait, detail = await self._attempt(message)
            if accepted:
                return
            attempt += 1
            if wait is None:
                wait = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (attempt - 1))
            if loop.time() + wait > deadline:
                raise SlackUnavailable(detail, wait)
            log.warning("slack_retry", webhook=self.key, answer=detail, attempt=attempt,
                        retry_in_s=round(wait, 3))
            await asyncio.sleep(wait)

    async def _attempt(self, message: Dict[str, Any]) -> Tuple[bool, Optional[float], str]:
        """(accepted, seconds Slack asked to wait, what happened)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.post(self._url, json=message) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                body = (await response.text())[:200]
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            metrics.SLACK_REQUESTS.labels("error").inc()
            # The exception's text can hold the URL: its type says enough.
            return False, None, type(exc).__name__
        metrics.SLACK_REQUESTS.labels(str(status)).inc()
        if 200 <= status < 300:
            return True, None, "ok"
        detail = f"HTTP {status}: {body.replace(self._url, self.key)}"
        if status == 429 or status >= 500:
            return False, retry_after_seconds(retry_after), detail
        raise SlackRejected(detail)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
