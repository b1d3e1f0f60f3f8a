"""`kaosgen up` as a user runs it: a real subprocess, its output read as it comes, stopped
with SIGINT (Ctrl-C) or SIGTERM, and every process it started accounted for by PID."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from .devtools import KAOSGEN, REPO, tool_env
from .process import OFFLINE_ENV

READY_LINE = "every workload is ready"
LITELLM_VENV_BIN = REPO / ".venv-litellm" / "bin"
REQUIRE_LITELLM = "KAOSGEN_REQUIRE_LITELLM_PROXY"


def copy_example(name: str, target: Path) -> Path:
    """examples/<name> without its rendered output."""
    shutil.copytree(REPO / "examples" / name, target, ignore=shutil.ignore_patterns("deploy"))
    return target


def set_container_env(project: Path, kind: str, name: str, env: dict[str, str]) -> None:
    """Add `spec.container.env` entries to the `kind` named `name` in the project's YAML."""
    yaml = YAML()
    yaml.preserve_quotes = True
    for path in sorted(project.glob("*.yaml")):
        docs = list(yaml.load_all(path.read_text(encoding="utf-8")))
        changed = False
        for doc in docs:
            if doc and doc.get("kind") == kind and doc["metadata"]["name"] == name:
                container = doc["spec"].setdefault("container", {})
                entries = container.setdefault("env", [])
                entries.extend({"name": k, "value": v} for k, v in env.items())
                changed = True
        if changed:
            with path.open("w", encoding="utf-8") as handle:
                yaml.dump_all(docs, handle)
            return
    raise AssertionError(f"no {kind} {name} in {project}")


def mock_responses(*replies: str | dict[str, Any]) -> str:
    """A DEBUG_MOCK_RESPONSES value (objects become JSON replies, e.g. tool calls)."""
    return json.dumps([r if isinstance(r, str) else json.dumps(r) for r in replies])


def up_env(**extra: str) -> dict[str, str]:
    """The caller's env for `kaosgen up`: this venv first, the LiteLLM proxy's venv (if
    .ci/run made it) on PATH, offline, nothing selecting an environment."""
    env = tool_env(**OFFLINE_ENV)
    if LITELLM_VENV_BIN.is_dir():
        env["PATH"] = f"{env['PATH']}{os.pathsep}{LITELLM_VENV_BIN}"
    env.update(extra)
    return env


def require_litellm_proxy() -> None:
    """Skip (or fail under KAOSGEN_REQUIRE_LITELLM_PROXY=1) unless `kaosgen up` would find a
    LiteLLM proxy: the dev venv's own `litellm` lacks the proxy's packages (litellm[proxy]
    pins mcp<2), so it is asked the way `kaosgen up` asks it."""
    from kaosgen.up.models import proxy_executable

    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = up_env()["PATH"]
    try:
        found, _ = proxy_executable()
    finally:
        os.environ["PATH"] = saved
    if found is None:
        reason = "the LiteLLM proxy is not installed (.ci/run makes .venv-litellm)"
        if os.environ.get(REQUIRE_LITELLM) == "1":
            pytest.fail(f"{REQUIRE_LITELLM}=1 but {reason}")
        pytest.skip(reason)


def require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        if os.environ.get("KAOSGEN_REQUIRE_REDIS") == "1":
            pytest.fail("KAOSGEN_REQUIRE_REDIS=1 but redis-server is not on PATH")
        pytest.skip("redis-server is not on PATH")


def run_up(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """`kaosgen up ARGS` to its end (--smoke, or an error)."""
    return subprocess.run(
        [KAOSGEN, "up", *args],
        cwd=cwd,
        env=env or up_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc: children, grandchildren, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True for a process that exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Up:
    """A running `kaosgen up`: its output so far, and the table's URLs once ready."""

    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(READY_LINE in line for line in self.lines) and self._table():
                return
            if self.popen.poll() is not None:
                time.sleep(0.2)
                raise AssertionError(f"kaosgen up exited {self.popen.returncode}:\n{self.output}")
            time.sleep(0.1)
        raise AssertionError(f"kaosgen up not ready after {timeout}s:\n{self.output[-6000:]}")

    def _table(self) -> bool:
        lines = list(self.lines)
        start = next(i for i, line in enumerate(lines) if READY_LINE in line)
        if len(lines) <= start + 1 or not lines[start + 1].startswith("WORKLOAD"):
            return False
        for line in lines[start + 2 :]:
            match = re.match(r"^(\S+)\s+(.*?)\s+([a-z]+://\S+|-)$", line)
            if not match or " | " in line:
                break
            self.urls[match[1]] = match[3]
            self.how[match[1]] = match[2]
        return bool(self.urls)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        self.popen.send_signal(sig)
        return self.popen.wait(timeout)


@contextlib.contextmanager
def running_up(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> Iterator[Up]:
    """`kaosgen up ARGS` until the block ends (then Ctrl-C, if still running)."""
    popen = subprocess.Popen(
        [KAOSGEN, "up", *args],
        cwd=cwd,
        env=env or up_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    up = Up(popen)

    def read() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            up.lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        up.wait_ready(timeout)
        yield up
    finally:
        if popen.poll() is None:
            children = descendants(popen.pid)
            popen.send_signal(signal.SIGINT)
            try:
                popen.wait(60)
            except subprocess.TimeoutExpired:
                popen.kill()
            for pid in children:  # never leave a test's processes behind
                with contextlib.suppress(ProcessLookupError):
                    if alive(pid):
                        os.kill(pid, signal.SIGKILL)
        reader.join(timeout=5)
