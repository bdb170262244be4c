"""Redaction's cost and precision: microseconds per ordinary log line, lines of the public
Loghub samples that get any redaction (false positives, ideally none), and the CPU time of
the slowest adversarial 100 KB texts. Run: python -m benchmarks.redaction"""
from __future__ import annotations

import glob
import time
from pathlib import Path

from bifrost_streams.redaction import redact

LINES = {
    "no secret": ("2026-12-07T10:15:32.481Z ERROR [order-service] c.s.o.OrderController - Failed "
                  "to place order 8231 for customer 55120: upstream payment-gateway returned HTTP "
                  "503 after 3021 ms (attempt 3/5)"),
    "four secrets": ("2026-12-07T10:15:32.481Z ERROR [auth] login failed user=admin "
                     "password=hunter2 token=ghp_a1B2a1B2a1B2a1B2a1B2a1B2a1B2a1B2a1B2 from "
                     "bob@example.com via postgresql://app:s3cr3t@db:5432/x retry 3"),
}
HOSTILE = {
    "key=value secrets": "암호=qwe ",
    "weak keys, random values": "sig=aB3dE5fG7hJ9kL1m ",
    "card-like digits": "4111 ",
    "bearer words": "Bearer a",
    "unclosed URLs": "redis://:pw",
    "private key headers": "-----BEGIN RSA PRIVATE KEY-----\n",
}
LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub"


def _cpu_us(text: str, calls: int = 5000, rounds: int = 9) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            redact(text)
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


def main() -> None:
    for name, line in LINES.items():
        line = (line * 2)[:200]
        print(f"redact() on a 200-character line, {name}: {_cpu_us(line):.1f} us CPU")
    files = sorted(glob.glob(str(LOGHUB / "*" / "*_2k.log")))
    if files:
        lines = [line for path in files for line in open(path, errors="replace")]
        hit = sum(1 for line in lines if redact(line)[1])
        print(f"Loghub samples: {hit} of {len(lines)} lines get a redaction")
    for name, unit in HOSTILE.items():
        text = (unit * (100_000 // len(unit) + 1))[:100_000]
        print(f"100 KB of {name}: {_cpu_us(text, calls=1, rounds=3) / 1000:.1f} ms CPU")


if __name__ == "__main__":
    main()
