"""Runtime benchmark: the agent runtime in front of a fast OpenAI-compatible server, measured
side by side with calling that server directly.

Figures (issue 3, targets in brackets):

- added latency p50/p99 at concurrency 1, non-streaming  [p50 <= 3 ms]
- throughput at concurrency 32, runtime vs direct          [>= 50% of direct]
  (rounds alternate between the model server alone and the runtime, while both run, and
  the medians are compared, so a busy moment on the machine hits both sides alike)
- time to first streamed content, overhead over direct     [<= 5 ms]
- RSS at idle and after 10,000 requests over 1,000 sessions with local memory, sampled
  every 2,500 requests; MEMORY_MAX_SESSIONS=1000 and MEMORY_MAX_SESSION_EVENTS=10 by
  default, so both limits are reached half way     [flat once the limits are reached]

The model server is the tests' scripted model (`tests/support/scripted_model.py`, Starlette)
in its own process; the runtime is `python -m kaos_runtime` (the image CMD) in another; the
load comes from a minimal keep-alive HTTP/1.1 client on asyncio streams, so the client's own
cost stays small and is the same on both sides. Prints figures; asserts nothing.

CPU placement. With two or more CPUs the load generator and the model server share CPU 0
and the runtime gets CPU 1 of its own, for every figure, direct and through the runtime
alike. The throughput ratio then says what the issue asks: how much of what the model
server delivers still gets through when the runtime stands in front of it (in a cluster
the model server runs on other nodes, usually on a GPU, and the agent pod has its own CPU).
Unpinned (`--shared`), the three processes compete for the same cores, and the runtime's
share of the work slows the model server it is measured against, so the ratio measures
the machine as much as the runtime; the bench prints that figure too when asked.

    uv run python bench/runtime.py [--model-client direct|litellm|both] [--quick] [--shared]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = "bench-model"
ANSWER = "The quick brown fox jumps over the lazy dog."
_CONTENT = re.compile(rb'"content":\s*"[^"]')


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.05)
    raise SystemExit(f"{url} not ready after {timeout}s")


#: CPUs for the load generator and model server, and for the runtime (None: unpinned).
PLACEMENT: dict[str, set[int] | None] = {"load": None, "runtime": None}


def plan_cpus(shared: bool) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if not shared and len(cpus) >= 2:
        PLACEMENT.update(load={cpus[0]}, runtime={cpus[1]})
        os.sched_setaffinity(0, PLACEMENT["load"])  # this process generates the load


@contextlib.contextmanager
def spawn(
    argv: list[str], env: dict[str, str], ready_url: str, log: Path, cpus: set[int] | None = None
) -> Iterator[subprocess.Popen]:
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, preexec_fn=pin
        )
    try:
        wait_http(ready_url, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "PEER_", "AGENT_"))}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        FASTMCP_CHECK_FOR_UPDATES="off",
        PYTHONUNBUFFERED="1",
    )
    return env


# --- a minimal HTTP/1.1 client -----------------------------------------------------------


@dataclass
class Result:
    status: int
    seconds: float
    first_byte: float = float("nan")
    first_content: float = float("nan")
    body: bytes = b""


class Connection:
    """One keep-alive connection; enough HTTP/1.1 for JSON and chunked SSE responses."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, path: str, payload: dict, headers: dict[str, str] | None = None
    ) -> Result:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = json.dumps(payload).encode()
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        started = time.perf_counter()
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        reader = self.reader
        assert reader is not None
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        length, chunked = None, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        result = Result(status, 0.0)
        data = bytearray()
        if chunked:
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await reader.readline()
                    break
                piece = await reader.readexactly(size + 2)
                now = time.perf_counter()
                if not data:
                    result.first_byte = now - started
                data += piece[:-2]
                if result.first_content != result.first_content and _CONTENT.search(piece):
                    result.first_content = now - started
        else:
            data += await reader.readexactly(length or 0)
        result.seconds = time.perf_counter() - started
        result.body = bytes(data)
        return result

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def chat(stream: bool) -> dict:
    payload: dict = {"model": MODEL, "messages": [{"role": "user", "content": "Say the sentence."}]}
    if stream:
        payload["stream"] = True
    return payload


