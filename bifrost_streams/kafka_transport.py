"""Faust's Kafka transport with the commit rules this service relies on.

Faust commits a partition up to the first event not yet acknowledged. Our agents acknowledge
out of order (a job waiting for a model holds its event while later ones are answered), and
faust-streaming 0.15.3's bookkeeping then loses or stalls work in four ways, each seen here:

- it commits past unacknowledged events at the head of a partition: past one after any
  commit (its head check is off by one), past any number before the first commit (its
  committed offset starts unknown);
- it counts the acknowledgement of an event its stream skipped unprocessed while the flow was
  stopped (during recovery), although it then seeks back to deliver that event again: the
  commit could pass it before the second delivery;
- an event fetched before a rebalance and acknowledged after it counts for the new
  generation, although the partition is then read again from its committed offset;
- it needs an acknowledgement for every offset, and learns of offsets that are never
  delivered (transaction markers, records of aborted transactions) only from jumps in what
  it fetches: after a restart behind an aborted transaction it never committed again.

Here a commit goes past the highest offset processed in this generation, but never past an
offset fetched in this generation and not yet processed.

That rule needs every fetched event to reach its stream, and Faust lost events between the
fetch and the stream in three ways, each seen here (the restart tests lost up to 36 of 300
requests, committed past and never answered):

- resuming flow emptied the streams' queues (FlowControl below);
- records of a partition paused while its fetch was under way were dropped after aiokafka
  had moved past them (Consumer._getmany);
- stream partitions were fetched before their seek to the committed offsets, from wherever
  aiokafka stood (Consumer.resume_partitions).

At least once (the default): Faust flushes the producer before it commits, but aiokafka's
flush does not report failed deliveries. An output that failed stops the worker before the
next commit, so the events it came from are delivered again.

Exactly once (BIFROST_PROCESSING_GUARANTEE=exactly_once): the outputs of an event (results,
DLQ events, forwards, alerts, requests from logs.ingestion) wait in the outbox and are sent
in the Kafka transaction that commits that event's offset, by the transactional producer of
its source partition. So a transaction holds exactly the outputs of the events whose offsets
it commits: a crash aborts both, and a redelivered event's outputs were never visible. Faust
routes a transactional send by its destination partition, which is another partition's
transaction for everything not keyed like its source; its own sends (table changelogs) stay
outside transactions here. The jobs table's entry is durable before its result is held, as in
at-least-once mode, so a redelivered event finds it and re-publishes the same result.
"""
from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Set, Tuple

from faust import streams as faust_streams
from faust.exceptions import ProducerSendError
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.queues import FlowControlEvent


# Faust's compiled stream iterator acknowledges an event of a plain `async for` loop by
# writing the consumer's bookkeeping itself, past Consumer.ack below: such an event stayed
# "fetched, not processed" for good and its partition was never committed again (the alerts
# agent's). Its Python twin calls Consumer.ack, so every acknowledgement follows one rule.
faust_streams._CStreamIterator = None


class Output(NamedTuple):
    offset: int  # of the event it came from
    topic: str
    key: Optional[bytes]
    value: bytes
    headers: Any


class Outbox:
    """Outputs of events, by source partition, until a transaction commits their offsets."""

    def __init__(self) -> None:
        self._held: Dict[TP, List[Output]] = defaultdict(list)
        # (partition, offset) -> the message whose outputs are held for that offset.
        self._sources: Dict[Tuple[TP, int], Any] = {}
        # Per partition, the offset up to which outputs went into a transaction: a copy of an
        # event below it arriving while that transaction commits has had its outputs sent.
        self._taken: Dict[TP, int] = {}

    def __len__(self) -> int:
        return sum(map(len, self._held.values()))

    def add(self, message: Any, generation: int, committed: Optional[int], topic: str,
            key: Optional[bytes], value: bytes, headers: Any = None) -> bool:
        """Hold an output of `message`; False when it is a copy whose outputs exist already.

        Faust can deliver a message twice: once of an earlier generation (the outbox was
        emptied at the rebalance and the message is read again), and within a generation
        when recovery seeks its partitions back to the committed offsets. The first copy to
        produce outputs wins; an offset below the committed one had its outputs committed
        with it."""
        tp, offset = message.tp, message.offset
        done = max(committed or 0, self._taken.get(tp, 0))
        if message.generation_id != generation or offset < done:
            return False
        source = self._sources.setdefault((tp, offset), message)
        if source is not message:
            return False
        self._held[tp].append(Output(offset, topic, key, value, headers))
        return True

    def take(self, tp: TP, upto: int) -> List[Output]:
        """The outputs of the events before offset `upto`, in the order they were held."""
        self._taken[tp] = max(upto, self._taken.get(tp, 0))
        held = self._held.get(tp)
        if not held:
            return []
        due = [output for output in held if output.offset < upto]
        if due:
            self._held[tp] = [output for output in held if output.offset >= upto]
            for output in due:
                self._sources.pop((tp, output.offset), None)
        return due

    def clear(self) -> None:
        self._held.clear()
        self._sources.clear()
        self._taken.clear()


