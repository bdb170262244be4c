"""Faust's Kafka transport with the commit rules this service relies on.

Faust commits a partition up to the first event not yet acknowledged. Our agents acknowledge
out of order (a job waiting for a model holds its event while later ones are answered), and
faust-streaming 0.15.3's bookkeeping then loses or stalls work in four ways, each seen here:

- it commits past unacknowledged events at the head of a partition: past one after any
  commit (its head check is off by one), past any number before the first commit (its
  committed offset starts unknown);
- it counts the acknowledgement of an event its stream skipped unprocessed while the flow was
  stopped (during recovery), although it then seeks back to deliver that event again: the
  commit could pass it before the second delivery (the likely cause of the one job in 300
  that exactly-once runs lost now and then: it was never processed, yet committed);
- an event fetched before a rebalance and acknowledged after it counts for the new
  generation, although the partition is then read again from its committed offset;
- it needs an acknowledgement for every offset, and learns of offsets that are never
  delivered (transaction markers, records of aborted transactions) only from jumps in what
  it fetches: after a restart behind an aborted transaction it never committed again.

Here a commit goes past the highest offset processed in this generation, but never past an
offset fetched in this generation and not yet processed.

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
from collections import defaultdict
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Set, Tuple

from faust.exceptions import ProducerSendError
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


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
        if message.generation_id != generation or (committed is not None
                                                    and offset < committed):
            return False
        source = self._sources.setdefault((tp, offset), message)
        if source is not message:
            return False
        self._held[tp].append(Output(offset, topic, key, value, headers))
        return True

    def take(self, tp: TP, upto: int) -> List[Output]:
        """The outputs of the events before offset `upto`, in the order they were held."""
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


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def _highwaters(self, partitions: List[TP]) -> Mapping[TP, int]:
        # Asked of the broker (for read_committed: the last stable offsets). Exactly once,
        # Faust read aiokafka's cached last stable offset, unknown before a partition's first
        # fetch, and recovery then refused a standby's table as inconsistent (ConsistencyError,
        # "persisted offset 15 > highwater -1") and stopped the worker.
        return await self._ensure_consumer().end_offsets(partitions)


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per partition, the offsets fetched in this generation and not yet processed.
        self._unprocessed: Dict[TP, Set[int]] = defaultdict(set)
        deliver = self.callback

        async def fetched(message: Any) -> None:
            if self.app.topics.acks_enabled_for(message.topic):
                self._unprocessed[message.tp].add(message.offset)
            await deliver(message)
        self.callback = fetched

    def ack(self, message: Any) -> bool:
        if message.generation_id != self.app.consumer_generation_id or not message.tracked:
            # Read before the last rebalance (the partition is read again from its committed
            # offset), or skipped by the stream unprocessed while flow was stopped (Faust
            # acknowledges those too, and seeks back to deliver them again): neither may move
            # the commit.
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        self._unprocessed[message.tp].discard(message.offset)
        return super().ack(message)

    def _new_offset(self, tp: TP) -> Optional[int]:
        """Past the highest processed offset, but never past one fetched and not processed.

        Offsets never fetched (transaction markers, records of aborted transactions) need no
        acknowledgement, where Faust's search for a consecutive run does: it learns of them
        from jumps in the fetched offsets, and missed the jump over an aborted transaction at
        the head of a partition after a restart, so it never committed there again."""
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

    async def perform_seek(self) -> None:
        """Seek every partition back to where this group stopped, also one never committed.

        Faust resumes its partitions after a rebalance before it seeks them, so its streams
        may skip what arrives in between, to have it delivered again from the committed
        offset. aiokafka seeks only partitions with a committed offset above 0, so in a
        partition never committed (a new topic or group) what was skipped stayed skipped: a
        new worker was seen starting a never-committed logs.ingestion partition past records
        no worker had processed. Those partitions start at their beginning here, as
        consumer_auto_offset_reset says."""
        await super().perform_seek()
        assigned = [tp for tp in self.assignment() if not self._is_changelog_tp(tp)]
        starts = {tp: self._committed_offset.get(tp) for tp in assigned}
        uncommitted = [tp for tp, start in starts.items() if not start]
        if uncommitted:
            earliest = await self.earliest_offsets(*uncommitted)
            for tp in uncommitted:
                starts[tp] = earliest.get(tp) or 0
                await self.seek(tp, starts[tp])
        for tp, start in starts.items():
            # What lies past the seek is fetched (and recorded) again.
            self._unprocessed[tp] = {o for o in self._unprocessed[tp] if o < start}

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Faust's revocation waits for the streams and commits what they finished, which
        # must still see what was fetched and not processed.
        await super().on_partitions_revoked(revoked)
        for tp in revoked:
            self._unprocessed.pop(tp, None)

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

