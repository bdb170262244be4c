"""The analysis benchmark: its corpus, its figures and its reading of a user's file."""
import json
import time
from collections import Counter

import pytest

from bifrost_streams.evaluation import analysis, report, scoring
from bifrost_streams.evaluation.corpus import (CORPUS, CorpusError, Item, read_jsonl,
                                               sample_bgl, sample_by_family)
from bifrost_streams.evaluation.grounding import identifiers, ungrounded
from bifrost_streams.evaluation.runner import ask, conforms
from bifrost_streams.evaluation.scoring import Outcome, answer_family
from bifrost_streams.families import IDS, UNKNOWN
from bifrost_streams.providers.answer import answer_schema
from bifrost_streams.providers.base import Answer, InvalidAnswer


def _answer(category="unknown", severity="HIGH", summary="It failed.", root_cause="Unknown.",
            **extra):
    return Answer(summary=summary, root_cause=root_cause, recommendation="Look.",
                  severity=severity, confidence=0.5, model="m", provider="p",
                  category=category, **extra)


def _outcome(expected, family, band="high", severity="HIGH", ungrounded=()):
    return Outcome(expected=expected, band=band, family=family, severity=severity, valid=True,
                   ungrounded=ungrounded)


# --- the corpus

def test_the_corpus_has_200_unique_items_and_5_of_every_family():
    items = read_jsonl(CORPUS, band_required=True)
    assert len(items) >= 200
    counts = Counter(item.family for item in items)
    assert set(counts) == set(IDS), "every family, unknown included, and no other id"
    assert min(counts.values()) >= 5, counts
    texts = [item.text for item in items]
    assert len(set(texts)) == len(texts), "duplicate texts"
    assert {item.band for item in items} == {"low", "high"}


def test_every_corpus_line_is_a_json_object_with_exactly_its_three_fields():
    with CORPUS.open(encoding="utf-8") as handle:
        for line in handle:
            assert set(json.loads(line)) == {"text", "family", "severity_band"}


# --- families and figures

def test_a_child_family_counts_as_its_parent_and_an_unknown_id_as_unknown():
    assert answer_family(_answer("database.query.slow")) == "database.query"
    assert answer_family(_answer("network.dns")) == "network.dns"
    assert answer_family(_answer("weather.rain")) == UNKNOWN
    legacy = Answer(summary="s", root_cause="r", recommendation="x", severity="LOW",
                    confidence=0.1, model="m", provider="p",
                    extra={"category": "resource.disk"})
    assert answer_family(legacy) == "resource.disk"


def test_accuracy_precision_and_coverage():
    outcomes = [
        _outcome("network.dns", "network.dns"),  # right
        _outcome("resource.disk", "resource.memory"),  # named, wrong
        _outcome("code.bounds", UNKNOWN),  # not named
        _outcome(UNKNOWN, UNKNOWN),  # right, not named
        Outcome(expected="config.invalid", band="high", error="timeout"),  # no answer
    ]
    assert scoring.accuracy(outcomes) == pytest.approx(2 / 5)
    assert scoring.precision(outcomes) == pytest.approx(1 / 2)
    assert scoring.coverage(outcomes) == pytest.approx(2 / 5)
    assert scoring.schema_valid(outcomes) == 1.0, "no reply is an error, not a schema miss"
    rejected = Outcome(expected="config.invalid", band="high", error="bad", rejected=True)
    assert scoring.schema_valid(outcomes + [rejected]) == pytest.approx(4 / 5)


def test_severity_agreement_by_band():
    outcomes = [_outcome("a", "a", band="high", severity="CRITICAL"),
                _outcome("a", "a", band="high", severity="MEDIUM"),
                _outcome("a", "a", band="low", severity="LOW")]
    assert scoring.severity_agreement(outcomes) == pytest.approx(2 / 3)
    assert scoring.severity_agreement(outcomes, "high") == pytest.approx(1 / 2)
    assert scoring.severity_agreement(outcomes, "low") == 1.0


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert scoring.percentile(values, 50) == 50
    assert scoring.percentile(values, 95) == 95
    assert scoring.percentile([], 50) is None


