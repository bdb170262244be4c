"""Faust's Kafka transport with the commit rules this service relies on.

Our agents acknowledge out of order (a job waiting for a model holds its event while later
ones are answered), which faust-streaming 0.15.3's bookkeeping gets wrong. The rules here,
step by step, are in docs/architecture.md ("Delivery rules"); the reasons in docs/decisions/.

- A commit goes past the highest offset processed in this generation, never past an offset
  fetched in this generation and not yet processed (0002).
- Every fetched event reaches its stream, which that rule needs (0004).
- At least once: an output whose delivery failed stops the worker before the next commit.
- Exactly once: an event's outputs wait in the outbox and go out in the transaction that
  commits its offset, through its source partition's transactional producer (0002, 0003).
"""
from __future__ import annotations

import asyncio
import weakref
from collections import Counter, defaultdict
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Set, Tuple

import aiokafka
import faust
from faust import streams as faust_streams
from faust.exceptions import ProducerSendError
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.queues import FlowControlEvent


# This module, alone, reaches into Faust's and aiokafka's private members; these are the
# versions it was written and tested against (tests/unit/test_kafka_transport.py checks that
# the installed ones are these, and the worker warns at start-up when they are not).
WRITTEN_FOR = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


def version_mismatches() -> Dict[str, Tuple[str, str]]:
    """name -> (installed, written for), for each library that differs."""
    installed = {"faust-streaming": faust.__version__, "aiokafka": aiokafka.__version__}
    return {name: (installed[name], wanted) for name, wanted in WRITTEN_FOR.items()
            if installed[name] != wanted}


# The compiled stream iterator acknowledges past Consumer.ack; its Python twin goes through
# it. See docs/decisions/0004-every-fetched-event-reaches-its-stream.md.
faust_streams._CStreamIterator = None


def set_current_event(event: Any) -> None:
    """Make `event` the one tables write for and outputs belong to, in this task's context
    (what a stream does for each event it yields; None: no event)."""
    faust_streams._current_event.set(weakref.ref(event) if event is not None else None)


def committed_offset(consumer: Any, tp: TP) -> Optional[int]:
    """The offset the consumer last committed for `tp` (None: none yet in this generation)."""
    return consumer._committed_offset.get(tp)


async def cluster_metadata(consumer: "aiokafka.AIOKafkaConsumer") -> Any:
    """The whole cluster's metadata: topics with their partitions. The consumer's public
    topics() gives names only, and partitions_for_topic() waits forever for an unknown one."""
    return await consumer._client.fetch_all_metadata()


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

        A message can arrive twice (after a rebalance, or a recovery seek): the first copy to
        produce outputs wins; below the committed offset its outputs are committed already."""
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


# How long the broker may hold an empty fetch (Faust: 1.5 s); a partition freed meanwhile
# waits for it. See docs/decisions/0006-empty-fetch-waits-100-ms.md.
FETCH_MAX_WAIT_MS = 100


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    async def _highwaters(self, partitions: List[TP]) -> Mapping[TP, int]:
        # From the broker (read_committed: the last stable offsets), not aiokafka's cache.
        # See docs/decisions/0003-exactly-once-reads-last-stable-offsets.md.
        return await self._ensure_consumer().end_offsets(partitions)


class FlowControl(FlowControlEvent):
    """Faust's flow control, except that resuming keeps what the streams' queues hold:
    emptied, those events were never fetched again.
    See docs/decisions/0004-every-fetched-event-reaches-its-stream.md."""

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
            # Of an earlier generation, or skipped unprocessed: neither may move the commit.
            # See docs/decisions/0002-our-own-commit-rules.md.
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

        An offset never fetched (a transaction marker, an aborted record) needs no
        acknowledgement. See docs/decisions/0002-our-own-commit-rules.md."""
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
        """Fetch for a copy of the active partitions, and deliver all that comes back: Faust
        dropped records of partitions paused during the fetch after aiokafka moved past them.
        See docs/decisions/0004-every-fetched-event-reaches-its-stream.md."""
        wanted = set(active_partitions or ())
        if not wanted:
            return {}
        return await super()._getmany(wanted, timeout)

    async def _wait_next_records(self, timeout: float) -> Tuple[Any, Optional[Set[TP]]]:
        records, _ = await super()._wait_next_records(timeout)
        return records, None  # all of them: fetched for a copy of the set (_getmany)

    def resume_partitions(self, tps: Any) -> None:
        """Stream partitions wait for this generation's seek to the committed offsets, else
        they are read from wherever aiokafka stood.
        See docs/decisions/0004-every-fetched-event-reaches-its-stream.md."""
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
        # A new generation reads every partition again from its committed offset; kept until
        # now so the revocation's commit still follows the rule of _new_offset.
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
