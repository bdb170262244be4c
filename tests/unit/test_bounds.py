"""The bound on the text one event makes us analyse (bifrost_streams/bounds.py)."""
import re

import pytest

from bifrost_streams.bounds import MARKER, cut

JAVA_HEAD = ("2026-01-31 10:00:00 ERROR [orders] request failed\n"
             "java.lang.IllegalStateException: order not found\n"
             "\tat com.acme.orders.OrderService.load(OrderService.java:42)\n")
JAVA_TAIL = ("Caused by: java.net.SocketTimeoutException: connect timed out\n"
             "\tat org.postgresql.Driver.connect(Driver.java:100)\n\t... 4 more")


def test_a_text_within_the_bound_is_kept_whole():
    result = cut("short text", 1024)
    assert result.text == "short text"
    assert (result.original_chars, result.kept_chars, result.cut_chars) == (10, 10, 0)


def test_a_text_of_exactly_the_bound_is_kept_whole():
    text = "x" * 1024
    assert cut(text, 1024).text == text


def test_a_long_trace_keeps_its_exception_and_its_root_cause():
    middle = "".join(f"\tat com.acme.layer{i}.Handler.handle(Handler.java:{i})\n"
                     for i in range(5000))
    text = JAVA_HEAD + middle + JAVA_TAIL
    result = cut(text, 32 * 1024)
    assert len(result.text) <= 32 * 1024
    assert result.text.startswith(JAVA_HEAD)
    assert result.text.endswith(JAVA_TAIL)
    assert result.original_chars == len(text)
    assert result.cut_chars == len(text) - result.kept_chars > 0


def test_the_marker_is_a_line_of_its_own_and_counts_what_went():
    text = "\n".join(f"line {i:05d} of the log" for i in range(10000))
    result = cut(text, 4096)
    marker = re.search(r"\n… \[(\d+) characters cut\] …\n", result.text)
    assert marker is not None
    assert int(marker.group(1)) == result.cut_chars
    head, tail = result.text[:marker.start()], result.text[marker.end():]
    # Cut at line breaks: every kept line is whole.
    assert all(re.fullmatch(r"line \d{5} of the log", line) for line in head.split("\n"))
    assert all(re.fullmatch(r"line \d{5} of the log", line) for line in tail.split("\n"))
    assert len(head) + len(tail) == result.kept_chars


def test_a_cut_does_not_split_a_word_when_a_space_is_near():
    words = " ".join(f"AKIA{i:016d}" for i in range(5000))
    result = cut(words, 2048)
    kept = result.text.replace(MARKER.format(result.cut_chars), " ").split()
    assert kept and all(re.fullmatch(r"AKIA\d{16}", word) for word in kept)


@pytest.mark.parametrize("limit", [1024, 4096, 32 * 1024, 1024 * 1024])
def test_one_huge_token_is_cut_within_the_bound(limit):
    text = "a" * (limit * 3 + 17)
    result = cut(text, limit)
    assert len(result.text) <= limit
    assert result.text.startswith("a" * (limit // 3))
    assert result.text.endswith("a" * (limit // 3))
    assert result.kept_chars + result.cut_chars == len(text)
