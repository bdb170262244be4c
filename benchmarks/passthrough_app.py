"""Baselines: bare Faust agents that forward raw events and do nothing else.

BENCH_MODE=event (default): one event at a time through Topic.send, Faust as documented.
BENCH_MODE=batch: events in batches (take_events) straight onto the producer, the cuts the
bifrost agents make; its rate is the most any Faust agent reading one topic reaches here.
"""
import os

import faust

BATCH = os.environ.get("BENCH_MODE", "event") == "batch"
# The batch mode's producer lingers as the bifrost app's does (bifrost_streams/app.py).
app = faust.App(os.environ["BENCH_APP_ID"], broker=f"kafka://{os.environ['BENCH_BOOTSTRAP']}",
                web_enabled=False, store="memory://", consumer_auto_offset_reset="earliest",
                datadir=os.environ.get("BENCH_DATA_DIR", ".bifrost/bench"),
                **({"producer_linger": 0.002} if BATCH else {}))
source = app.topic(os.environ["BENCH_IN"], key_type=bytes, value_type=bytes,
                   key_serializer="raw", value_serializer="raw")
target = app.topic(os.environ["BENCH_OUT"], key_type=bytes, value_type=bytes,
                   key_serializer="raw", value_serializer="raw")

if not BATCH:
    @app.agent(source)
    async def forward(stream):
        async for event in stream.events():
            await target.send(key=event.key, value=event.value)
else:
    @app.agent(source)
    async def forward_batches(stream):
        async for events in stream.take_events(500, within=0.005):
            for event in events:
                await app.producer.send(target.get_topic_name(), event.key, event.value,
                                        partition=None, timestamp=None, headers=None)
