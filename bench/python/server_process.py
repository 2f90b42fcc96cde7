"""A Sundial server started from a config file and stopped with SIGTERM, for the benchmark
scripts that restart one to measure its start."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from ports import wait_port


class Server:
    def __init__(self, binary: Path, config: Path, port: int, log: Path | None = None):
        self.binary, self.config, self.port, self.log = binary, config, port, log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 600) -> float:
        """Starts the server; the seconds until its port accepts connections."""
        began = time.monotonic()
        argv = [str(self.binary), "start", "--config", str(self.config)]
        if self.log is None:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout=timeout)
        return time.monotonic() - began

    @property
    def pid(self) -> int:
        assert self.proc
        return self.proc.pid

    def stop(self) -> float:
        """Stops the server with SIGTERM; the seconds until it exited."""
        assert self.proc
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        return time.monotonic() - began
