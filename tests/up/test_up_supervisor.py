"""The supervisor stops what a process started too: a child that ignores SIGTERM, in the
process's group, is gone after `stop_all` (SIGKILL after the grace period)."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest
from support.up import alive

from kaosgen.up.supervisor import StartError, Supervisor, tcp_ready


def test_stop_all_reaches_children_that_ignore_sigterm(tmp_path: Path) -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, width=6)
    pid_file = tmp_path / "child.pid"
    script = f"sh -c 'trap \"\" TERM; echo child up; sleep 300' & echo $! > {pid_file}; wait"
    running = supervisor.start("parent", ["sh", "-c", script], dict(os.environ), str(tmp_path))
    deadline = time.monotonic() + 10
    # The child may print before its parent has written the pid file: wait for both.
    while time.monotonic() < deadline and not (
        "child up" in out.getvalue() and pid_file.exists() and pid_file.read_text().strip()
    ):
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert alive(child)
    started = time.monotonic()
    supervisor.stop_all(grace=1.0)
    assert running.popen.poll() is not None
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
    assert time.monotonic() - started < 8
    assert "parent | child up" in out.getvalue()


def test_a_process_that_exits_before_ready_names_its_last_lines(tmp_path: Path) -> None:
    supervisor = Supervisor(io.StringIO())
    running = supervisor.start(
        "broken",
        ["sh", "-c", "echo configuration is wrong; exit 3"],
        dict(os.environ),
        str(tmp_path),
    )
    with pytest.raises(StartError, match=r"broken exited with code 3 before it was ready") as info:
        supervisor.wait_ready(running, lambda: tcp_ready(1), 10, threading.Event())
    assert "configuration is wrong" in str(info.value)
    supervisor.stop_all()
