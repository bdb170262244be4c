"""The commit rules of bifrost_streams/kafka/transport.py, against Faust's own bookkeeping."""
from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

from faust.transport.drivers.aiokafka import Consumer as FaustConsumer
from faust import streams as faust_streams
from faust.types import TP
from intervaltree import IntervalTree

from bifrost_streams.kafka import transport
from bifrost_streams.app import app
from bifrost_streams.kafka.transport import Consumer, Deliveries, Outbox, TransactionManager

TP0 = TP("analysis.request", 0)


class Message:
    """What the consumer tracks of a fetched message."""

    def __init__(self, offset: int, generation: int = 1, tp: TP = TP0) -> None:
        self.tp, self.offset, self.generation_id = tp, offset, generation
        self.topic = tp.topic
        self.acked = False
        self.tracked = True


class Bookkeeping:
    """The consumer state that _new_offset reads, outside a running consumer."""

    def __init__(self, committed, acked, unacked=(), generation: int = 1) -> None:
        self._acked = defaultdict(list, {TP0: list(acked)})
        self._acked_index = defaultdict(set, {TP0: set(acked)})
        self._gap = defaultdict(IntervalTree)
        self._committed_offset = defaultdict(lambda: None, {TP0: committed})
        self._unprocessed = defaultdict(Counter, {
            TP0: Counter(m.offset for m in unacked if not m.acked)})


def faust_offset(state: Bookkeeping):
    return FaustConsumer._new_offset(state, TP0)


def our_offset(state: Bookkeeping):
    """Our Consumer._new_offset on the app's (unstarted) consumer, given this state."""
    consumer = app.consumer
    for name, value in vars(state).items():
        setattr(consumer, name, value)
    return consumer._new_offset(TP0)


def test_faust_commits_past_an_unacknowledged_event_at_the_head():
    # Committed up to 10; event 10 waits for a model, 11 and 12 were answered.
    assert faust_offset(Bookkeeping(10, [11, 12], [Message(10)])) == 13
    assert our_offset(Bookkeeping(10, [11, 12], [Message(10)])) is None


def test_before_the_first_commit_faust_passes_any_number_of_them():
    waiting = [Message(offset) for offset in range(5)]
    assert faust_offset(Bookkeeping(None, [5, 6, 7], waiting)) == 8
    assert our_offset(Bookkeeping(None, [5, 6, 7], waiting)) is None


def test_the_commit_stops_at_the_first_waiting_event_and_keeps_the_later_acks():
    state = Bookkeeping(10, [10, 11, 13, 14], [Message(12)])
    assert our_offset(state) == 12
    assert state._acked[TP0] == [13, 14]  # counted once event 12 is acknowledged
    state._unprocessed[TP0].clear()
    state._acked[TP0].insert(0, 12)
    state._acked_index[TP0].add(12)
    state._committed_offset[TP0] = 12
    assert our_offset(state) == 15


def test_offsets_never_delivered_at_the_head_do_not_stall_the_partition():
    # After a restart: offsets 1..26 hold a killed worker's aborted transaction, which a
    # read_committed consumer never receives. Faust waited for them forever.
    assert faust_offset(Bookkeeping(1, [27, 28, 29])) is None
    assert our_offset(Bookkeeping(1, [27, 28, 29])) == 30
    # A commit marker between two records likewise.
    assert our_offset(Bookkeeping(10, [10, 12])) == 13


def test_without_waiting_events_the_commit_is_faust_own():
    assert our_offset(Bookkeeping(10, [10, 11, 12])) == 13
    # An acknowledged event does not hold the commit back.
    done = Message(11)
    done.acked = True
    assert our_offset(Bookkeeping(10, [10, 11], [done])) == 12


def test_only_a_processed_event_of_this_generation_moves_the_commit(monkeypatch):
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: True)
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    consumer._acked[TP0].clear()
    consumer._committed_offset[TP0] = None
    consumer._unprocessed[TP0] = Counter({7: 1, 8: 1})
    old = Message(7, generation=app.consumer_generation_id - 1)
    old.tracked = True
    skipped = Message(7, generation=app.consumer_generation_id)
    skipped.tracked = False  # Faust's stream skips (and acknowledges) it while flow stops
    for message in (old, skipped):
        consumer._unacked_messages.add(message)
        assert consumer.ack(message) is False
        assert message.acked and message not in consumer._unacked_messages
    assert consumer._acked[TP0] == [] and set(consumer._unprocessed[TP0]) == {7, 8}
    processed = Message(8, generation=app.consumer_generation_id)
    processed.tracked = True
    assert consumer.ack(processed) is True
    assert consumer._new_offset(TP0) == 7  # 7 is still to be processed
    assert set(consumer._unprocessed[TP0]) == {7}


