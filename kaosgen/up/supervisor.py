"""Local processes of `kaosgen up`: started in order, logs prefixed, stopped cleanly.

Each process leads its own process group (a new session), so stopping it stops its
children too (a shell wrapper's server, a proxy's workers): SIGTERM to the group, then
SIGKILL to what is left after a grace period. Output is read line by line by one thread
per process and printed as `name | line`, like `docker compose up`; the last lines are
kept to show when a process dies.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

TAIL_LINES = 20


class StartError(RuntimeError):
    """A process died or never became ready (the message carries its last lines)."""


@dataclass
class Running:
    name: str
    popen: subprocess.Popen[bytes]
    tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=TAIL_LINES)
    )
    reader: threading.Thread | None = None
    reported: bool = False

    def last_lines(self) -> str:
        if self.reader is not None:
            self.reader.join(timeout=1)
        return "\n".join(f"  {line}" for line in self.tail) or "  (no output)"


def http_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tcp_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Supervisor:
    def __init__(self, out: TextIO, width: int = 12) -> None:
        self.out = out
        self.width = width
        self.running: list[Running] = []
        self._lock = threading.Lock()

    def say(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"{name:<{self.width}} | {line}\n")
            self.out.flush()

    def announce(self, text: str) -> None:
        """kaosgen's own lines, written whole (never split by a process's log line)."""
        with self._lock:
            self.out.write(text.rstrip("\n") + "\n")
            self.out.flush()

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: str) -> Running:
        popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running = Running(name, popen)
        running.reader = threading.Thread(
            target=self._read, args=(running,), name=f"log-{name}", daemon=True
        )
        running.reader.start()
        self.running.append(running)
        return running

    def _read(self, running: Running) -> None:
        assert running.popen.stdout is not None
        for raw in running.popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            running.tail.append(line)
            self.say(running.name, line)

    def run_once(self, name: str, argv: list[str], env: dict[str, str], cwd: str) -> None:
        """A one-shot step (e.g. `ollama pull`), its output prefixed like the rest."""
        running = self.start(name, argv, env, cwd)
        self.running.remove(running)
        code = running.popen.wait()
        if code != 0:
            raise StartError(f"{name}: {' '.join(argv)} failed ({code}):\n{running.last_lines()}")

    def wait_ready(
        self, running: Running, ready: Callable[[], bool], timeout: float, stop: threading.Event
    ) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            code = running.popen.poll()
            if code is not None:
                running.reported = True
                raise StartError(
                    f"{running.name} exited with code {code} before it was ready; "
                    f"its last lines:\n{running.last_lines()}"
                )
            if stop.is_set():
                raise StartError("interrupted")
            if time.monotonic() > deadline:
                raise StartError(
                    f"{running.name} was not ready after {timeout:g}s; its last lines:\n"
                    f"{running.last_lines()}"
                )
            stop.wait(0.1)

    def dead(self) -> list[Running]:
        """Processes that exited since last asked (each reported once)."""
        result = []
        for running in self.running:
            if not running.reported and running.popen.poll() is not None:
                running.reported = True
                result.append(running)
        return result

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM to every process group (dependents first), SIGKILL after `grace`."""
        for running in reversed(self.running):
            _signal_group(running.popen, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for running in reversed(self.running):
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.popen.wait(max(0.0, deadline - time.monotonic()))
        for running in self.running:
            # The group may outlive its leader (a child that ignored SIGTERM).
            _signal_group(running.popen, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.popen.wait(5)
        for running in self.running:
            if running.reader is not None:
                running.reader.join(timeout=2)


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)