# --- grounding

LOG = ("2026-12-01 ERROR HikariPool-1 - Connection to orders-db-7.prod.internal "
       "(10.2.3.4:5432) timed out after 30000ms in com.acme.OrderService; table order_items")


def test_grounding_catches_an_invented_host_and_not_one_in_the_log():
    assert ungrounded("The database orders-db-7.prod.internal timed out.", LOG) == []
    assert ungrounded("The database billing-db-2.prod.internal timed out.", LOG) == [
        "billing-db-2.prod.internal"]


def test_grounding_compares_numbers_ips_classes_and_tables():
    assert ungrounded("Port 5432 on 10.2.3.4 after 30000 ms; OrderService; order_items", LOG) \
        == []
    assert ungrounded("Port 3306 on 10.2.3.5; InvoiceService; invoice_lines", LOG) == [
        "10.2.3.5", "3306", "InvoiceService", "invoice_lines"]
    assert ungrounded("port 300 in the log is part of 30000, not a number of its own", LOG) \
        == ["300"]


def test_plain_words_acronyms_and_short_numbers_are_not_identifiers():
    assert identifiers("The pool ran out, e.g. after a DNS or TLS error 42 times. "
                       "PostgreSQL refused; CrashLoopBackOff.") == set()


def test_identifier_extraction_is_linear_on_hostile_text():
    started = time.perf_counter()
    identifiers("a." * 200_000 + "-_" * 100_000 + "9" * 100_000)
    assert time.perf_counter() - started < 2


# --- asking a provider

class _Scripted:
    name = "scripted"
    model = "scripted"

    def __init__(self, *replies):
        self.replies = list(replies)
        self.prompts = []

    async def analyze(self, prompt, schema, deadline, model=None):
        self.prompts.append(prompt)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


async def test_an_answer_is_scored_with_its_family_tokens_and_ungrounded_names():
    provider = _Scripted(_answer("network.timeout.read", summary="db-9.internal timed out",
                                 prompt_tokens=120, completion_tokens=30))
    item = Item(text="ERROR read timed out from db-1.internal", family="network.timeout",
                band="high")
    outcome = await ask(provider, item, answer_schema(), 5)
    assert (outcome.family, outcome.right, outcome.valid, outcome.tokens) == (
        "network.timeout", True, True, 150)
    assert outcome.ungrounded == ("db-9.internal",)
    assert provider.prompts[0].log == item.text


async def test_an_invalid_answer_is_asked_again_once_then_counted_invalid():
    provider = _Scripted(InvalidAnswer("not JSON", "oops"), _answer("network.dns"))
    outcome = await ask(provider, Item("x", "network.dns", "low"), answer_schema(), 5)
    assert outcome.valid and outcome.right and "rejected" in provider.prompts[1].user
    provider = _Scripted(InvalidAnswer("not JSON", "a"), InvalidAnswer("not JSON", "b"))
    outcome = await ask(provider, Item("x", "network.dns", "low"), answer_schema(), 5)
    assert not outcome.answered and not outcome.valid and "InvalidAnswer" in outcome.error
    assert outcome.rejected


def test_an_answer_outside_the_schema_does_not_conform():
    assert conforms(_answer("network.dns"))
    assert not conforms(_answer("network.dns", severity="SEVERE"))
    assert not conforms(_answer("network.dns", summary=""))
    assert not conforms(_answer("weather.rain"))


# --- sampling, targets, a user's file

def test_a_model_sample_takes_every_family_in_turn_and_bgl_half_alerts():
    items = [Item(f"{f} {i}", f, "low") for f in ("a", "b", "c") for i in range(5)]
    assert [i.family for i in sample_by_family(items, 4)] == ["a", "b", "c", "a"]
    bgl = [Item(str(i), None, "high" if i % 10 == 0 else "low") for i in range(100)]
    assert Counter(i.band for i in sample_bgl(bgl, 10)) == {"high": 5, "low": 5}