async def run_load(
    port: int,
    requests: int,
    concurrency: int,
    stream: bool = False,
    sessions: int | None = None,
    first: int = 0,
) -> tuple[list[Result], float]:
    """`requests` chat completions over `concurrency` connections; (results, wall seconds).

    With `sessions`, request number `i` (counting from `first`) uses session `i % sessions`.
    """
    counter = iter(range(first, first + requests))
    results: list[Result] = []

    async def worker() -> None:
        conn = Connection("127.0.0.1", port)
        try:
            for i in counter:
                headers = {"X-Session-ID": f"s{i % sessions}"} if sessions else None
                result = await conn.request("/v1/chat/completions", chat(stream), headers)
                if result.status != 200:
                    raise SystemExit(f"HTTP {result.status}: {result.body[:300]!r}")
                results.append(result)
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- the measurements --------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    rps_c32: float = 0.0
    ttfb_ms: float = 0.0
    ttfc_ms: float = 0.0
    extra: dict = field(default_factory=dict)


def throughput(port: int, requests: int) -> float:
    _, wall = asyncio.run(run_load(port, requests, 32))
    return requests / wall


def paired_throughput(
    model_port: int, port: int, requests: int, rounds: int = 5
) -> tuple[float, float]:
    """(model server alone, through the runtime): medians of alternating rounds."""
    direct, runtime = [], []
    for _ in range(rounds):
        direct.append(throughput(model_port, requests))
        runtime.append(throughput(port, requests))
    return statistics.median(direct), statistics.median(runtime)


def measure(name: str, port: int, sizes: dict[str, int]) -> Figures:
    asyncio.run(run_load(port, sizes["warmup"], 8))
    asyncio.run(run_load(port, sizes["warmup"], 1, stream=True))
    latencies, _ = asyncio.run(run_load(port, sizes["latency"], 1))
    streams, _ = asyncio.run(run_load(port, sizes["stream"], 1, stream=True))
    _, wall = asyncio.run(run_load(port, sizes["throughput"], 32))
    return Figures(
        name,
        p50_ms=pct([r.seconds for r in latencies], 0.50),
        p99_ms=pct([r.seconds for r in latencies], 0.99),
        rps_c32=sizes["throughput"] / wall,
        ttfb_ms=pct([r.first_byte for r in streams], 0.50),
        ttfc_ms=pct([r.first_content for r in streams], 0.50),
    )


