"""The other workers of the group, for views whose answer lives on more than one of them.

Each worker advertises its URL in the group's assignment: Faust's canonical URL, which
app.py settles at start-up from BIFROST_ADVERTISED_URL, else from the web host and port in
effect (Faust's --web-port and --web-host flags included). A view either forwards a request
to the worker owning a key's partition, or asks every worker and merges the answers. A
forwarded request carries ROUTED_HEADER, so that during a rebalance it answers 503 rather
than bouncing between workers, and the caller's Authorization header: every worker checks
the same tokens (web/access.py).
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Mapping, Optional, Tuple

import aiohttp
from faust.web import Request, Response, View

from bifrost_streams.app import app

ROUTED_HEADER = "X-Bifrost-Routed"
TIMEOUT = aiohttp.ClientTimeout(total=10)


def self_url() -> str:
    """This worker's URL as the assignor advertises it to the group."""
    return str(app.conf.canonical_url).rstrip("/")


def _same(url: str) -> bool:
    # Compared with what Faust advertises, not with the settings: worker flags change it.
    return str(url).rstrip("/") == self_url()


def owner(topic: str, partition: int) -> Optional[str]:
    """The URL of the worker that actively owns this partition of a table's changelog."""
    for url, topics in app.assignor.table_metadata(topic).items():
        if partition in topics.get(topic, ()):
            return str(url)
    return None


def is_mine(topic: str, partition: int) -> bool:
    url = owner(topic, partition)
    return url is not None and _same(url)


def members() -> List[str]:
    return [str(url) for url in app.assignor.tables_metadata()]


async def forward(view: View, request: Request, topic: str, partition: int,
                  path: Optional[str] = None) -> Response:
    """Answer with what the owner of `partition` answers to this request (or to `path`)."""
    url = owner(topic, partition)
    # A request forwarded once and still not owned here: the assignment is changing.
    if url is None or (path is None and request.headers.get(ROUTED_HEADER)):
        return view.error(503, "the group is rebalancing; ask again in a few seconds")
    target = url.rstrip("/") + (path or request.path_qs)
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            async with session.request(request.method, target, data=await request.read(),
                                       headers=_passed(request.headers)) as response:
                return view.bytes(await response.read(), status=response.status,
                                  content_type=response.content_type)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return view.error(503, f"the worker owning partition {partition} did not answer: "
                               f"{type(exc).__name__}")


async def ask_others(request: Request, body: Optional[bytes] = None
                     ) -> List[Tuple[str, int, Any]]:
    """(url, status, JSON) from every other worker for this request, marked as routed."""
    others = [url for url in members() if not _same(url)]
    if not others:
        return []
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        return list(await asyncio.gather(*(
            _ask(session, request.method, url.rstrip("/") + request.path_qs, body,
                 _passed(request.headers)) for url in others)))


async def _ask(session: aiohttp.ClientSession, method: str, url: str, body: Optional[bytes],
               headers: Dict[str, str]) -> Tuple[str, int, Any]:
    try:
        async with session.request(method, url, data=body, headers=headers) as response:
            return url, response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        return url, 503, {"error": f"{type(exc).__name__}"}


def _passed(headers: Mapping[str, str]) -> Dict[str, str]:
    kept = {name: value for name, value in headers.items()
            if name.lower() in ("authorization", "content-type", "accept")}
    kept[ROUTED_HEADER] = "1"
    return kept