def test_targets_are_marked_pass_or_miss():
    right = [_outcome("network.dns", "network.dns")] * 19
    runs = [report.Run("rules", False, "corpus", True,
                       right + [_outcome("network.dns", "resource.disk")]),
            report.Run("tiny", True, "corpus", True,
                       right + [_outcome("x", UNKNOWN, ungrounded=("h",))])]
    lines = "\n".join(report.targets(runs))
    assert "rules on the corpus, precision: 0.9500 >= 0.9500 -> PASS" in lines
    assert "tiny on the corpus, family accuracy: 0.9500 >= 0.9000 -> PASS" in lines
    assert "tiny on the corpus, hallucinated identifiers: 5.00% < 2.00% -> MISS" in lines


def test_data_reads_a_users_file_and_scores_it(tmp_path, capsys):
    mine = tmp_path / "ours.jsonl"
    mine.write_text(json.dumps({"text": "java.lang.OutOfMemoryError: Java heap space",
                                "family": "resource.memory"}) + "\n\n"
                    + json.dumps({"text": "Payment declined", "family": "unknown"}) + "\n")
    assert [i.family for i in read_jsonl(mine, band_required=False)] == [
        "resource.memory", "unknown"]
    assert analysis.main(["--no-bgl", "--data", str(mine)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert any(row[:3] == ["rules", "ours.jsonl", "2"] for row in rows)


def test_a_wrong_line_in_a_users_file_is_named(tmp_path, capsys):
    mine = tmp_path / "ours.jsonl"
    mine.write_text('{"text": "x", "family": "network.dns"}\n{"text": "y", "family": "dns"}\n')
    with pytest.raises(CorpusError, match=r"ours.jsonl:2: `family` 'dns'"):
        read_jsonl(mine, band_required=False)
    assert analysis.main(["--no-bgl", "--data", str(mine)]) == 2
    assert "ours.jsonl:2" in capsys.readouterr().err


def test_the_rules_back_a_model_up_where_it_gave_no_answer_or_no_family():
    rules = _outcome("network.dns", "network.dns", severity="LOW")
    assert scoring.with_rules(_outcome("network.dns", UNKNOWN), rules).family == "network.dns"
    assert scoring.with_rules(_outcome("network.dns", "resource.disk"), rules).family \
        == "resource.disk"
    failed = Outcome(expected="network.dns", band="high", error="timeout")
    assert scoring.with_rules(failed, rules) == rules


async def test_a_model_is_scored_on_its_sample_alone_and_backed_by_the_rules(monkeypatch):
    items = [Item(f"ERROR {f} number {i}", f, "high") for f in ("network.dns", "unknown")
             for i in range(3)]
    model = _Scripted(*[_answer(UNKNOWN) for _ in range(2)])

    async def models(args, stack):
        return [("tiny", model)]
    monkeypatch.setattr(analysis, "_models", models)
    args = analysis.parse_args(["--no-bgl", "--limit", "2"])
    runs = await analysis.evaluate(args, [("corpus", items, True)])
    assert [(r.provider, len(r.outcomes)) for r in runs] == [
        ("rules", 6), ("tiny", 2), ("tiny+rules", 2)]
    assert [o.family for o in runs[1].outcomes] == [UNKNOWN, UNKNOWN]
    assert [o.expected for o in runs[2].outcomes] == ["network.dns", "unknown"]


def test_the_names_counted_as_invented_can_be_listed():
    runs = [report.Run("tiny", True, "corpus", True,
                       [_outcome("a", "a", ungrounded=("db-9.internal", "5433")),
                        _outcome("a", "a")])]
    assert report.ungrounded_names(runs) == ["tiny on corpus: db-9.internal, 5433"]
