"""The agents through Faust's test_context: no broker, memory tables, a stub model."""
from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from agents import analysis, intake
from bifrost_streams import codes, outcomes
from bifrost_streams.app import app, settings
from bifrost_streams.kafka.topics import key_partition
from bifrost_streams.providers.router import ModelRouter
from tables import dead_letters, job_ids, jobs, results, template_counts, templates
from tests.contract import check_dlq, check_result
from tests.support.events import FakeEvent
from bifrost_streams.analysis.memory import MemoryLogs
from bifrost_streams.storage.logs import LogEntry
from tests.support.stub_provider import StubProvider

JOB = {"schema_version": 1, "job_id": "3f0c6a52-5d1e-4a57-9a0e-6f2f6f1d2b11",
       "idempotency_key": "manual:log:5:2b9c", "log_id": 5, "trace_id": "trace-1"}
# Heimdall's job ids are UUIDs, and the contract checks say so.
REQ_1 = "5b0f3f0e-6c1a-4d8e-9f00-000000000001"
INLINE = {"request_id": REQ_1, "log_id": 12345, "correlation_id": "corr-1",
          "log_content": "ERROR Connection to 10.0.0.1:5432 timed out after 3000ms",
          "service_name": "user-service"}


class Outbox:
    """What the agents published, by topic: (key, JSON-ready value) pairs."""

    def __init__(self) -> None:
        self.sent = {"result": [], "dlq": [], "jobs": [], "alert": []}
        self.names = {settings.result_topic: "result", settings.dlq_topic: "dlq",
                      settings.jobs_topic: "jobs", settings.alert_topic: "alert"}

    async def send_json(self, topic, key, value):
        await self.send_bytes(topic, key, json.dumps(value).encode())

    async def send_bytes(self, topic, key, value):
        self.sent[self.names[topic]].append((key, json.loads(value)))


_OUTBOX = [None]


@pytest.fixture
def outbox(monkeypatch):
    box = Outbox()
    _OUTBOX[0] = box
    monkeypatch.setattr(outcomes, "send_json", box.send_json)
    monkeypatch.setattr(outcomes, "send_bytes", box.send_bytes)
    monkeypatch.setattr(intake, "send_json", box.send_json)

    def delivered(partition, *_args, **_kwargs):
        # What Table.send_changelog returns: a future that knows its message's partition.
        future = asyncio.get_running_loop().create_future()
        future.message = SimpleNamespace(partition=partition or 0)
        future.set_result(None)
        return future
    for table in (jobs.jobs, results.results, templates.templates, template_counts.counts,
                  dead_letters.dead_letters, job_ids.job_ids):
        monkeypatch.setattr(table, "send_changelog", delivered)
        table.data.clear()
    templates.miner.clear()
    template_counts._totals.clear()
    results._recent.clear()
    return box


@pytest.fixture
def model():
    provider = StubProvider("ollama", [])
    analysis.use(analysis.build_analyzer(router=ModelRouter([provider]), logs=MemoryLogs()))
    yield provider
    analysis.use(None)


def _partitions(key: str):
    """(the key's partition, another one) on the job stream."""
    count = app.conf.topic_partitions
    own = key_partition(key, count)
    return own, (own + 1) % count


async def test_intake_forwards_a_request_not_on_its_keys_partition(outbox, model):
    async with intake.intake.test_context() as agent:
        await agent.put(key=REQ_1.encode(), value=json.dumps(INLINE).encode(),
                        partition=_partitions(REQ_1)[1])
        await agent.put(key=JOB["job_id"].encode(), value=json.dumps(JOB).encode(),
                        partition=_partitions(JOB["idempotency_key"])[1])
    keys = [key for key, _ in outbox.sent["jobs"]]
    assert keys == [REQ_1, "manual:log:5:2b9c"]
    assert outbox.sent["dlq"] == [] and outbox.sent["result"] == [] and model.prompts == []


