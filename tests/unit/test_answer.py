import json

import pytest

from bifrost_streams.providers.answer import answer_schema, parse_answer
from bifrost_streams.providers.base import InvalidAnswer

GOOD = {"summary": "DB timed out", "root_cause": "pool exhausted",
        "recommendation": "raise the pool size", "severity": "high", "confidence": 0.8271}


def test_valid_answer_is_normalised():
    answer = parse_answer(json.dumps(GOOD))
    assert answer.severity == "HIGH" and answer.confidence == 0.83


@pytest.mark.parametrize("bad, fragment", [
    ("not json", "not JSON"),
    (json.dumps({**GOOD, "severity": "URGENT"}), "severity"),
    (json.dumps({**GOOD, "confidence": 1.5}), "confidence"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "summary"}), "summary"),
    (json.dumps({**GOOD, "summary": "x" * 601}), "summary"),
])
def test_invalid_answers_say_why(bad, fragment):
    with pytest.raises(InvalidAnswer) as error:
        parse_answer(bad)
    assert fragment in str(error.value) and error.value.text == bad


def test_schema_bounds_strings_and_enumerates_confidence():
    schema = answer_schema()
    assert schema["properties"]["summary"]["maxLength"] == 600
    assert schema["properties"]["confidence"]["enum"][-1] == 1.0
    assert set(schema["required"]) == {"summary", "root_cause", "recommendation", "severity",
                                       "confidence", "category"}
