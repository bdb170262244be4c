"""Topic partition counts against the real broker: adopt what exists, refuse a mismatch."""
from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.kafka_io import topic_partitions
from tests.support.services import wait_for


async def _create(bootstrap, topics):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in topics.items()])
    finally:
        await admin.close()


async def test_an_existing_request_topic_sets_the_partition_count(pipeline_env, worker_factory):
    env = pipeline_env
    await _create(env["KAFKA_BOOTSTRAP_SERVERS"], {env["BIFROST_REQUEST_TOPIC"]: 4})
    worker = worker_factory().start().wait_ready()
    jobs_topic = f"{env['BIFROST_APP_ID']}-{env['BIFROST_REQUEST_TOPIC']}-by-key"
    for topic in (jobs_topic, f"{env['BIFROST_APP_ID']}-jobs-changelog",
                  env["BIFROST_RESULT_TOPIC"], env["BIFROST_DLQ_TOPIC"]):
        assert len(await topic_partitions(env["KAFKA_BOOTSTRAP_SERVERS"], topic)) == 4, topic
    assert worker.status()["kafka"]["partitions"] == 4


async def test_internal_topics_that_disagree_stop_the_worker_with_a_clear_message(
        pipeline_env, worker_factory):
    env = pipeline_env
    jobs_topic = f"{env['BIFROST_APP_ID']}-{env['BIFROST_REQUEST_TOPIC']}-by-key"
    await _create(env["KAFKA_BOOTSTRAP_SERVERS"], {env["BIFROST_REQUEST_TOPIC"]: 3,
                                                   jobs_topic: 2})
    worker = worker_factory().start()
    wait_for(lambda: worker.process.poll() is not None, 90, "the worker to refuse and exit")
    assert worker.process.returncode != 0
    log = worker.log_path.read_text()
    assert "refusing to start: partition counts disagree" in log
    assert f"{env['BIFROST_REQUEST_TOPIC']}=3" in log and f"{jobs_topic}=2" in log


async def test_configured_partitions_must_match_an_existing_request_topic(pipeline_env,
                                                                         worker_factory):
    env = pipeline_env
    await _create(env["KAFKA_BOOTSTRAP_SERVERS"], {env["BIFROST_REQUEST_TOPIC"]: 3})
    worker = worker_factory(BIFROST_PARTITIONS="6").start()
    wait_for(lambda: worker.process.poll() is not None, 90, "the worker to refuse and exit")
    assert worker.process.returncode != 0
    assert "BIFROST_PARTITIONS=6" in worker.log_path.read_text()


def test_a_bad_setting_stops_start_up_naming_the_key(pipeline_env, worker_factory):
    worker = worker_factory(BIFROST_CONCURRENCY="many").start()
    wait_for(lambda: worker.process.poll() is not None, 60, "the worker to exit")
    assert worker.process.returncode == 2
    assert "configuration error: BIFROST_CONCURRENCY: must be an integer" in \
        worker.log_path.read_text()
