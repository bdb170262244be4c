"""No secret of the corpus leaves a running worker: not in what the model receives, the
published results, the alerts (topic and Slack), the worker's log, nor any web view; a
request that fails validation, the secret in the field that fails, shows none on /dlq.

The model echoes the log text it was given in its answer, as real models quote logs."""
from __future__ import annotations

import json
import re
from typing import Dict, Iterable, List, Tuple

from tests.requests_corpus import inline_request
from tests.secrets_corpus import KINDS, context, secrets
from tests.support.kafka_io import as_messages, produce, read_topic
from tests.support.services import wait_for
from tests.support.slack_server import FakeSlack

WINDOW = 8
MARKER = re.compile(r"\[REDACTED:\w+\]")
INVALID_EVERY = 8  # every 8th corpus line also goes out in a request that fails validation


def _windows(corpus: Iterable[Tuple[str, str, str]]) -> Dict[str, str]:
    """Every 8 characters of every secret -> its kind."""
    out: Dict[str, str] = {}
    for kind, secret, _ in corpus:
        for i in range(len(secret) - WINDOW + 1):
            out.setdefault(secret[i:i + WINDOW], kind)
    return out


def _leaks(windows: Dict[str, str], short: List[Tuple[str, str]], text: str) -> List[str]:
    """Kinds of which text shows a secret or 8 characters of one (one pass over the text)."""
    text = MARKER.sub("#", text)
    found = {windows[text[i:i + WINDOW]] for i in range(len(text) - WINDOW + 1)
             if text[i:i + WINDOW] in windows}
    found |= {kind for kind, secret in short if secret in text}
    return sorted(found)


def _dead_letters(worker) -> int:
    code, body = worker.get("/dlq")
    return json.loads(body)["total"] if code == 200 else 0


def _echoing(fake_ollama) -> None:
    """Answers quote the last part of the prompt, where the log text is."""
    def content(prompt: str) -> str:
        quoted = prompt[-600:]
        return json.dumps({"summary": f"Log says: {quoted[-200:]}", "root_cause": quoted,
                           "recommendation": "Rotate what the log shows.",
                           "severity": "CRITICAL", "confidence": 0.9})
    fake_ollama._content = content


async def test_no_secret_leaves_the_worker(pipeline_env, worker_factory, fake_ollama):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    corpus = secrets()
    assert len({kind for kind, _, _ in corpus}) == len(KINDS) >= 150
    windows = _windows(corpus)
    short = [(kind, context(secret, line)) for kind, secret, line in corpus
             if len(secret) < WINDOW]
    _echoing(fake_ollama)
    slack = FakeSlack().start()
    try:
        worker = worker_factory(SLACK_WEBHOOK_URL=slack.webhook_url,
                                THROTTLE_MAX_PER_MINUTE="20").start().wait_ready()
        requests = [inline_request(line, "payments") for _, _, line in corpus]
        # Invalid: the log line as log_id, which must be a number (error messages quote it).
        invalid = [{**inline_request(line, "payments"), "log_id": line}
                   for _, _, line in corpus[::INVALID_EVERY]]
        await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(requests + invalid))
        jobs = {request["request_id"] for request in requests}
        results = await read_topic(
            bootstrap, env["BIFROST_RESULT_TOPIC"],
            lambda rs: jobs <= {r["value"]["job_id"] for r in rs}, 120, "every job's result")
        alerts = await read_topic(bootstrap, env["BIFROST_ALERT_TOPIC"],
                                  lambda rs: len(rs) >= 20, 60, "alerts")
        wait_for(lambda: slack.accepted(), 60, "a Slack message")
        wait_for(lambda: _dead_letters(worker) >= len(invalid), 60, "every dead letter")

        sources = {
            "prompts": json.dumps([r["body"] for r in fake_ollama.requests], ensure_ascii=False),
            "results": json.dumps([r["value"] for r in results], ensure_ascii=False),
            "alerts": json.dumps([r["value"] for r in alerts], ensure_ascii=False),
            "slack": json.dumps([r.body for r in slack.all()], ensure_ascii=False),
        }
        for path in ["/", "/status", "/dlq", "/templates", "/analyses", "/metrics"]:
            code, body = worker.get(path)
            assert code == 200, (path, code, body[:200])
            sources[path] = body.decode(errors="replace")
        pages = []
        for job_id in sorted(jobs):
            code, body = worker.get(f"/jobs/{job_id}")
            assert code == 200, (job_id, code)
            pages.append(body.decode(errors="replace"))
        sources["/jobs/{id}"] = "\n".join(pages)
        sources["worker log"] = worker.log_path.read_text(errors="replace")

        leaks = {name: _leaks(windows, short, text) for name, text in sources.items()}
        assert {name: kinds for name, kinds in leaks.items() if kinds} == {}
        # The checks saw the texts: the model was asked about, and quoted, redacted logs.
        assert "[REDACTED:" in sources["prompts"] and "[REDACTED:" in sources["results"]
        redacted = sum(sum(r["value"]["result"]["redactions"].values()) for r in results
                       if r["value"]["job_id"] in jobs)
        assert redacted >= len(corpus)
    finally:
        slack.stop()
