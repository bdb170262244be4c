"""Baseline: a bare Faust agent that forwards raw events, nothing else."""
import os

import faust

app = faust.App(os.environ["BENCH_APP_ID"], broker=f"kafka://{os.environ['BENCH_BOOTSTRAP']}",
                web_enabled=False, store="memory://", consumer_auto_offset_reset="earliest",
                datadir=os.environ.get("BENCH_DATA_DIR", ".bifrost/bench"))
source = app.topic(os.environ["BENCH_IN"], key_type=bytes, value_type=bytes,
                   key_serializer="raw", value_serializer="raw")
target = app.topic(os.environ["BENCH_OUT"], key_type=bytes, value_type=bytes,
                   key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def forward(stream):
    async for event in stream.events():
        await target.send(key=event.key, value=event.value)
