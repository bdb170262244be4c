"""The benchmark's CPU accounting (benchmarks/cpu.py), on this test's own process."""
import asyncio
import os
import subprocess
import sys
import time
import uuid

from benchmarks.cpu import CpuClock, cpu_seconds, processes_with
from tests.support.services import wait_for


def _spin(seconds_of_cpu: float) -> None:
    start = cpu_seconds(os.getpid())
    while cpu_seconds(os.getpid()) - start < seconds_of_cpu:
        sum(range(10000))


def test_a_busy_window_counts_a_core_and_an_idle_one_almost_none():
    async def run():
        clock = CpuClock({"me": [os.getpid()], "gone": [2 ** 22 + 1]}, interval=0.02).start()
        await asyncio.sleep(0)  # its first sample
        busy_from = time.perf_counter()
        _spin(0.3)
        busy_to = time.perf_counter()
        await asyncio.sleep(0.3)
        idle_to = time.perf_counter()
        await clock.stop()
        return clock.cores(busy_from, busy_to), clock.cores(busy_to + 0.05, idle_to)

    busy, idle = asyncio.run(run())
    # The spin holds this thread on a core unless the machine is crowded; the sleep holds none.
    assert busy["me"] > 0.4
    assert idle["me"] < 0.2
    assert busy["gone"] == idle["gone"] == 0.0  # a process that is not there costs nothing


def test_the_broker_is_found_by_its_data_directory():
    marker = f"/tmp/bench-{uuid.uuid4().hex}/kafka"
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(60)", marker])
    try:
        # Until the child has exec'd, its command line is still this test's.
        wait_for(lambda: processes_with(marker) == [child.pid], 30, "the child to start")
    finally:
        child.kill()
        child.wait()
    assert processes_with(marker) == []
