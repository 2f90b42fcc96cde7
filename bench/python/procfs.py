"""What /proc says about a server process, for the benchmark scripts."""

from __future__ import annotations

import os
from pathlib import Path


def proc_figures(pid: int) -> tuple[float, int]:
    """The process's resident memory in MiB and its open file descriptors."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))