async def test_intake_analyses_a_request_already_on_its_keys_partition(outbox, model):
    assert app.conf.topic_partitions > 1, "the test needs a partition that is not the key's"
    async with intake.intake.test_context() as agent:
        await agent.put(key=REQ_1.encode(), value=json.dumps(INLINE).encode(),
                        partition=_partitions(REQ_1)[0])
    assert outbox.sent["jobs"] == []
    assert [key for key, _ in outbox.sent["result"]] == [REQ_1] and len(model.prompts) == 1


async def test_intake_sends_bad_input_to_the_dlq_and_keeps_going(outbox):
    async with intake.intake.test_context() as agent:
        await agent.put(value=b"{not json")
        await agent.put(value=json.dumps({**JOB, "log_id": "five"}).encode())
        await agent.put(value=json.dumps(INLINE).encode(), partition=_partitions(REQ_1)[1])
    dlq = [value for _, value in outbox.sent["dlq"]]
    assert [event["error_code"] for event in dlq] == [codes.INVALID_JSON, codes.INVALID_REQUEST]
    for event in dlq:
        check_dlq(event)
    assert dlq[0]["job_id"] is None and dlq[0]["payload"] == {"raw": "{not json"}
    assert len(outbox.sent["jobs"]) == 1


async def _analyse(requests):
    """Every request gets exactly one result; jobs that wait for a model or the log run as
    tasks that may end after the agent let go of their events."""
    async with analysis.analyze.test_context() as agent:
        before = len(_OUTBOX[0].sent["result"])
        for request in requests:
            await agent.put(key=request.idempotency_key, value=request)
        deadline = asyncio.get_running_loop().time() + 10
        while len(_OUTBOX[0].sent["result"]) < before + len(requests):
            assert asyncio.get_running_loop().time() < deadline, "results missing after 10 s"
            await analysis.later.drain()
            await asyncio.sleep(0.01)


def _request(document):
    from bifrost_streams.validation import parse_request
    return parse_request(json.dumps(document).encode(), max_bytes=1 << 20, topic="t",
                         partition=0, offset=1)


async def test_a_duplicate_never_reaches_the_model_twice(outbox, model):
    request = _request(INLINE)
    await _analyse([request, request])
    assert len(model.prompts) == 1
    (first_key, first), (_, second) = outbox.sent["result"]
    assert first == second and first_key == REQ_1
    check_result(first)
    assert first["status"] == "SUCCEEDED" and first["model_used"] == "stub-model"
    assert first["token_usage"] == {"prompt_tokens": 10, "completion_tokens": 5,
                                 "total_tokens": 15}
    assert jobs.get(REQ_1)["state"] == jobs.DONE


async def test_a_variant_of_an_analysed_line_is_served_from_the_cache(outbox, model):
    other = {**INLINE, "request_id": "req-2",
             "log_content": "ERROR Connection to 10.9.9.9:5432 timed out after 12ms"}
    await _analyse([_request(INLINE), _request(other)])
    assert len(model.prompts) == 1
    (_, first), (_, second) = outbox.sent["result"]
    assert second["result"]["cache_hit"] is True
    assert second["token_usage"]["total_tokens"] == 0
    # One template, named with its service; the second occurrence is a suppressed storm.
    assert first["result"]["template_id"] == second["result"]["template_id"]
    assert first["result"]["template_id"].startswith("user-service:")
    assert "<*>" in first["result"]["template"]
    assert (first["result"]["new_template"], second["result"]["new_template"]) == (True, False)
    assert second["result"]["occurrences"]["1m"] == first["result"]["occurrences"]["1m"] + 1
    assert second["result"]["storm_suppressed"] is True


