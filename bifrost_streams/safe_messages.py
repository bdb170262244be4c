"""What an error message, a view or a log line may show of a URL or of a failure.

Results, DLQ events, /status and log lines travel far (Heimdall, Slack, log stores); a
driver's own message can carry a host, a user name or a password (libpq writes
'connection to server at "db.internal" (10.0.0.5) ... for user "app"'). So they show a URL
without its user-info and query, and a failure by its kind only.
"""
from __future__ import annotations

from typing import Optional


def shown_url(url: Optional[str]) -> Optional[str]:
    """The URL without user-info, query or fragment (scheme, host, port and path stay).

    String cuts rather than a URL parser: a password may hold '/', '?' or '#'
    (amqp://u:pa/ss@host), which a parser takes for the end of the authority and then
    shows. Where the authority is ambiguous, less is shown, never more."""
    if url is None:
        return None
    scheme, separator, rest = str(url).partition("://")
    if not separator:
        scheme, rest = "", str(url)
    at = rest.find("@")
    if at >= 0:
        # The authority runs to the first '/' after an '@'; its user-info to its last '@'.
        slash = rest.find("/", at)
        authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        rest = authority.rpartition("@")[2] + path
    for mark in ("?", "#"):
        rest = rest.partition(mark)[0]
    return f"{scheme}://{rest}" if separator else rest


def failure_kind(exc: BaseException) -> str:
    """The exception's class, and its SQLSTATE when the database sent one (never its text)."""
    code = getattr(exc, "pgcode", None)
    name = type(exc).__name__
    return f"{name}, SQLSTATE {code}" if isinstance(code, str) and code.isalnum() else name


# Failures of the connection itself, as opposed to a statement the server refused.
_UNREACHABLE = ("OperationalError", "InterfaceError")


def database_failure(what: str, exc: BaseException) -> str:
    """e.g. 'the log database could not be reached (OperationalError)'."""
    if isinstance(exc, (OSError, TimeoutError)) or type(exc).__name__ in _UNREACHABLE:
        return f"{what} could not be reached ({failure_kind(exc)})"
    return f"{what} refused the query ({failure_kind(exc)})"
