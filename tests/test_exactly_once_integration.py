"""Exactly once on the real Apache Kafka broker: a worker killed mid-stream and restarted.

With BIFROST_PROCESSING_GUARANTEE=exactly_once a consumer reading read_committed (Heimdall's
setting for this mode) sees exactly one result per request message: the results of the
killed worker's unfinished transaction are aborted, and the redelivered requests are
answered once, from the jobs table where the model had already answered.
"""
from __future__ import annotations

from collections import defaultdict

from tests.requests_corpus import inline_request, insert_log_entries, job_request
from tests.support.kafka_io import (as_messages, end_offsets, produce, read_all,
                                    read_committed, read_topic, wait_drained)
from tests.support.services import sql, wait_for

REQUESTS = 300


def _word(n: int) -> str:
    return "".join("abcdefghijklmnopqrstuvwxyz"[int(d)] for d in f"{n:03d}")


async def test_kill_mid_stream_gives_exactly_one_result_per_request(
        pipeline_env, worker_factory, fake_ollama):
    env = {**pipeline_env, "BIFROST_PROCESSING_GUARANTEE": "exactly_once"}
    bootstrap, dsn = env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_DATABASE_URL"]
    # Distinct templates (words, which the miner does not mask): every job needs the model,
    # whose latency keeps many in flight, acknowledged out of order, when the kill comes.
    half = REQUESTS // 2
    stored = [f"ERROR stored failure {_word(i)}" for i in range(half)]
    log_ids = insert_log_entries(dsn, [("svc", text) for text in stored])
    requests = [job_request(i) for i in log_ids] + [
        inline_request(f"ERROR inline failure {_word(i)}", "svc") for i in range(half)]
    # What each job's prompt carries: its stored log line, or its inline content.
    texts = {r["job_id"]: text for r, text in zip(requests, stored)}
    texts.update({r["request_id"]: r["log_content"] for r in requests[half:]})
    fake_ollama.latency = 0.05
    first = worker_factory("first", **env).start().wait_ready()
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(requests))
    # Read uncommitted: results of the transaction the kill will abort count as finished too.
    before = await read_topic(bootstrap, env["BIFROST_RESULT_TOPIC"],
                              lambda records: len(records) >= REQUESTS // 4, 120,
                              "a quarter answered")
    first.kill()
    finished = {r["value"]["job_id"] for r in before}

    second = worker_factory("second", **env).start().wait_ready(180)
    jobs_topic = f"{env['BIFROST_APP_ID']}-{env['BIFROST_REQUEST_TOPIC']}-by-key"
    await wait_drained(bootstrap, env["BIFROST_APP_ID"],
                       [env["BIFROST_REQUEST_TOPIC"], jobs_topic], timeout=240)
    results = await read_committed(bootstrap, env["BIFROST_RESULT_TOPIC"])

    by_job = defaultdict(list)
    for record in results:
        by_job[record["value"]["job_id"]].append(record["value"])
    wanted = {r.get("job_id") or r["request_id"] for r in requests}
    assert set(by_job) == wanted
    twice = {job: len(copies) for job, copies in by_job.items() if len(copies) > 1}
    assert twice == {}, f"{len(twice)} jobs answered more than once"
    assert all(copies[0]["status"] == "SUCCEEDED" for copies in by_job.values())

    # The results went out in transactions: each left a commit marker in the log, and what
    # the killed worker had not committed is there too, aborted, for read_uncommitted only.
    ends = await end_offsets(bootstrap, env["BIFROST_RESULT_TOPIC"])
    uncommitted = await read_all(bootstrap, env["BIFROST_RESULT_TOPIC"])
    assert sum(ends.values()) > len(uncommitted) >= len(results)
    print(f"\nexactly once: {len(results)} results read committed, "
          f"{len(uncommitted) - len(results)} aborted, "
          f"{sum(ends.values()) - len(uncommitted)} transaction markers")

    # A job finished before the kill is in the jobs table: the model never sees it again
    # (one whose answer the kill cut short is asked again, and that is all).
    calls = fake_ollama.log_counts()
    for job_id in finished:
        reached = sum(n for log, n in calls.items() if f"\n{texts[job_id]}\n" in f"\n{log}\n")
        assert reached == 1, f"finished job {job_id} reached the model {reached} times"
    again = sum(n - 1 for n in calls.values())
    print(f"asked again after the kill: {again} analyses")
    assert again <= int(env.get("BIFROST_CONCURRENCY", "64"))
    # The persist agent reads committed results only: one row each.
    wait_for(lambda: sql(dsn, "SELECT count(*) FROM bifrost_analyses")[0][0] == REQUESTS, 60,
             f"{REQUESTS} rows in PostgreSQL")
    code, body = second.get("/status")
    assert code == 200 and b'"exactly_once"' in body
