"""bifrost-loggen: realistic mixed-level application logs for demos.

    bifrost-loggen [--rate 5] [--count N] [--output FILE] [--format text|json] [--seed N]

INFO, DEBUG, WARN and ERROR lines from a handful of services; some errors carry a Java stack
trace (with a `Caused by:` now and then). `text` writes lines such as
`2026-01-31 10:00:00.123 ERROR [payment-service] ...`; `json` writes one Fluent Bit-style
record per entry ({"time", "level", "service", "log"}), the trace inside "log". Output goes to
stdout or is appended to a file (for Fluent Bit's tail input), flushed after every entry.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timezone
from typing import List, Optional, TextIO, Tuple

SERVICES = ("user-service", "payment-service", "order-service", "inventory-service",
            "auth-service", "notification-service")
LEVEL_WEIGHTS = (("INFO", 60), ("DEBUG", 15), ("WARN", 15), ("ERROR", 10))
MESSAGES = {
    "DEBUG": ("Cache lookup key=user:{n} hit={hit}", "SQL took {ms}ms: SELECT * FROM orders "
              "WHERE id={n}", "Outgoing request GET /api/v1/items/{n}"),
    "INFO": ("Request completed GET /api/v1/users/{n} status=200 duration={ms}ms",
             "User {n} logged in from 10.0.{a}.{b}", "Order {n} created total={ms}.50 EUR",
             "Scheduled job cleanup finished in {ms}ms", "Health check OK"),
    "WARN": ("Slow query detected: {ms}ms on table orders", "Retrying request to "
             "inventory-service (attempt {a}/3)", "Connection pool usage at {a}0%",
             "Deprecated API /api/v1/legacy called by client {n}"),
    "ERROR": ("Connection timeout after 30000ms to db-primary:5432",
              "Failed to process payment {n}: card declined by issuer",
              "Unhandled exception in request handler POST /api/v1/orders",
              "Could not send e-mail notification to user {n}",
              "Out of memory while serialising report {n}"),
}
TRACES = (
    ("java.lang.NullPointerException: Cannot invoke \"Order.getItems()\" because \"order\" is null",
     ["com.shop.order.OrderService.total(OrderService.java:{a}2)",
      "com.shop.order.OrderController.create(OrderController.java:{b}7)",
      "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)"],
     None),
    ("org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC "
     "Connection",
     ["org.springframework.jdbc.datasource.DataSourceUtils.getConnection(DataSourceUtils.java:84)",
      "com.shop.user.UserRepository.findById(UserRepository.java:{a}1)"],
     ("java.net.SocketTimeoutException: Connect timed out",
      ["java.base/sun.nio.ch.NioSocketImpl.timedFinishConnect(NioSocketImpl.java:546)",
       "org.postgresql.core.PGStream.<init>(PGStream.java:{b}8)"])),
    ("java.lang.IllegalStateException: Payment gateway returned status 502",
     ["com.shop.payment.GatewayClient.charge(GatewayClient.java:{a}5)",
      "com.shop.payment.PaymentService.pay(PaymentService.java:{b}3)"],
     None),
)


def _fill(template: str, rng: random.Random) -> str:
    return template.format(n=rng.randint(1000, 99999), ms=rng.randint(5, 4000),
                           a=rng.randint(1, 9), b=rng.randint(1, 9),
                           hit=rng.choice(("true", "false")))


def entry(rng: random.Random, now: float,
          trace_ratio: float = 0.4) -> Tuple[str, str, str, List[str]]:
    """One log entry: (level, service, time as text, [message, stack trace lines...])."""
    level = rng.choices([lv for lv, _ in LEVEL_WEIGHTS], [w for _, w in LEVEL_WEIGHTS])[0]
    service = rng.choice(SERVICES)
    moment = datetime.fromtimestamp(now, timezone.utc)
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    lines = [_fill(rng.choice(MESSAGES[level]), rng)]
    if level == "ERROR" and rng.random() < trace_ratio:
        head, frames, cause = rng.choice(TRACES)
        lines.append(head)
        lines += [f"\tat {_fill(frame, rng)}" for frame in frames]
        if cause is not None:
            lines.append(f"Caused by: {cause[0]}")
            lines += [f"\tat {_fill(frame, rng)}" for frame in cause[1]]
            lines.append(f"\t... {rng.randint(10, 60)} more")
    return level, service, stamp, lines


def render(level: str, service: str, stamp: str, lines: List[str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"time": stamp.replace(" ", "T") + "Z", "level": level,
                           "service": service, "log": "\n".join(lines)}) + "\n"
    head = f"{stamp} {level:<5} [{service}] {lines[0]}"
    return "\n".join([head] + lines[1:]) + "\n"


def run(out: TextIO, rate: float, count: Optional[int], fmt: str, seed: Optional[int]) -> int:
    rng = random.Random(seed)
    written = 0
    started = time.monotonic()
    while count is None or written < count:
        out.write(render(*entry(rng, time.time()), fmt))
        out.flush()
        written += 1
        if rate > 0:  # keep the average rate, whatever writing cost
            delay = started + written / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bifrost-loggen", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=5.0,
                        help="entries per second (0: as fast as possible; default 5)")
    parser.add_argument("--count", type=int, default=None, help="stop after N entries")
    parser.add_argument("--output", help="append to this file instead of stdout")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--seed", type=int, default=None, help="repeatable output")
    args = parser.parse_args(argv)
    if args.rate < 0 or (args.count is not None and args.count < 0):
        parser.error("--rate and --count must not be negative")
    try:
        if args.output:
            with open(args.output, "a", encoding="utf-8") as out:
                run(out, args.rate, args.count, args.format, args.seed)
        else:
            run(sys.stdout, args.rate, args.count, args.format, args.seed)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
