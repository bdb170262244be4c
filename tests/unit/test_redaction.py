import pytest

from bifrost_streams.redaction import compile_rules, redact

SECRETS = [
    ("aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
    ("secret_assignment", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("bearer_token", "Authorization: Bearer abcdef0123456789abcdef"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("secret_assignment", "password=hunter2"),
    ("secret_assignment", "api_key: 'abc123xyz'"),
    ("secret_assignment", '"token": "tok_live_123"'),
    ("github_token", "ghp_" + "a" * 36),
    ("slack_token", "xoxb-123456789012-abcdefghijkl"),
    ("stripe_key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"),
    ("connection_string", "postgresql://admin:s3cr3t@db.internal:5432/app"),
    ("email", "alice.smith@example.com"),
    ("card_number", "4111 1111 1111 1111"),
]


@pytest.mark.parametrize("kind, secret", SECRETS)
def test_each_kind_is_redacted_and_counted(kind, secret):
    line = f"ERROR request failed: {secret} while calling upstream"
    text, counts = redact(line)
    assert counts.get(kind, 0) >= 1, (text, counts)
    hidden = secret.split("=", 1)[-1].split(": ", 1)[-1].strip("'\"")
    assert hidden not in text
    assert "request failed" in text and "while calling upstream" in text


def test_plain_log_lines_are_untouched():
    line = "ERROR Connection to 10.0.0.1:5432 timed out after 3000 ms (order 1234567890123)"
    assert redact(line) == (line, {})


def test_card_numbers_need_a_valid_checksum():
    assert redact("order 4111 1111 1111 1112")[1] == {}


def test_configured_patterns_add_kinds():
    rules = compile_rules([("employee_id", r"EMP-\d{6}")])
    text, counts = redact("user EMP-123456 denied", rules)
    assert text == "user [REDACTED:employee_id] denied" and counts == {"employee_id": 1}
