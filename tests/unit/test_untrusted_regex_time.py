"""Every function that applies a regex to untrusted text runs in bounded time on hostile input.

Log text, request fields and model answers come from outside. A regex that backtracks turns
one crafted 100 KB line into seconds or minutes on the event loop, and the event, redelivered,
stalls the next worker too. Each function below is timed on adversarial 100 KB texts: runs of
one character, repeated fragments, near misses of each pattern, and seeded random mixes. A
linear scan of 100 KB takes a few milliseconds; a quadratic one takes seconds.

To cover a new function, add a row to FUNCTIONS: a name, a callable taking the text, and
whether the worker runs it only on text already cut to BIFROST_MAX_ANALYSED_CHARS. Functions
that read a whole message or file (one request per entry in it) go to PER_ENTRY, which holds
them to linear time instead.
"""
from __future__ import annotations

import gc
import random
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from bifrost_streams import bounds
from bifrost_streams.config import OPTIONS
from bifrost_streams.ingestion import logparse
from bifrost_streams.ingestion.ingest_requests import from_message
from bifrost_streams.ingestion.submit import requests_for
from bifrost_streams.mining import masking, stacktrace
from bifrost_streams.mining.miner import TemplateMiner
from bifrost_streams.prompts import build_prompt
from bifrost_streams.providers import bedrock, policy, rules
from bifrost_streams.redaction import redact

SIZE = 100_000
LIMIT_SECONDS = 0.050
RUNS = 3  # the best of these counts: the machine is shared, a slow run may be a scheduler's

JAVA_FRAME = "\n\tat com.acme.Service.run(Service.java:42)\n"
GO_FILE = "\n\t/src/app/main.go:12 +0x1d\n"


