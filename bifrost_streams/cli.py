"""The bifrost-worker console script: `faust -A bifrost_streams.app worker -l info`.

Further arguments are Faust's worker flags (`bifrost-worker --web-port 6067`); the app
advertises the address they leave (bifrost_streams/web_address.py).
"""
from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    sys.argv = ["bifrost-worker", "worker", "-l", "info", *args]
    from bifrost_streams.app import app
    app.main()
