import pytest

from bifrost_streams.providers.policy import route

CHAIN = ["ollama", "bedrock", "rules"]


def test_no_policy_keeps_the_configured_order():
    chosen = route(None, CHAIN)
    assert chosen.steps == (("ollama", None), ("bedrock", None), ("rules", None))
    assert chosen.note is None


def test_cloud_source_goes_first_with_its_model():
    chosen = route({"source": "cloud", "model": "anthropic.claude-3-haiku-20240307-v1:0"}, CHAIN)
    assert chosen.steps == (("bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
                            ("ollama", None), ("rules", None))
    assert chosen.note["ignored"] == []


def test_a_model_alone_applies_to_the_first_provider():
    assert route({"model": "llama3.1:8b"}, CHAIN).steps[0] == ("ollama", "llama3.1:8b")


@pytest.mark.parametrize("policy, fragment", [
    ({"source": "cloud"}, "not enabled"),
    ({"source": "gpu"}, "must be one of"),
    ({"source": 3}, "must be one of"),
    ({"model": "../../etc/passwd x"}, "model must be"),
    ({"model": ["a"]}, "model must be"),
])
def test_what_cannot_be_honoured_is_ignored_and_said(policy, fragment):
    chosen = route(policy, ["ollama", "rules"])
    assert chosen.steps == (("ollama", None), ("rules", None))
    assert any(fragment in reason for reason in chosen.note["ignored"])


def test_a_request_never_enables_the_cloud():
    chosen = route({"source": "cloud", "model": "anthropic.claude-3-haiku"}, ["ollama", "rules"])
    assert all(name != "bedrock" for name, _ in chosen.steps)


def test_a_model_outside_the_allowed_set_is_ignored_with_the_reason():
    allowed = frozenset({"mistral", "llama3.1:8b"})
    kept = route({"model": "llama3.1:8b"}, CHAIN, allowed)
    assert kept.steps[0] == ("ollama", "llama3.1:8b") and kept.note["ignored"] == []
    refused = route({"source": "cloud", "model": "anthropic.claude-3-opus"}, CHAIN, allowed)
    assert refused.steps == (("bedrock", None), ("ollama", None), ("rules", None))
    assert refused.note["ignored"] == ["model 'anthropic.claude-3-opus' is not allowed in this "
                                       "deployment (BIFROST_ALLOWED_MODELS)"]
    assert route({"model": "gpt-4"}, CHAIN, frozenset()).steps[0] == ("ollama", None)


def test_the_note_repeats_short_values_and_names_the_kind_of_others():
    note = route({"source": {"deep": [1] * 1000}, "model": "m" * 5000}, CHAIN).note
    assert note["source"] == "<dict>"
    assert len(note["model"]) <= 201