def memory_run(port: int, pid: int, total: int, sessions: int) -> dict:
    """RSS after `total` requests spread over `sessions` sessions, sampled at each quarter."""
    samples = [round(rss_mib(pid), 1)]
    for quarter in range(4):
        asyncio.run(run_load(port, total // 4, 32, sessions=sessions, first=quarter * total // 4))
        samples.append(round(rss_mib(pid), 1))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/memory/sessions", timeout=10) as r:
        listed = json.loads(r.read())
    return {"rss_mib_by_quarter": samples, "sessions_kept": len(listed["sessions"])}


def runtime_env(
    model_port: int, port: int, client: str, max_sessions: int, max_events: int
) -> dict:
    env = base_env()
    env.update(
        AGENT_NAME="bench",
        MODEL_API_URL=f"http://127.0.0.1:{model_port}",
        MODEL_NAME=MODEL,
        AGENT_PORT=str(port),
        MEMORY_TYPE="local",
        MEMORY_MAX_SESSIONS=str(max_sessions),
        MEMORY_MAX_SESSION_EVENTS=str(max_events),
        MODEL_CLIENT=client,
        LOG_LEVEL="WARNING",
    )
    return env


def report(direct: Figures, runs: list[Figures]) -> None:
    print(f"\n{'':24}{'p50 ms':>9}{'p99 ms':>9}{'c32 req/s':>11}{'TTFB ms':>9}{'TTFC ms':>9}")
    for f in [direct, *runs]:
        print(
            f"{f.name:24}{f.p50_ms:9.2f}{f.p99_ms:9.2f}{f.rps_c32:11.0f}{f.ttfb_ms:9.2f}{f.ttfc_ms:9.2f}"
        )
    for f in runs:
        added = f.p50_ms - direct.p50_ms
        ratio = f.rps_c32 / f.extra["direct_rps_c32"]
        ttfc = f.ttfc_ms - direct.ttfc_ms
        print(f"\n{f.name}:")
        print(
            f"  added latency p50 {added:.2f} ms, p99 {f.p99_ms - direct.p99_ms:.2f} ms  [target p50 <= 3 ms: {'ok' if added <= 3 else 'MISSED'}]"
        )
        print(
            f"  throughput c=32 {f.rps_c32:.0f} req/s, {ratio:.0%} of the model server's "
            f"{f.extra['direct_rps_c32']:.0f} in alternating rounds  "
            f"[target >= 50%: {'ok' if ratio >= 0.5 else 'MISSED'}]"
        )
        print(
            f"  first streamed content +{ttfc:.2f} ms (first byte +{f.ttfb_ms - direct.ttfb_ms:.2f} ms)  [target <= 5 ms: {'ok' if ttfc <= 5 else 'MISSED'}]"
        )
        mem = f.extra
        print(
            f"  RSS idle {mem['rss_idle_mib']:.1f} MiB; after {mem['requests']} requests over "
            f"{mem['sessions']} sessions, by quarter: {mem['rss_mib_by_quarter']} MiB; "
            f"sessions kept {mem['sessions_kept']} (limits {mem['max_sessions']} sessions, "
            f"{mem['max_session_events']} events each)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-client", choices=("direct", "litellm", "both"), default="both")
    parser.add_argument(
        "--shared", action="store_true", help="do not pin processes to CPUs (see CPU placement)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--max-sessions", type=int, default=1000)
    # 10 events = 5 turns: the 10,000-request run (10 turns per session) passes both limits
    # half way, so its second half shows whether RSS stays flat once memory is full.
    parser.add_argument("--max-session-events", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = (
        {"warmup": 50, "latency": 300, "stream": 100, "throughput": 500, "memory": 2000}
        if args.quick
        else {"warmup": 300, "latency": 2000, "stream": 500, "throughput": 3000, "memory": 10000}
    )
    clients = ["direct", "litellm"] if args.model_client == "both" else [args.model_client]
    plan_cpus(args.shared)
    logs = Path(tempfile.mkdtemp(prefix="kaos-bench-"))
    model_port = free_port()
    model_argv = [
        sys.executable,
        "-m",
        "tests.support.scripted_model",
        "--port",
        str(model_port),
        "--text",
        ANSWER,
    ]
    with spawn(
        model_argv,
        base_env(),
        f"http://127.0.0.1:{model_port}/health",
        logs / "model.log",
        PLACEMENT["load"],
    ):
        direct = measure("direct (model server)", model_port, sizes)
        runs = []
        for client in clients:
            port = free_port()
            env = runtime_env(model_port, port, client, args.max_sessions, args.max_session_events)
            argv_ = [sys.executable, "-m", "kaos_runtime"]
            with spawn(
                argv_,
                env,
                f"http://127.0.0.1:{port}/health",
                logs / f"agent-{client}.log",
                PLACEMENT["runtime"],
            ) as proc:
                time.sleep(1.0)
                extra = {
                    "rss_idle_mib": round(rss_mib(proc.pid), 1),
                    "requests": sizes["memory"],
                    "sessions": 1000,
                    "max_sessions": args.max_sessions,
                    "max_session_events": args.max_session_events,
                    **memory_run(port, proc.pid, sizes["memory"], 1000),
                }
                figures = measure(f"runtime ({client})", port, sizes)
                direct_rps, figures.rps_c32 = paired_throughput(
                    model_port, port, sizes["throughput"]
                )
                figures.extra = {**extra, "direct_rps_c32": round(direct_rps)}
                runs.append(figures)
    report(direct, runs)
    placement = (
        f"load generator and model server on CPU {sorted(PLACEMENT['load'])}, runtime on CPU "
        f"{sorted(PLACEMENT['runtime'] or [])}"
        if PLACEMENT["load"]
        else "processes not pinned (shared CPUs)"
    )
    print(f"\nmachine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {placement}")
    print(f"logs in {logs}")
    if args.json:
        args.json.write_text(json.dumps([f.__dict__ for f in [direct, *runs]], indent=2))


if __name__ == "__main__":
    main()
