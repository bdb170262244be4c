"""Who may read the web views: BIFROST_READ_TOKEN, and BIFROST_ADMIN_TOKEN, which grants read.

One aiohttp middleware guards every route the worker serves, ours and any Faust adds, so a
view cannot be forgotten: only the probes' paths (/health, /metrics) are open. Without a read
token every view is open, as the worker then binds 127.0.0.1 unless told otherwise (app.py
warns at start-up when it binds another address).

A token comes as `Authorization: Bearer <token>`, or as the password of HTTP Basic auth, so
that a browser can open the dashboard and the job links of Slack alerts: a refusal offers
both schemes. Tokens are compared in constant time. The views that ask other workers pass the
caller's Authorization header along (web/peers.py), and every worker has the same tokens.
Redrives need the admin token as a bearer token besides (web/dlq.py): a browser's cached
Basic credentials cannot redrive.
"""
from __future__ import annotations

import base64
import binascii
import hmac
from typing import Awaitable, Callable, Optional

from aiohttp import web
from multidict import CIMultiDict

OPEN_PATHS = frozenset({"/health", "/metrics"})
# Longer than any token this worker accepts in its header form; aiohttp caps headers at 8 KiB.
LONGEST_HEADER = 4096
REALM = 'realm="bifrost"'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def presented_token(authorization: str) -> Optional[str]:
    """The token in an Authorization header (Bearer, or Basic's password); None if none."""
    if not authorization or len(authorization) > LONGEST_HEADER:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return None
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        _user, colon, password = decoded.partition(":")
        return password if colon and password else None
    return None


def _matches(presented: str, token: Optional[str]) -> bool:
    if token is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"),
                               token.encode("utf-8"))


def refusal(path: str, authorization: str, read_token: Optional[str],
            admin_token: Optional[str]) -> Optional[str]:
    """Why this request may not read `path`; None when it may."""
    if read_token is None or path in OPEN_PATHS:
        return None
    presented = presented_token(authorization)
    if presented is None:
        return ("this view needs the read token: Authorization: Bearer <BIFROST_READ_TOKEN>, "
                "or HTTP Basic auth with the token as password")
    # Both compared, whatever the first gives: the time taken tells nothing either.
    if _matches(presented, read_token) | _matches(presented, admin_token):
        return None
    return "the token is not valid"


def admin_refusal(authorization: str, admin_token: Optional[str], what: str) -> Optional[str]:
    """Why this request may not use an admin view (`what` names it); None when it may. A
    bearer token only: a browser's remembered Basic credentials must not act by themselves."""
    if admin_token is None:
        return f"{what} are off: BIFROST_ADMIN_TOKEN is not set on this worker"
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "a bearer token is required (Authorization: Bearer <BIFROST_ADMIN_TOKEN>)"
    if not hmac.compare_digest(token.strip().encode("utf-8", "surrogatepass"),
                               admin_token.encode()):
        return "the bearer token is not valid"
    return None


def challenge() -> CIMultiDict:
    """Both schemes offered: clients send Bearer, browsers ask their user for Basic."""
    headers: CIMultiDict = CIMultiDict()
    headers.add("WWW-Authenticate", f"Basic {REALM}")
    headers.add("WWW-Authenticate", f"Bearer {REALM}")
    return headers


def middleware(read_token: Optional[str], admin_token: Optional[str]):
    """The aiohttp middleware that refuses with 401 what `refusal` refuses."""

    @web.middleware
    async def require_read_token(request: web.Request, handler: Handler
                                 ) -> web.StreamResponse:
        reason = refusal(request.path, request.headers.get("Authorization", ""),
                         read_token, admin_token)
        if reason is None:
            return await handler(request)
        return web.json_response({"error": reason}, status=401, headers=challenge())

    return require_read_token