class Deliveries:
    """Remembers the first output whose delivery failed."""

    def __init__(self) -> None:
        self.failure: Optional[BaseException] = None

    def watch(self, delivery: "asyncio.Future") -> None:
        delivery.add_done_callback(self._done)

    def _done(self, delivery: "asyncio.Future") -> None:
        if delivery.cancelled():
            return
        error = delivery.exception()  # also marks it retrieved
        if error is not None and self.failure is None:
            self.failure = error


outbox = Outbox()
deliveries = Deliveries()


# How long the broker may hold a fetch that finds nothing new. Faust asks for 1.5 s. With one
# broker, aiokafka sends one fetch at a time for all partitions on it, and a partition that
# becomes fetchable meanwhile (its buffered records just taken) waits for that fetch to end.
# With two workers, requests were seen waiting up to about 1.5 s before reaching the agent;
# 100 ms shortened those waits, though it did not remove them all.
FETCH_MAX_WAIT_MS = 100


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    async def _highwaters(self, partitions: List[TP]) -> Mapping[TP, int]:
        # Asked of the broker (for read_committed: the last stable offsets). Exactly once,
        # Faust read aiokafka's cached last stable offset, unknown before a partition's first
        # fetch, and recovery then refused a standby's table as inconsistent (ConsistencyError,
        # "persisted offset 15 > highwater -1") and stopped the worker.
        return await self._ensure_consumer().end_offsets(partitions)


