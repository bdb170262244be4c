"""Where the web server listens and the URL it advertises to the other workers.

Faust's worker flags (--web-port, --web-host, --web-bind) change its settings after the app
is built, and --web-port rebuilds its canonical URL as http://<web host>:<port>. The group's
assignment carries that canonical URL, and a worker finds its own partitions' owner by
comparing it (web/peers.py), so the URL is settled once, at start-up, from what Faust ended
up with.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Optional

from yarl import URL

WILDCARDS = ("", "0.0.0.0", "::")


def advertised_url(canonical: str, configured: Optional[str]) -> str:
    """BIFROST_ADVERTISED_URL when set (the operator's word on how the others reach this
    worker), else Faust's canonical URL with a wildcard host replaced by the host name."""
    if configured:
        return configured.rstrip("/")
    url = URL(str(canonical))
    if (url.host or "") in WILDCARDS:
        url = url.with_host(socket.gethostname())
    return str(url).rstrip("/")


def is_loopback(bind: Optional[str]) -> bool:
    """True when only this machine can reach an address the server binds."""
    host = (bind or "").strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a wildcard, a host name: reachable from elsewhere