def _fill(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


SINGLE_CHARACTERS = "a0 /.@:-_=\"'\\<>()[]{}\n\t%~+,;xZ$#&*?!|`é가"
FRAGMENTS = [
    "a@", "a.", "://", "a:", "eyJ", "at ", "Exception", "(", "x=", '"', "\\", "0.", "0:", "0-",
    "a/", "./", "~/", "a-", "a_", "a\n", "\n ", " \n", "\n\t", "\r\n", "a=", "0x", "0x1", "<A>",
    "1,", "a,", "-1", "+1", "1.", "0 B", "1 KB", "Jan 1 ", "Mon Jan 1 ", "1:00:", "00:00:00 ",
    "user ", "User ", "a.com.", "a.io", "a.co.", "a1.", "1.1.1.", "1.1.1.1:", "C:\\", "a:\\",
    "0a", "ff", "aa:", "...", "a...", "[a", "[ERROR", "ERROR ", "level=", "service=", "app: ",
    "2026-01-01 ", "2026-01-01T10:", "2026-01-01 10:00:00 ", "20260101-1:00:00", "Caused by:",
    "Caused by: \n", "\tat ", "  at ", "at a", "panic: ", "goroutine 1 [", "goroutine 1 ",
    'File "', '  File "a", line 1', "Traceback (most recent call last):\n",
    'Exception in thread "', "disk usage ", "```", "```json", " ```", "bearer ", "Bearer a",
    "password=", 'password: "', "token:", '"secret":"', "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN ", "AKIA", "4111 ", "1 ", "1-", "sk-", "ghp_", "xoxb-", "npm_", "AIza",
    "$$Lambda$", "$Proxy", "GeneratedMethodAccessor", "$$EnhancerBySpringCGLIB$$",
    "a.b.c.", "A.", "a$", "<init>", "/0x", "a.B", "user@", "@a.", "%40", "a+b@", "=\"",
    "'", "a'", "()", "[]", "{}", '""', "''", "1 more", "... 1 more", "in goroutine 1",
    "created by ", "[recovered]", "main.f(", "main.f(0x1", "a\\b", "비밀번호 ", "토큰=",
]
NEAR_MISSES = {
    "url without host end": "postgres://user",
    "url with user, no @": "postgres://user:pw",
    "jwt head only": "eyJabcdef.",
    "jwt two parts": "eyJabcdef.eyJabcdef.",
    "email without tld": "a@b",
    "email with dot": "a@b.",
    "email tld digit": "a@b.c1",
    "java frame open": "at com.foo(",
    "java frame line": "\tat com.foo.Bar.baz(Bar.java:1\n",
    "java frame no paren": "\tat com.foo.Bar.baz\n",
    "go call open": "main.f(",
    "go call line": "main.f(\n",
    "go file line": "main.f(0x1)\n\t/a.go:1 +0x\n",
    "caused by": "Caused by:",
    "caused by line": "Caused by: a.b.C\n",
    "suppressed line": "\tSuppressed: a.b.C\n",
    "java type 50k": "a.",
    "java type capital": "a.B.",
    "java exception no boundary": "a.BException_",
    "thread prefix": 'Exception in thread "main" ',
    "python exception": "ValueError: ",
    "syslog time": "Jan 24 02:38:",
    "clock": "12:00:",
    "size": "9.2 K",
    "host": "a-1.b.",
    "ip": "10.0.0.",
    "uuid": "0123abcd-0123-",
    "mac": "aa:bb:cc:dd:ee:",
    "hex": "deadbeef",
    "chunk": "a1-",
    "values glued": "<NUM>-",
    "user word": "user a.",
    "dot leader": "a....",
    "level field": "level = \"",
    "service field": "service=",
    "timestamp": "2026-01-31 10:00:00.",
    "zone": "+01:0",
    "card": "4111 1111 1111 111",
    "bearer": "Bearer abc",
    "secret assignment": "password = \"",
    "private key": "-----BEGIN RSA PRIVATE KEY-----\n",
    "connection string": "redis://:pw",
    "fence": "```json\n{",
}
WORD_SEPARATORS = " ./:@-_=\n\t,"
# What a pattern needs to see after a long run before it fails: a run that ends in one of these
# passes the cheap guards and makes an unanchored pattern rescan the run from each position.
BAITS = ["://", "@", "@a.", ":\\", "/", "Exception", "(", "\n\tat a.b(", '="', " 1 B", ".com",
         ".", ":", "\n"]


def _random_text(seed: int) -> str:
    rng = random.Random(seed)
    if seed % 2:
        alphabet = SINGLE_CHARACTERS + "aaaa0000AZ"
        return "".join(rng.choice(alphabet) for _ in range(SIZE))
    parts: List[str] = []
    length = 0
    while length < SIZE:
        part = rng.choice(FRAGMENTS + list(NEAR_MISSES.values()))
        parts.append(part)
        length += len(part)
    return "".join(parts)[:SIZE]


def _baited(unit: str) -> str:
    """The run of `unit` in one segment per bait, each segment ending in its bait."""
    segment = SIZE // len(BAITS)
    text = "".join(_fill(unit, segment - len(bait)) + bait for bait in BAITS)
    return text + _fill(unit, SIZE - len(text))


def _shapes() -> Dict[str, str]:
    # A baited run holds 14 runs of 7 KB: a quadratic pattern still takes seconds on it.
    shapes: Dict[str, str] = {}
    for char in SINGLE_CHARACTERS:
        shapes[f"run of {char!r}"] = _fill(char)
    for char in " \t\n\r.:-=":
        shapes[f"run of {char!r}, baited"] = _baited(char)
        shapes[f"run of {char!r} between words"] = "x" + _fill(char, SIZE - 2) + "y"
    for fragment in FRAGMENTS:
        shapes[f"repeated {fragment!r}, baited"] = _baited(fragment)
    for name, near in NEAR_MISSES.items():
        shapes[f"near miss: {name}, baited"] = _baited(near)
    for separator in WORD_SEPARATORS:
        shapes[f"words of 1000 with {separator!r}"] = _fill("a" * 1000 + separator)
        shapes[f"digits of 1000 with {separator!r}"] = _fill("7" * 1000 + separator)
    shapes["code fence, then blanks"] = "```" + _fill(" ", SIZE - 4) + "x"
    shapes["code fence, blanks inside"] = "```json x" + _fill(" \n", SIZE - 10) + "y"
    shapes["one word"] = _fill("abcdefghij")
    shapes["one number"] = _fill("1234567890")
    for seed in range(6):
        shapes[f"random mix {seed}"] = _random_text(seed)
    return shapes


SHAPES = _shapes()


def _miner_add(text: str) -> object:
    return TemplateMiner().add("svc", text)


def _model_name(text: str) -> object:
    return policy.route({"model": text}, ["ollama"])


def _rules_provider(text: str) -> object:
    # The rules provider reads the prompt's log, which the prompt cuts further.
    return rules.match(build_prompt(text, service=None, environment=None, priority=None).log)


def _ingest(text: str) -> object:
    return from_message(text.encode(), "kafka:t/0/0", {"ERROR", "WARN", "FATAL", "INFO"},
                        "analysis.result", 1 << 20)


def _submit(text: str) -> object:
    return requests_for(Path("app.log"), text.split("\n"), None, "analysis.result", 1 << 20)


# What the worker lets one event's text grow to before masking, mining and the rules run.
ANALYSED_CHARS = OPTIONS["max_analysed_chars"].default

# (name, callable, behind the bound): each gets the hostile text as it would arrive, or wrapped
# in what makes the function reach the step that reads it (a stack trace's header line, a
# goroutine's body). A function behind the bound only ever sees the text the worker cut to
# ANALYSED_CHARS (bifrost_streams/bounds.py, applied before redaction and mining), so it gets
# the 100 KB text cut that way.
FUNCTIONS: List[Tuple[str, Callable[[str], object], bool]] = [
    ("bounds.cut", lambda s: bounds.cut(s, ANALYSED_CHARS), False),
    ("masking.mask", masking.mask, True),
    ("masking.mask_value", lambda s: masking.mask_value(s + "1"), True),
    ("stacktrace.parse", stacktrace.parse, True),
    ("stacktrace.parse java header", lambda s: stacktrace.parse(s + JAVA_FRAME), True),
    ("stacktrace.parse java cause", lambda s: stacktrace.parse(
        "x.Y: m" + JAVA_FRAME + "Caused by: " + s + JAVA_FRAME), True),
    ("stacktrace.parse java frame", lambda s: stacktrace.parse("x.Y: m\n\tat " + s), True),
    ("stacktrace.parse python", lambda s: stacktrace.parse(
        'Traceback (most recent call last):\n  File "' + s + '", line 1, in ' + s + "\n" + s),
     True),
    ("stacktrace.parse go", lambda s: stacktrace.parse(
        "panic: " + s + "\n\ngoroutine 1 [running]:\n" + s + GO_FILE), True),
    ("miner.add", _miner_add, True),
    ("rules provider", _rules_provider, True),
    # Linear, but a text of 100 KB dense with secrets (key = "value" thousands of times) takes
    # about 50 ms, a few µs per secret found; the worker redacts at most the analysed bound.
    ("redaction.redact", redact, True),
    ("logparse.parse_text", logparse.parse_text, False),
    ("logparse.parse_entry", logparse.parse_entry, False),
    ("logparse.normalize_timestamp", logparse.normalize_timestamp, False),
    ("bedrock.reply_text", lambda s: bedrock.reply_text(
        {"output": {"message": {"content": [{"text": s}]}}}), False),
    ("policy.route model", _model_name, False),
]

# Whole messages and files: their cost grows with the number of entries in them (a request
# each), so they are held to linear time rather than to a fixed bound.
PER_ENTRY: List[Tuple[str, Callable[[str], object]]] = [
    ("logparse.split_entries", lambda s: logparse.split_entries(s.split("\n"))),
    ("logparse.parse_payload", logparse.parse_payload),
    ("ingest_requests.from_message", _ingest),
    ("submit.requests_for", _submit),
]
LINEAR_SIZE = 40_000
# Units repeated to both sizes, so that the larger text holds more of the same entries.
MANY_ENTRIES = ["\n", "a\n", " \n", "x\n\tat a.b(\n", "ERROR x\n\tat a.b.C(C.java:1)\n",
                "Caused by: a.b.C\n", "Traceback (most recent call last):\nE: x\n",
                "panic: x\ngoroutine 1 [\n", "2026-01-01 10:00:00 ERROR [a] x\n",
                '{"log": "x", "level": "error"}\n']

def best_time(function: Callable[[str], object], text: str, limit: float = LIMIT_SECONDS,
              runs: int = RUNS) -> float:
    """The fastest of up to `runs` calls; stops at the first one within `limit`."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - started)
        if best <= limit:
            break
    return best


@pytest.fixture(autouse=True)
def _no_collector_pauses():
    # A full garbage collection walks every object of the process (the whole app is imported)
    # and falls in whichever call happened to allocate last: its pause is not that call's.
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def _param(name: str, function: Callable[[str], object], bounded: bool = False):
    return pytest.param(function, bounded, id=name)


def test_every_shape_is_100_kb():
    assert len(SHAPES) > 150
    assert all(len(text) == SIZE for text in SHAPES.values())


@pytest.mark.parametrize("function, bounded", [_param(*row) for row in FUNCTIONS])
def test_hostile_100_kb_text_takes_at_most_50_ms(function, bounded):
    slow = {}
    for shape, text in SHAPES.items():
        if bounded:
            text = bounds.cut(text, ANALYSED_CHARS).text
        seconds = best_time(function, text)
        if seconds > LIMIT_SECONDS:
            slow[shape] = round(seconds * 1000, 1)
    assert not slow, f"over {LIMIT_SECONDS * 1000:.0f} ms (ms per shape): {slow}"


@pytest.mark.parametrize("function", [pytest.param(f, id=name) for name, f in PER_ENTRY])
def test_messages_of_many_entries_take_linear_time(function):
    # Twice the text may take twice the time, not four times (with room for noise).
    slow = {}
    for unit in MANY_ENTRIES:
        for runs in (RUNS, 2 * RUNS):  # a second, longer look before calling it quadratic
            half = best_time(function, _fill(unit, LINEAR_SIZE // 2), limit=0, runs=runs)
            whole = best_time(function, _fill(unit, LINEAR_SIZE), limit=0, runs=runs)
            if whole <= 2.6 * half + 0.005:
                break
        else:
            slow[unit] = (round(half * 1000, 1), round(whole * 1000, 1))
    assert not slow, f"not linear (ms for {LINEAR_SIZE // 2} and {LINEAR_SIZE} chars): {slow}"
