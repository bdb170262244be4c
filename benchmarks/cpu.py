"""CPU time of the processes under test, sampled while they run.

The broker, the workers and the benchmark's own client share the machine's cores; what each
spends per message bounds what more workers can add on the same cores.
"""
from __future__ import annotations

import asyncio
import bisect
import os
import time
from pathlib import Path
from typing import Dict, List, Tuple

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of the process, all its threads; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def processes_with(text: str) -> List[int]:
    """Processes whose command line mentions `text` (the broker's data directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuClock:
    """Samples named groups of processes every `interval` seconds until stopped."""

    def __init__(self, groups: Dict[str, List[int]], interval: float = 0.05) -> None:
        self.groups, self.interval = groups, interval
        self.samples: List[Tuple[float, Dict[str, float]]] = []
        self._task: "asyncio.Task[None] | None" = None

    def _sample(self) -> None:
        self.samples.append((time.perf_counter(),
                             {name: sum(cpu_seconds(pid) for pid in pids)
                              for name, pids in self.groups.items()}))

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.interval)

    def start(self) -> "CpuClock":
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._sample()

    def cores(self, start: float, end: float) -> Dict[str, float]:
        """Cores each group kept busy on average between two perf_counter() times (the
        samples just outside them)."""
        times = [t for t, _ in self.samples]
        first = self.samples[max(0, bisect.bisect_right(times, start) - 1)]
        last = self.samples[min(len(times) - 1, bisect.bisect_left(times, end))]
        span = max(last[0] - first[0], 1e-9)
        return {name: (last[1][name] - first[1][name]) / span for name in self.groups}
