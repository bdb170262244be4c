import json

import pytest

from bifrost_streams.families import FAMILIES, IDS, UNKNOWN, family_of, is_valid, normalise
from bifrost_streams.families import parent_of
from bifrost_streams.prompts import build_prompt
from bifrost_streams.providers.answer import answer_schema, parse_answer

# The contract's list (../shared/CONTRACT.md), exactly.
CONTRACT = (
    "network.timeout network.connection_refused network.dns network.tls resource.memory "
    "resource.disk resource.file_descriptors resource.threads database.connection_pool "
    "database.deadlock database.constraint database.query auth.authentication "
    "auth.authorization os.permission config.invalid code.null_reference code.type_error "
    "code.bounds data.serialization dependency.unavailable dependency.rate_limited "
    "messaging.broker container.crash container.image unknown").split()


def test_the_ids_are_the_contracts_each_with_a_meaning():
    assert list(IDS) == CONTRACT
    assert all(FAMILIES[family].strip() for family in IDS)


@pytest.mark.parametrize("category, parent", [
    ("network.dns", "network.dns"), ("database.query.slow", "database.query"),
    ("resource.memory.jvm.metaspace", "resource.memory"), ("unknown", "unknown"),
    ("unknown.thing", None), ("network", None), ("network.other", None),
    ("database.query.", None), ("database.query.Slow", None), ("", None),
    ("database.query." + "x" * 200, None),
])
def test_a_child_counts_as_its_family(category, parent):
    assert parent_of(category) == parent
    assert is_valid(category) is (parent is not None)
    assert family_of(category) == (parent or UNKNOWN)


def test_stray_values_become_unknown():
    assert normalise(" Network.DNS ") == "network.dns"
    assert [normalise(v) for v in (None, 3, "nope", ["network.dns"])] == [UNKNOWN] * 4
    assert family_of(None) == UNKNOWN


GOOD = {"summary": "DB timed out", "root_cause": "pool exhausted",
        "recommendation": "raise the pool size", "severity": "high", "confidence": 0.8}


def test_the_schema_asks_for_a_family_and_the_parser_keeps_a_valid_one():
    schema = answer_schema()
    assert schema["properties"]["category"]["enum"] == list(IDS)
    assert "category" in schema["required"]
    answer = parse_answer(json.dumps({**GOOD, "category": "database.connection_pool"}))
    assert answer.category == "database.connection_pool"


@pytest.mark.parametrize("category", [None, "outage", 7, "network"])
def test_an_answer_without_a_valid_family_stays_valid_as_unknown(category):
    document = dict(GOOD) if category is None else {**GOOD, "category": category}
    assert parse_answer(json.dumps(document)).category == UNKNOWN


def test_the_prompt_lists_every_family():
    system = build_prompt("x", service=None, environment=None, priority=None).system
    assert all(f"- {family}: " in system for family in IDS)
    assert "category" in system
