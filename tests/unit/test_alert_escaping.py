"""Slack messages carry an event's text as inert text: no mention, no foreign link, no
broken link syntax, whatever the event holds."""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from bifrost_streams.alerts.blocks import (SECTION_CHARS, alert_message, cut, digest_message,
                                           escape, link_url)
from bifrost_streams.alerts.digest import fold
from bifrost_streams.alerts.rule import AlertRule

HOSTILE = ["<!channel>", "<!here>", "<@U123>", "<#C42>", "<https://evil.example|click>",
           "<!subteam^S1|@team>", "x|<!here>", "a > b & c < d"]
BASE = "https://bifrost.example"


def _alert(value: str, **changes):
    job_id = changes.pop("job_id", value)
    alert = AlertRule(["HIGH"], 50, BASE, None).alert(
        {"job_id": job_id, "severity": "HIGH", "summary": value, "error_message": None,
         "timestamp": value,
         "result": {"service_name": value, "environment": value, "template_id": value,
                    "occurrences": {"1m": value, "1h": 2}}}, "severity")
    alert.update(changes)
    return alert


def _texts(message) -> Iterator[str]:
    """Every text Slack renders: the fallback, and each text object of each block."""
    yield message["text"]
    for block in message["blocks"]:
        if "text" in block:
            yield block["text"]["text"]
        for item in block.get("fields", []) + block.get("elements", []):
            yield item["text"]


def _links(text: str):
    """The <...> spans Slack would parse: each must be one of ours."""
    spans, start = [], text.find("<")
    while start >= 0:
        end = text.find(">", start)
        spans.append(text[start:end + 1])
        start = text.find("<", end)
    return spans


def _assert_inert(message) -> None:
    for text in _texts(message):
        for span in _links(text):
            url, _, label = span[1:-1].partition("|")
            assert url.startswith(BASE + "/jobs/"), span
            assert label in ("View the analysis", "view"), span
            assert not set(url) & set("<>| &"), span


@pytest.mark.parametrize("value", HOSTILE)
def test_an_alert_from_a_hostile_event_mentions_and_links_nothing(value):
    message = alert_message(_alert(value))
    _assert_inert(message)
    rendered = json.dumps(message)
    assert "<!" not in rendered and "<@" not in rendered and "<#" not in rendered
    assert "<https://evil" not in rendered


@pytest.mark.parametrize("value", HOSTILE)
def test_a_digest_of_hostile_events_mentions_and_links_nothing(value):
    message = digest_message(fold([_alert(value, alert_id=str(i)) for i in range(7)]), 5, 60)
    _assert_inert(message)
    assert "<!" not in json.dumps(message)


def test_the_fallback_text_and_the_header_are_escaped_too():
    message = alert_message(_alert("<!channel> & co"))
    assert "&lt;!channel&gt; &amp; co" in message["text"]
    assert "&lt;!channel&gt;" in message["blocks"][0]["text"]["text"]
    assert message["blocks"][0]["text"]["type"] == "plain_text"


def test_a_job_id_goes_into_its_link_quoted_and_into_the_text_escaped():
    message = alert_message(_alert("s", job_id="x|<!here>"))
    assert "<https://bifrost.example/jobs/x%7C%3C%21here%3E|View the analysis>" in \
        message["blocks"][3]["text"]["text"]
    assert "job `x|&lt;!here&gt;`" in message["blocks"][4]["elements"][0]["text"]


def test_a_backquote_cannot_end_the_code_span_of_an_id():
    context = alert_message(_alert("s", job_id="a`*b*`c"))["blocks"][4]["elements"][0]["text"]
    assert "job `a'*b*'c`" in context


def test_a_foreign_or_odd_link_becomes_plain_text():
    for link in ("javascript:alert(1)", "slack://channel", "<https://evil|x>", 42, None,
                 "https://" + "a" * 3000, "http://[::1"):
        section = alert_message({**_alert("s"), "link": link})["blocks"][3]["text"]["text"]
        assert section == "View the analysis", link


def test_link_urls_keep_their_shape_and_lose_what_slack_would_parse():
    assert link_url("https://b.example/jobs/3f0c6a52") == "https://b.example/jobs/3f0c6a52"
    assert link_url("https://b.example/jobs/a%2Fb") == "https://b.example/jobs/a%2Fb"
    assert link_url("https://b.example/x?a=1&b=<2>|") == "https://b.example/x?a=1%26b=%3C2%3E%7C"


def test_escaping_happens_before_the_cut_and_never_splits_an_entity():
    assert escape("<&>") == "&lt;&amp;&gt;"
    for length in range(1, 12):
        text = cut(escape("&" * 50), length)
        assert len(text) <= length
        assert text.rstrip("…").replace("&amp;", "") == ""
    message = alert_message(_alert("<" * 10_000))
    for block in message["blocks"]:
        if "text" in block:
            assert len(block["text"]["text"]) <= SECTION_CHARS


def test_a_digest_stays_within_a_section_with_long_lines():
    alerts = [_alert("<" * 300, job_id="é" * 150, alert_id=str(i)) for i in range(5)]
    message = digest_message(fold(alerts, first=5), 5, 60)
    first = message["blocks"][3]["text"]["text"]
    assert len(first) <= SECTION_CHARS
    shown = first.count("|view>")
    assert 1 <= shown < 5 and first.startswith(f"*The first {shown}*")
    assert first.endswith(f"…and {5 - shown} more")


def test_odd_json_types_in_an_alert_are_shown_not_a_crash():
    odd = {**_alert("s"), "severity": ["HIGH"], "service": {"a": 1}, "reason": 7,
           "raised_at": 5, "occurrences": [1, 2], "threshold": "<!here>"}
    digest = fold([odd, _alert("t")])
    assert digest.count == 2
    _assert_inert(digest_message(digest, 5, 60))
    _assert_inert(alert_message({**odd, "reason": "template_threshold"}))
