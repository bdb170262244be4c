"""The embedded broker for the one-command start: noida-db (PyPI) speaking the Kafka protocol.

Used only when KAFKA_BOOTSTRAP_SERVERS is unset. It runs in the background with its data under
the data directory and outlives the worker (`noida-db down --data-dir ...` stops it). Crash and
restart tests use Apache Kafka: noida-db never evicts a consumer killed with -9.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

EMBEDDED_PORT = 9092


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def address(port: int = EMBEDDED_PORT) -> str:
    return f"127.0.0.1:{port}"


def ensure_running(data_dir: str, port: int = EMBEDDED_PORT, timeout: float = 30) -> str:
    """Start noida-db's Kafka service if nothing listens on the port; return host:port."""
    if _port_open(port):
        return address(port)
    binary = shutil.which("noida-db") or str(Path(sys.executable).with_name("noida-db"))
    directory = Path(data_dir, "noida-db").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([binary, "up", "--only", "kafka", "--data-dir", str(directory),
                    "--kafka-port", str(port)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not _port_open(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded broker (noida-db) did not open 127.0.0.1:{port} in "
                               f"{timeout:.0f}s; see {directory}/noida.log")
        time.sleep(0.1)
    return address(port)