async def test_a_redrive_serves_a_failed_job_again_and_clears_its_dead_letter(outbox, model):
    await _analyse([_request(JOB)])
    entry = dead_letters.dead_letters.get(JOB["job_id"])
    assert entry["error_code"] == codes.LOG_NOT_FOUND and entry["failures"] == 1
    # Not the payload: a redacted excerpt, and where a redrive reads the request back.
    assert "payload" not in entry and entry["redrivable"] is True
    assert JOB["idempotency_key"] in entry["excerpt"]
    assert (entry["original_topic"], entry["original_partition"], entry["original_offset"]) == (
        "t", 0, 1)

    analysis.analyzer().logs.rows[JOB["log_id"]] = LogEntry(
        JOB["log_id"], "ERROR payment failed", "payments", "prod", "ERROR")
    plain, redriven = _request(JOB), _request(JOB)
    redriven.redrive = 1
    await _analyse([plain, redriven, plain])
    statuses = [value["status"] for _, value in outbox.sent["result"]]
    # A plain copy gets the stored result; the redrive runs again; later copies get its result.
    assert statuses == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert JOB["job_id"] not in dead_letters.dead_letters
    assert len(model.prompts) == 1


async def test_a_redrive_of_a_succeeded_job_republishes_it(outbox, model):
    request = _request(INLINE)
    await _analyse([request])
    again = _request(INLINE)
    again.redrive = 2
    await _analyse([again])
    first, second = (value for _, value in outbox.sent["result"])
    assert first == second and len(model.prompts) == 1


async def test_intake_reads_the_redrive_header_and_indexes_job_ids(outbox, model):
    assert intake.redrive_of([("bifrost-redrive", b"2")]) == 2
    assert intake.redrive_of([("other", b"x")]) == 0 and intake.redrive_of(None) == 0
    assert intake.redrive_of([("bifrost-redrive", b"x")]) == 0
    async with intake.intake.test_context() as agent:
        await agent.put(key=JOB["job_id"].encode(), value=json.dumps(JOB).encode(),
                        partition=_partitions(JOB["job_id"])[0])
    assert job_ids.key_for(JOB["job_id"]) == JOB["idempotency_key"]


async def test_a_high_result_raises_one_alert_keyed_by_the_webhook(outbox, model):
    from bifrost_streams.alerts.rule import webhook_key
    from tests.support.stub_provider import answer
    model.outcomes = [answer("ollama", severity="HIGH"), answer("ollama", severity="LOW")]
    request = _request(INLINE)
    calm = _request({**INLINE, "request_id": "req-2", "log_content": "WARN a calm line"})
    await _analyse([request, request, calm])
    assert len(outbox.sent["result"]) == 3
    # The redelivered copy raises the same alert_id, which the alerts agent sends once.
    (key, first), (_, second) = outbox.sent["alert"]
    assert key == webhook_key(settings.slack_webhook_url)
    assert first == second and first["job_id"] == REQ_1 and first["severity"] == "HIGH"
    assert first["link"].endswith(f"/jobs/{REQ_1}")


def _event(partition):
    return FakeEvent(partition, analysis.jobs_topic.get_topic_name())


class _Stream:
    def __init__(self):
        self.acked = []

    async def ack(self, event):
        event.message.refcount -= 1
        self.acked.append(event)


async def test_a_batch_cut_short_leaves_its_events_unacknowledged(outbox, model, monkeypatch):
    """take_events acknowledges a batch even when its body fails; our hold keeps the offsets
    of jobs whose results were not published from being committed."""
    from bifrost_streams.kafka.batching import hold
    request = _request(INLINE)
    event, stream = _event(key_partition(request.idempotency_key, app.conf.topic_partitions)), \
        _Stream()
    await analysis.analyse_batch(stream, [])  # nothing to do, nothing acknowledged
    async with analysis.analyze.test_context():
        hold([event])
        await analysis.analyse_batch(stream, [(event, request)])
        await analysis.later.drain()
    assert stream.acked == [event] and event.message.refcount == 1  # released once, after

    async def broken(*_args):
        raise RuntimeError("producer stopped")
    monkeypatch.setattr(analysis, "_publish", broken)
    again = _event(event.message.partition)
    async with analysis.analyze.test_context():
        hold([again])
        with pytest.raises(RuntimeError):
            await analysis.analyse_batch(stream, [(again, _request(INLINE))])
    assert again not in stream.acked and again.message.refcount == 2