def test_a_second_copy_of_an_event_holds_the_commit_until_it_is_processed(monkeypatch):
    # A seek fetches event 7 again while its first copy is still being processed.
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: True)
    consumer = app.consumer
    consumer._acked[TP0].clear()
    consumer._acked_index[TP0].clear()
    consumer._committed_offset[TP0] = 7
    consumer._unprocessed[TP0] = Counter({7: 2, 8: 1})
    first, later, second = (Message(o, generation=app.consumer_generation_id) for o in (7, 8, 7))
    assert consumer.ack(first) and consumer.ack(later)
    assert consumer._new_offset(TP0) is None  # the second copy of 7 is still in the works
    consumer.ack(second)
    assert consumer._new_offset(TP0) == 9


async def test_resuming_flow_keeps_what_the_stream_queues_hold():
    # Faust emptied them, after the seek that was to fetch their events again (kafka/transport.py).
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    queue.put_nowait("event 717")
    app.flow_control.suspend()
    app.flow_control.resume()
    assert queue.qsize() == 1


def test_every_stream_acknowledges_through_our_consumer():
    # Faust's compiled iterator wrote a plain `async for` loop's acknowledgements into the
    # consumer's bookkeeping itself, past Consumer.ack: the alerts agent's partition then never
    # committed again (test_alerts_integration found it). Python's iterator calls Consumer.ack.
    stream = app.stream(app.channel(value_type=bytes))
    iterator = stream.__aiter__()
    assert faust_streams._CStreamIterator is None
    assert iterator.ag_code is type(stream)._py_aiter.__code__
    stream._active_agens.discard(iterator)


async def test_a_failed_delivery_stops_the_worker_before_it_commits(monkeypatch):
    watch = Deliveries()
    monkeypatch.setattr(transport, "deliveries", watch)
    failed = asyncio.get_running_loop().create_future()
    watch.watch(failed)
    failed.set_exception(ConnectionError("broker gone"))
    await asyncio.sleep(0)  # done callbacks run on the next loop turn
    crashed = []

    async def crash(exc):
        crashed.append(exc)
    consumer = app.consumer
    monkeypatch.setattr(consumer, "crash", crash)
    assert await consumer._commit({TP0: 5}) is False
    assert "broker gone" in str(crashed[0])


def test_outbox_gives_the_outputs_of_events_before_the_commit_offset_in_order():
    box = Outbox()
    for offset in (3, 1, 2, 5):
        assert box.add(Message(offset), 1, None, "out", b"k", str(offset).encode())
    assert [o.value for o in box.take(TP0, 3)] == [b"1", b"2"]
    assert box.take(TP0, 3) == []
    assert [o.value for o in box.take(TP0, 6)] == [b"3", b"5"]
    assert len(box) == 0


def test_outbox_keeps_the_outputs_of_one_copy_of_a_message():
    box = Outbox()
    first = Message(4)
    assert box.add(first, 1, None, "result", b"k", b"r")
    assert box.add(first, 1, None, "alert", b"k", b"a")  # one event, several outputs
    assert not box.add(Message(4), 1, None, "result", b"k", b"r")  # delivered again
    assert not box.add(Message(5, generation=0), 1, None, "result", b"k", b"old")
    assert not box.add(Message(2), 1, 3, "result", b"k", b"committed already")
    assert [o.topic for o in box.take(TP0, 10)] == ["result", "alert"]
    # Its outputs are in the transaction being committed: a copy arriving before the commit
    # is recorded (committed offset still 0) has nothing to add.
    assert not box.add(Message(4), 1, None, "result", b"k", b"r")
    assert box.add(Message(10), 1, None, "result", b"k", b"next")
    box.clear()  # a rebalance: the partition is read again from its committed offset
    assert box.add(Message(4), 1, None, "result", b"k", b"r")