class FlowControl(FlowControlEvent):
    """Faust's flow control, except that resuming keeps what the streams' queues hold.

    Faust empties every stream's queue when flow resumes and counts on its seek to the
    committed offsets to fetch those events again. But recovery seeks before it resumes, and
    the fetcher goes on delivering the rest of the batch it holds, past what the seek would
    fetch again: the events then emptied from the queues were never delivered (a restart on
    a fresh data directory lost 33 requests of 5,000 this way). Kept, they are processed; an
    event of an earlier generation is skipped by its stream, and a copy fetched again after
    a seek is answered from the jobs table."""

    def clear(self) -> None:
        pass


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per partition, the offsets fetched in this generation and not yet processed, with
        # the number of copies of each (a seek can fetch an event again while the first copy
        # is still being processed).
        self._unprocessed: Dict[TP, Counter] = defaultdict(Counter)
        # The generation whose stream partitions were sought to their committed offsets, and
        # the stream partitions Faust asked to resume before that (resume_partitions).
        self._seeked: Optional[int] = None
        self._held_back: Set[TP] = set()
        deliver = self.callback

        async def fetched(message: Any) -> None:
            if self.app.topics.acks_enabled_for(message.topic):
                self._unprocessed[message.tp][message.offset] += 1
            await deliver(message)
        self.callback = fetched

    def ack(self, message: Any) -> bool:
        if message.generation_id != self.app.consumer_generation_id or not message.tracked:
            # Read before the last rebalance (the partition is read again from its committed
            # offset), or skipped by the stream unprocessed while flow was stopped (Faust
            # acknowledges those too): neither may move the commit.
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        copies = self._unprocessed[message.tp]
        if copies[message.offset] > 1:
            copies[message.offset] -= 1
        else:
            copies.pop(message.offset, None)
        return super().ack(message)

    def in_progress(self) -> Dict[str, Dict[str, Optional[int]]]:
        """Per partition, the events fetched and not yet processed: what holds its commit."""
        return {f"{tp.topic}/{tp.partition}": {"committed": self._committed_offset.get(tp),
                                               "oldest": min(copies),
                                               "events": sum(copies.values())}
                for tp, copies in self._unprocessed.items() if copies}

    def _new_offset(self, tp: TP) -> Optional[int]:
        """Past the highest processed offset, but never past one fetched and not processed.

        Within a generation every existing offset from the committed one up to the highest
        fetched was delivered (fetching only moves forward, and a seek goes back to the
        committed offset), and every delivered event is processed or holds the commit. So an
        offset never fetched needs no acknowledgement: a transaction marker, a record of an
        aborted transaction. Faust's search for a consecutive run needs one for each: it
        learns of them from jumps in the fetched offsets, and missed the jump over an aborted
        transaction at the head of a partition after a restart, so it never committed there
        again."""
        acked = self._acked[tp]
        if not acked:
            return None
        offset = max(acked) + 1
        waiting = self._unprocessed.get(tp)
        if waiting:
            offset = min(offset, min(waiting))
        acked[:] = [done for done in acked if done >= offset]
        self._acked_index[tp] = set(acked)
        committed = self._committed_offset[tp]
        # Offset 0 commits nothing; a commit never goes back.
        return None if offset <= (committed or 0) else offset

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Faust's record of offsets it did not receive; _new_offset does not need it."""

    async def _getmany(self, active_partitions: Optional[Set[TP]],
                       timeout: float) -> Mapping[TP, List[Any]]:
        """Fetch for a copy of the active partitions, and deliver all that comes back.

        Faust hands its live set of active partitions to aiokafka's thread and then drops
        the records of any partition no longer in it. When recovery paused the last of them
        meanwhile, aiokafka got an empty set, which it reads as "every partition", and
        returned the records it had prefetched for the stream partitions waiting for their
        seek: Faust dropped them after aiokafka had moved past them. A partition never
        committed is not sought back, so those events were never read (36 job-form
        requests of 300 in one exactly-once restart test)."""
        wanted = set(active_partitions or ())
        if not wanted:
            return {}
        return await super()._getmany(wanted, timeout)

    async def _wait_next_records(self, timeout: float) -> Tuple[Any, Optional[Set[TP]]]:
        records, _ = await super()._wait_next_records(timeout)
        return records, None  # all of them: fetched for a copy of the set (_getmany)

    def resume_partitions(self, tps: Any) -> None:
        """Stream partitions wait for this generation's seek to the committed offsets.

        Faust resumes them first, and what the fetcher delivered in between came from
        wherever aiokafka stood: after a broker restart, from the beginning of a partition
        (its committed offset was not known yet), and committing what was processed there
        moved the group's offset back: every event after it was answered twice."""
        tps = set(tps)
        if self._seeked != self.app.consumer_generation_id:
            streams = {tp for tp in tps if not self._is_changelog_tp(tp)}
            self._held_back |= streams
            tps -= streams
        super().resume_partitions(tps)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        self._seeked = self.app.consumer_generation_id
        held, self._held_back = self._held_back, set()
        super().resume_partitions(held & self.assignment())

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        # A new generation reads every partition again from its committed offset. Kept until
        # now: the revocation before it, and the commit at a clean stop, wait for the streams
        # and commit what they finished, never past what was fetched and not processed.
        self._unprocessed.clear()
        self._held_back.clear()
        await super().on_partitions_assigned(assigned, generation_id)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        # At least once: called after the producer was flushed.
        if deliveries.failure is not None:
            error = ProducerSendError(f"an output was not delivered ({deliveries.failure!r}); "
                                      f"its events stay uncommitted")
            self.log.error("%s", error)
            await self.crash(error)
            return False
        return await super()._commit(offsets)


class TransactionManager(faust_consumer.TransactionManager):
    async def send(self, topic: str, key: Optional[bytes], value: Optional[bytes],
                   partition: Optional[int], timestamp: Optional[float], headers: Any, *,
                   transactional_id: Optional[str] = None) -> Any:
        # Faust's own sends (table changelogs) are not part of the event's transaction.
        return await self.producer.send(topic, key, value, partition, timestamp, headers,
                                        transactional_id=transactional_id)

    def transactional_id(self, tp: TP) -> str:
        """The one Faust's commit uses for the source partition `tp`."""
        group = self.app.assignor.group_for_topic(tp.topic)
        return f"{self.app.conf.id}-{group}-{tp.partition}"

    async def commit(self, offsets: Mapping[TP, int],
                     start_new_transaction: bool = True) -> bool:
        try:
            for tp, offset in offsets.items():
                transactional_id = self.transactional_id(tp)
                for output in outbox.take(tp, offset):
                    await self.producer.send(output.topic, output.key, output.value, None,
                                             None, output.headers,
                                             transactional_id=transactional_id)
            return await super().commit(offsets, start_new_transaction)
        except Exception as exc:  # the open transactions are aborted by the next owner
            self.log.exception("transaction_commit_failed")
            await self.app.crash(exc)
            return False

    async def on_rebalance(self, assigned: Any, revoked: Any, newly_assigned: Any) -> None:
        # Faust committed what was acknowledged before the rebalance; the rest is read again.
        outbox.clear()
        await super().on_rebalance(assigned, revoked, newly_assigned)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
    TransactionManager = TransactionManager
