"""Hostile log text: the shapes that made regex engines backtrack, at 100 KB, and texts drawn
by hypothesis. Shared by the soak test and the timing test of untrusted-text functions."""
from __future__ import annotations

import json
import random
from typing import List, Tuple

from hypothesis import HealthCheck, given, settings, strategies as st

SIZE = 100 * 1024


def _fill(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def shapes(size: int = SIZE) -> List[Tuple[str, str]]:
    """(name, text) of about `size` characters each: runs that a pattern starts on and fails
    late on, near-misses of every secret and mask shape, and endless stack traces."""
    rng = random.Random(15)
    words = "".join(rng.choice("abcdefghij") for _ in range(size // 2))
    return [
        ("one letter", _fill("a", size)),
        ("one digit", _fill("0", size)),
        ("spaces", "ERROR " + _fill(" ", size)),
        ("slashes", _fill("/", size)),
        ("dots", _fill(".", size)),
        ("at signs", _fill("a@", size)),
        ("scheme without user-info", _fill("postgres://user", size)),
        ("colons", _fill("a:", size)),
        ("jwt heads", _fill("eyJabc.", size)),
        ("bearer words", _fill("Bearer ", size)),
        ("key without value", _fill("password=", size)),
        ("quoted keys", _fill('"secret": "', size)),
        ("backslashes", _fill("\\", size)),
        ("java type", "ERROR " + ".".join("a" * 3 for _ in range(size // 4))),
        ("frames without end", _fill("\tat com.foo.Bar(", size)),
        ("go calls", _fill("main.f(", size)),
        ("caused by", _fill("Caused by: ", size)),
        ("exception words", _fill("Exception ", size)),
        ("key=value run", _fill("x=", size)),
        ("ip-like", _fill("1.2.3.", size)),
        ("hex-like", _fill("0x", size)),
        ("uuid-like", _fill("0123abcd-", size)),
        ("digits and dashes", _fill("12-", size)),
        ("e-mail near-miss", _fill("a.b@c.", size)),
        ("url near-miss", _fill("http://a.", size)),
        ("word soup", " ".join(words[i:i + 7] for i in range(0, len(words), 7))[:size]),
        ("json nesting", _fill('{"a":', size)),
        ("control bytes", _fill("\x00\x1b[31m\r", size)),
        ("hangul", _fill("비밀번호 토큰 ", size)),
        ("long stack trace", "java.lang.IllegalStateException: boom\n" +
         _fill("\tat com.shop.orders.Service.method(Service.java:42)\n", size)),
    ]


def hypothesis_texts(count: int, seed: int = 15) -> List[str]:
    """`count` texts that hypothesis draws (any code point, up to a few KB), deterministically."""
    drawn: List[str] = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.text(min_size=1, max_size=4000))
    def collect(text: str) -> None:
        drawn.append(text)

    collect()
    random.Random(seed).shuffle(drawn)
    return drawn[:count]


def hypothesis_payloads(count: int) -> List[bytes]:
    """Raw messages: JSON documents hypothesis draws, bytes, and requests with odd fields."""
    drawn: List[bytes] = []
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                          max_size=4),
        max_leaves=20)
    fields = st.fixed_dictionaries({}, optional={
        "request_id": st.text(max_size=60), "job_id": st.text(max_size=60),
        "log_content": st.text(max_size=2000), "service_name": st.text(max_size=120),
        "correlation_id": st.text(max_size=60), "priority": st.text(max_size=10),
        "timestamp": st.text(max_size=30), "model_policy": json_values})

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(max_size=3000), json_values.map(lambda v: json.dumps(v).encode()),
                     fields.map(lambda v: json.dumps(v).encode())))
    def collect(raw: bytes) -> None:
        drawn.append(raw)

    collect()
    return drawn[:count]