def test_stream_partitions_wait_for_the_seek_of_their_generation(monkeypatch):
    consumer = app.consumer
    stream, changelog = TP("analysis.request", 1), TP("bifrost-jobs-changelog", 1)
    resumed = []
    monkeypatch.setattr(FaustConsumer, "resume_partitions",
                        lambda self, tps: resumed.append(set(tps)))
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: tp is changelog)
    monkeypatch.setattr(consumer, "assignment", lambda: {stream, changelog})
    monkeypatch.setattr(consumer, "_seeked", app.consumer_generation_id - 1)
    consumer.resume_partitions({stream, changelog})
    assert resumed == [{changelog}]  # recovery reads the changelog; the stream waits

    async def seek_to_committed(self):
        resumed.append("seek")
    monkeypatch.setattr(FaustConsumer, "perform_seek", seek_to_committed)
    asyncio.run(consumer.perform_seek())
    assert resumed == [{changelog}, "seek", {stream}]
    consumer.resume_partitions({stream})  # sought in this generation: at once
    assert resumed[-1] == {stream}


class RecordingProducer:
    def __init__(self) -> None:
        self.calls = []

    async def send(self, topic, key, value, partition, timestamp, headers, *,
                   transactional_id=None):
        self.calls.append(("send", topic, value, transactional_id))

    async def commit_transactions(self, by_transactional_id, group_id,
                                  start_new_transaction=True):
        self.calls.append(("commit", {tid: dict(offsets)
                                      for tid, offsets in by_transactional_id.items()}))


async def test_a_transaction_carries_exactly_the_outputs_of_the_events_it_commits(monkeypatch):
    box = Outbox()
    monkeypatch.setattr(transport, "outbox", box)
    monkeypatch.setattr(app.assignor, "group_for_topic", lambda topic: 0)
    producer = RecordingProducer()
    manager = TransactionManager(app.transport, consumer=app.consumer, producer=producer)
    box.add(Message(0), 1, None, "analysis.result", b"a", b"result-0")
    box.add(Message(2), 1, None, "analysis.result", b"c", b"result-2")  # not committed yet
    box.add(Message(1), 1, None, "dlq.failed", b"b", b"dlq-1")
    assert await manager.commit({TP0: 2})
    tid = f"{app.conf.id}-0-0"
    assert producer.calls == [("send", "analysis.result", b"result-0", tid),
                              ("send", "dlq.failed", b"dlq-1", tid),
                              ("commit", {tid: {TP0: 2}})]
    # Faust's own sends (table changelogs) go outside the transaction.
    await manager.send("bifrost-jobs-changelog", b"k", b"v", 0, None, None)
    assert producer.calls[-1] == ("send", "bifrost-jobs-changelog", b"v", None)
    assert len(box) == 1


async def test_a_fetch_asks_for_a_copy_of_the_active_partitions_and_delivers_all_it_gets(
        monkeypatch):
    consumer = app.consumer
    active = {TP0}
    asked = []

    async def fetch(self, partitions, timeout):
        asked.append(partitions)
        active.clear()  # recovery pauses the last active partition meanwhile
        return {TP0: ["record"]}
    monkeypatch.setattr(FaustConsumer, "_getmany", fetch)
    records = await consumer._getmany(active, 1.0)
    # aiokafka read an empty set as "every partition" (transport._getmany).
    assert asked == [{TP0}] and asked[0] is not active
    assert records == {TP0: ["record"]}
    assert await consumer._getmany(set(), 1.0) == {} and len(asked) == 1


def test_status_shows_what_holds_each_commit(monkeypatch):
    consumer = app.consumer
    monkeypatch.setattr(consumer, "_unprocessed", defaultdict(Counter, {
        TP0: Counter({12: 1, 15: 2}), TP("analysis.request", 1): Counter()}))
    monkeypatch.setattr(consumer, "_committed_offset", defaultdict(lambda: None, {TP0: 12}))
    assert consumer.in_progress() == {
        "analysis.request/0": {"committed": 12, "oldest": 12, "events": 3}}


async def test_the_broker_holds_an_empty_fetch_briefly():
    thread = app.consumer._thread
    consumer = thread._create_worker_consumer(app.transport)
    try:
        # A partition freed while a fetch waits is fetched after that one ends.
        assert consumer._fetch_max_wait_ms == transport.FETCH_MAX_WAIT_MS <= 100
    finally:
        await consumer.stop()


def test_the_installed_faust_and_aiokafka_are_the_versions_the_transport_was_written_for():
    # kafka/transport.py reaches into their private members: an upgrade is reviewed there
    # first, and WRITTEN_FOR moves with it.
    assert transport.version_mismatches() == {}
