"""The failure families: what kind of failure a result is about, from one fixed list.

Every result carries one as `result.category`. The list is part of the contract
(../shared/CONTRACT.md): a model chooses from it under its answer schema, the rules provider
names one per signature, metrics and alerts count by it. A finer child is written
`<family>.<child>` (`database.query.slow`) and counts as its family; `unknown` has no children.
"""
from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

UNKNOWN = "unknown"

# id -> what it covers. The order is the README's and the prompt's.
FAMILIES: Dict[str, str] = {
    "network.timeout": "a call or connection timed out, deadline exceeded",
    "network.connection_refused": "connection refused, reset, host unreachable",
    "network.dns": "host name not resolved",
    "network.tls": "TLS handshake or certificate failed",
    "resource.memory": "out of memory, heap space, OOMKilled",
    "resource.disk": "disk full or nearly full",
    "resource.file_descriptors": "too many open files",
    "resource.threads": "cannot create a thread, thread pool rejected work",
    "database.connection_pool": "no database connection: pool exhausted, too many connections",
    "database.deadlock": "deadlock, lock wait timeout",
    "database.constraint": "unique, foreign key, not-null or check constraint violated",
    "database.query": "bad SQL, unknown table or column, slow query",
    "auth.authentication": "401, bad or expired credentials",
    "auth.authorization": "403, permission missing for the caller",
    "os.permission": "file or socket access denied by the OS (EACCES)",
    "config.invalid": "configuration wrong, missing or deprecated",
    "code.null_reference": "null pointer, NoneType attribute, nil pointer, property of undefined",
    "code.type_error": "wrong type: TypeError, ClassCastException",
    "code.bounds": "index or key out of range",
    "data.serialization": "JSON, XML, protobuf or Avro not parsed, schema mismatch",
    "dependency.unavailable": "a called service failed or is down: 5xx, circuit open",
    "dependency.rate_limited": "rate limited: 429, throttling, quota",
    "messaging.broker": "Kafka or RabbitMQ: leaders, offsets, rebalances, missing queues",
    "container.crash": "CrashLoopBackOff, failed probes, non-zero exit",
    "container.image": "image not pulled: ImagePullBackOff, ErrImagePull",
    UNKNOWN: "none of these, or the log does not say",
}

IDS: Tuple[str, ...] = tuple(FAMILIES)
_CHILD = re.compile(r"[a-z0-9_]{1,40}")
MAX_ID_CHARS = 120


def parent_of(category: str) -> Optional[str]:
    """The family a category counts as: itself, the family it is a child of, or None when it
    is neither."""
    if category in FAMILIES:
        return category
    if len(category) > MAX_ID_CHARS:
        return None
    for family in IDS:
        if family != UNKNOWN and category.startswith(family + "."):
            children = category[len(family) + 1:].split(".")
            if all(_CHILD.fullmatch(child) for child in children):
                return family
    return None


def is_valid(category: object) -> bool:
    return isinstance(category, str) and parent_of(category) is not None


def family_of(category: object) -> str:
    """The family a result's category counts under; `unknown` for none or a stray value."""
    return (parent_of(category) if isinstance(category, str) else None) or UNKNOWN


def normalise(category: object) -> str:
    """A category as given (by a model, a rules file), or `unknown` when it is not one."""
    if isinstance(category, str):
        text = category.strip().lower()
        if parent_of(text) is not None:
            return text
    return UNKNOWN
