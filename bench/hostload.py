"""What share of a shared host a benchmark phase got: load average, the host's busy CPU and the CPU
of the bench itself (this process and the PostgreSQL backends serving it), read from /proc.

    with HostShare(backend_pids) as share:
        ...
    print(share.summary())
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _host_busy_and_total() -> tuple[float, float]:
    """Host CPU seconds busy and in total (all cores) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return (total - idle) / _TICK, total / _TICK


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class HostShare:
    """CPU of this process and of ``pids`` (PostgreSQL backends) over a phase, against the host's."""

    def __init__(self, pids: list[int] | None = None) -> None:
        self.pids = list(pids or [])
        self.cores = os.cpu_count() or 1

    def _ours(self) -> float:
        own = os.times()
        return own.user + own.system + sum(process_cpu(pid) for pid in self.pids)

    def __enter__(self) -> HostShare:
        self.started = time.monotonic()
        self.ours = self._ours()
        self.busy, self.total = _host_busy_and_total()
        return self

    def add(self, pid: int) -> None:
        """A backend that started inside the phase (its CPU so far counts)."""
        self.pids.append(pid)

    def retire(self, pid: int) -> None:
        """A backend about to close: its CPU is taken now (its /proc entry goes with it)."""
        self.pids.remove(pid)
        self.ours -= process_cpu(pid)

    def __exit__(self, *exc) -> None:
        self.wall = time.monotonic() - self.started
        busy, total = _host_busy_and_total()
        self.ours = self._ours() - self.ours
        self.host_busy = (busy - self.busy) / max(total - self.total, 1e-9)  # fraction of all cores
        self.load = os.getloadavg()[0]

    def host(self) -> str:
        """The host's load over the phase (without this bench's own share)."""
        return f"load average {self.load:.1f} on {self.cores} cores, CPU {self.host_busy * 100:.0f}% busy"

    def summary(self) -> str:
        return (f"host: load average {self.load:.1f} on {self.cores} cores, CPU {self.host_busy * 100:.0f}% busy; "
                f"this bench used {self.ours / self.wall / self.cores * 100:.0f}% of the host's CPU "
                f"({self.ours / self.wall:.2f} of {self.cores} cores)")
