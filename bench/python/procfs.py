"""What /proc says about a server process, for the benchmark scripts."""

from __future__ import annotations

import os
import re
from pathlib import Path


def proc_figures(pid: int) -> tuple[float, int]:
    """The process's resident memory in MiB and its open file descriptors."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> dict[str, tuple[str, int, int]]:
    """Per thread id: its kind (the name without a trailing number), context switches (both
    kinds) and CPU ticks (user and system)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except FileNotFoundError:
            continue  # ended meanwhile
        name = re.search(r"Name:\s*(.*)", status).group(1)
        switches = sum(int(n) for n in re.findall(r"(?:nonvoluntary|voluntary)_ctxt_switches:\s*(\d+)", status))
        fields = stat.rsplit(")", 1)[1].split()
        out[tid] = (re.sub(r"[-\d]+$", "", name), switches, int(fields[11]) + int(fields[12]))
    return out
