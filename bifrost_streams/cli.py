"""The bifrost-worker console script: `faust -A bifrost_streams.app worker -l info`."""
from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    sys.argv = ["bifrost-worker", "worker", "-l", "info", *args]
    from bifrost_streams.app import app
    app.main()
