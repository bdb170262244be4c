import asyncio

import pytest

from bifrost_streams.prompts import build_prompt
from bifrost_streams.providers.answer import AnalysisAnswer
from bifrost_streams.providers.rules import RulesProvider, match

CASES = [
    ("ERROR Connection to db:5432 timed out after 3000ms", "timeout"),
    ("ERROR connect ECONNREFUSED 10.0.0.5:6379", "refused"),
    ("java.net.UnknownHostException: payments.internal", "dns"),
    ("SSLHandshakeException: certificate expired", "tls"),
    ("java.lang.OutOfMemoryError: Java heap space", "heap"),
    ("write failed: No space left on device", "disk_full"),
    ("open /etc/app.conf: permission denied", "auth"),
    ("Exception in thread main java.lang.NullPointerException", "null_pointer"),
    ("ERROR: deadlock detected", "deadlock"),
    ("HTTP 429 Too Many Requests from api.partner", "rate_limited"),
    ("accept4: Too many open files", "fd_exhausted"),
    ("Back-off restarting failed container: CrashLoopBackOff", "k8s_crashloop"),
    ("Last State: Terminated Reason: OOMKilled", "k8s_oomkilled"),
]


@pytest.mark.parametrize("line, name", CASES)
def test_signatures(line, name):
    assert match(line).name == name


def test_answers_validate_and_are_honest_about_confidence():
    provider = RulesProvider()
    deadline = 0.0
    for line, name in CASES + [("ERROR something nobody has seen", None)]:
        prompt = build_prompt(line, service="svc", environment="prod", priority="ERROR")
        answer = asyncio.run(provider.analyze(prompt, {}, deadline))
        AnalysisAnswer(summary=answer.summary, root_cause=answer.root_cause,
                       recommendation=answer.recommendation, severity=answer.severity,
                       confidence=answer.confidence)
        assert answer.provider == "rules" and answer.model == "rules-v1"
        assert answer.confidence <= 0.6 and answer.extra["signature"] == name
    assert answer.confidence == 0.1 and answer.severity == "HIGH"
