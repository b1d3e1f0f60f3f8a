"""Runtime benchmark: what a user feels of the agent runtime standing in front of a model.

Each figure is measured side by side, in one run: the same requests sent to the model
server directly, and through the runtime (`python -m kaos_runtime`, the image CMD) in front
of it, in alternating rounds so that a busy moment of the machine hits both sides alike.

Two fake model servers, both raw asyncio HTTP/1.1 with pre-encoded answers (so that their
own cost stays small and the same on both sides), in one process of their own:

* realistic: a streamed answer starts 100 ms after the request (prefill), then 50 tokens
  arrive 20 ms apart, as a served model writes them;
* instant: the whole answer at once (what the runtime's own cost per call shows against).

Figures (issue 8; targets in brackets):

* realistic upstream, 32 concurrent streams: total time per request over direct [<= 2%],
  time to the first content over direct [<= 10 ms], the runtime's CPU per 50-token stream
  [<= 10 ms];
* realistic upstream, one stream at a time: added latency [<= 3 ms];
* instant upstream: added latency at concurrency 1 (p50, p99), and the runtime's CPU per
  request (plain and streamed) at concurrency 32;
* RSS at idle and after 10,000 requests over 1,000 sessions with local memory (sampled
  every 2,500; MEMORY_MAX_SESSION_EVENTS=10 so the memory limits are reached half way)
  [bounded: flat once the limits are reached].

for the default model client (`MODEL_CLIENT=direct`, aiohttp) and for litellm.

CPU placement: with two or more CPUs the load generator and the model servers share CPU 0
and the runtime gets CPU 1 (in a cluster the model runs elsewhere and the agent pod has CPU
of its own); `--shared` leaves every process unpinned. CPU time is read from
/proc/<pid>/task/*/schedstat (nanoseconds, every thread of the runtime). Prints figures;
asserts nothing. On a busy machine the figures are noisy: run it on a quiet one.

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
TOKENS = 50
FIRST_TOKEN_S = 0.100
TOKEN_GAP_S = 0.020
_CONTENT = re.compile(rb'"content":\s*"[^"]')


# --- the fake model servers --------------------------------------------------------------


def _sse(data: dict) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _answers() -> dict[str, bytes | list[bytes]]:
    """Every byte the model servers send, encoded once."""
    words = [f" word{i}" for i in range(TOKENS)]
    envelope = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0}
    envelope["model"] = MODEL

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _chunk(_sse({**envelope, "choices": [choice]}))

    usage = {"prompt_tokens": 12, "completion_tokens": TOKENS, "total_tokens": 12 + TOKENS}
    completion = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(words)},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }
    body = json.dumps(completion, separators=(",", ":")).encode()
    tail = (
        chunk({}, "stop")
        + _chunk(_sse({**envelope, "choices": [], "usage": usage}))
        + _chunk(b"data: [DONE]\n\n")
        + b"0\r\n\r\n"
    )
    return {
        "plain": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % len(body)
        + body,
        "stream_head": b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunk({"role": "assistant", "content": ""}),
        "tokens": [chunk({"content": w}) for w in words],
        "stream_tail": tail,
    }


async def _serve_model(realistic_port: int, instant_port: int) -> None:
    answers = _answers()
    loop = asyncio.get_running_loop()
    tokens: list[bytes] = answers["tokens"]  # type: ignore[assignment]

    def handler(realistic: bool):
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    body = await reader.readexactly(length)
                    stream = b'"stream":true' in body or b'"stream": true' in body
                    if not stream:
                        if realistic:
                            await asyncio.sleep(FIRST_TOKEN_S + TOKEN_GAP_S * (TOKENS - 1))
                        writer.write(answers["plain"])  # type: ignore[arg-type]
                    elif not realistic:
                        writer.write(answers["stream_head"] + b"".join(tokens))  # type: ignore[operator]
                        writer.write(answers["stream_tail"])  # type: ignore[arg-type]
                    else:  # each token at its own time from the request: delays never add up
                        start = loop.time()
                        writer.write(answers["stream_head"])  # type: ignore[arg-type]
                        for i, token in enumerate(tokens):
                            due = start + FIRST_TOKEN_S + i * TOKEN_GAP_S
                            await asyncio.sleep(max(0.0, due - loop.time()))
                            writer.write(token)
                        writer.write(answers["stream_tail"])  # type: ignore[arg-type]
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        return serve

    realistic = await asyncio.start_server(handler(True), "127.0.0.1", realistic_port, backlog=512)
    instant = await asyncio.start_server(handler(False), "127.0.0.1", instant_port, backlog=512)
    async with realistic, instant:
        await asyncio.gather(realistic.serve_forever(), instant.serve_forever())


def serve_model(realistic_port: int, instant_port: int) -> None:
    try:
        import uvloop

        uvloop.run(_serve_model(realistic_port, instant_port))
    except ImportError:
        asyncio.run(_serve_model(realistic_port, instant_port))


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(check, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.05)
    raise SystemExit(f"{process.args} not ready after {timeout}s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:
        return response.status == 200


def port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


#: CPUs for the load generator and the model servers, and for the runtime (None: unpinned).
PLACEMENT: dict[str, set[int] | None] = {"load": None, "runtime": None}


def plan_cpus(shared: bool) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if not shared and len(cpus) >= 2:
        PLACEMENT.update(load={cpus[0]}, runtime={cpus[1]})
        os.sched_setaffinity(0, PLACEMENT["load"])  # this process generates the load


@contextlib.contextmanager
def spawn(
    argv: list[str], env: dict[str, str], ready, log: Path, cpus: set[int] | None
) -> Iterator[subprocess.Popen]:
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, preexec_fn=pin
        )
    try:
        wait_ready(ready, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid` so far (schedstat: nanoseconds on CPU)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "PEER_", "AGENT_"))}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True", FASTMCP_CHECK_FOR_UPDATES="off", PYTHONUNBUFFERED="1"
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    return env


# --- a minimal HTTP/1.1 load generator ---------------------------------------------------


@dataclass
class Result:
    status: int
    seconds: float
    first_content: float = float("nan")
    body: bytes = b""


class Connection:
    """One keep-alive connection; enough HTTP/1.1 for JSON and chunked SSE responses."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, payload: bytes, headers: dict[str, str] | None = None) -> Result:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = [
            "POST /v1/chat/completions HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        started = time.perf_counter()
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        reader = self.reader
        assert reader is not None
        status = int((await reader.readline()).split()[1])
        length, chunked = 0, False
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
                if result.first_content != result.first_content and _CONTENT.search(piece):
                    result.first_content = time.perf_counter() - started
                data += piece[:-2]
        else:
            data += await reader.readexactly(length)
        result.seconds = time.perf_counter() - started
        result.body = bytes(data)
        return result

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def payload(stream: bool) -> bytes:
    body: dict = {"model": MODEL, "messages": [{"role": "user", "content": "Say fifty words."}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


async def _load(
    port: int, requests: int, concurrency: int, stream: bool, sessions: int | None, first: int
) -> list[Result]:
    counter = iter(range(first, first + requests))
    results: list[Result] = []
    body = payload(stream)

    async def worker() -> None:
        conn = Connection(port)
        try:
            for i in counter:
                headers = {"X-Session-ID": f"s{i % sessions}"} if sessions else None
                result = await conn.request(body, headers)
                if result.status != 200:
                    raise SystemExit(f"HTTP {result.status}: {result.body[:300]!r}")
                results.append(result)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def load(
    port: int,
    requests: int,
    concurrency: int,
    stream: bool = False,
    sessions: int | None = None,
    first: int = 0,
) -> list[Result]:
    return asyncio.run(_load(port, requests, concurrency, stream, sessions, first))


def ms(values: list[float], q: float = 0.5) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- the measurements ----------------------------------------------------------------------


@dataclass
class Side:
    """One kind of request, sent directly and through the runtime in alternating rounds."""

    direct: list[Result] = field(default_factory=list)
    runtime: list[Result] = field(default_factory=list)
    cpu_s: float = 0.0  # runtime CPU over the runtime's rounds

    def total_ms(self, which: str, q: float = 0.5) -> float:
        return ms([r.seconds for r in getattr(self, which)], q)

    def first_ms(self, which: str) -> float:
        return ms([r.first_content for r in getattr(self, which)])

    def mean_ms(self, which: str) -> float:
        return statistics.fmean(r.seconds for r in getattr(self, which)) * 1000

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / max(1, len(self.runtime)) * 1e6


def side_by_side(
    model_port: int,
    runtime_port: int,
    pid: int,
    requests: int,
    concurrency: int,
    stream: bool,
    rounds: int,
) -> Side:
    side = Side()
    for _ in range(rounds):
        side.direct += load(model_port, requests, concurrency, stream)
        before = cpu_seconds(pid)
        side.runtime += load(runtime_port, requests, concurrency, stream)
        side.cpu_s += cpu_seconds(pid) - before
    return side


def memory_run(port: int, pid: int, total: int, sessions: int) -> dict:
    samples = [round(rss_mib(pid), 1)]
    for quarter in range(4):
        load(port, total // 4, 32, sessions=sessions, first=quarter * total // 4)
        samples.append(round(rss_mib(pid), 1))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/memory/sessions", timeout=10) as r:
        kept = len(json.loads(r.read())["sessions"])
    return {"rss_mib_by_quarter": samples, "sessions_kept": kept}


def runtime_env(model_port: int, port: int, client: str, max_events: int) -> dict[str, str]:
    env = base_env()
    env.update(
        AGENT_NAME="bench",
        MODEL_API_URL=f"http://127.0.0.1:{model_port}",
        MODEL_NAME=MODEL,
        AGENT_PORT=str(port),
        AGENT_HOST="127.0.0.1",
        MEMORY_TYPE="local",
        MEMORY_MAX_SESSIONS="1000",
        MEMORY_MAX_SESSION_EVENTS=str(max_events),
        MODEL_CLIENT=client,
        LOG_LEVEL="WARNING",
    )
    return env


def measure_client(
    client: str, realistic_port: int, instant_port: int, sizes: dict, logs: Path, max_events: int
) -> dict:
    figures: dict = {"client": client}
    argv = [sys.executable, "-m", "kaos_runtime"]
    for upstream, model_port in (("instant", instant_port), ("realistic", realistic_port)):
        port = free_port()
        env = runtime_env(model_port, port, client, max_events)
        ready = lambda p=port: http_ok(f"http://127.0.0.1:{p}/health")  # noqa: E731
        log = logs / f"agent-{client}-{upstream}.log"
        with spawn(argv, env, ready, log, PLACEMENT["runtime"]) as proc:
            time.sleep(1.0)
            if upstream == "instant":
                figures["rss_idle_mib"] = round(rss_mib(proc.pid), 1)
                load(port, sizes["warmup"], 8)
                load(port, sizes["warmup"], 8, stream=True)
                plain1 = side_by_side(instant_port, port, proc.pid, sizes["c1"], 1, False, 2)
                plain32 = side_by_side(instant_port, port, proc.pid, sizes["c32"], 32, False, 2)
                stream32 = side_by_side(instant_port, port, proc.pid, sizes["c32"], 32, True, 2)
                figures["instant"] = {
                    "c1_added_p50_ms": plain1.total_ms("runtime") - plain1.total_ms("direct"),
                    "c1_added_p99_ms": plain1.total_ms("runtime", 0.99)
                    - plain1.total_ms("direct", 0.99),
                    "cpu_us_per_request": plain32.cpu_us_per_request,
                    "cpu_us_per_stream": stream32.cpu_us_per_request,
                }
                figures.update(
                    memory_run(port, proc.pid, sizes["memory"], 1000),
                    memory_requests=sizes["memory"],
                )
            else:
                load(port, 32, 32, stream=True)  # warm: 32 connections to the model
                c32 = side_by_side(
                    realistic_port, port, proc.pid, 32 * sizes["waves"], 32, True, sizes["rounds"]
                )
                c1 = side_by_side(realistic_port, port, proc.pid, sizes["c1_realistic"], 1, True, 2)
                figures["realistic"] = {
                    "c32_total_direct_ms": c32.mean_ms("direct"),
                    "c32_total_runtime_ms": c32.mean_ms("runtime"),
                    "c32_total_over_direct_pct": (
                        c32.mean_ms("runtime") / c32.mean_ms("direct") - 1
                    )
                    * 100,
                    "c32_first_content_direct_ms": c32.first_ms("direct"),
                    "c32_first_content_over_direct_ms": c32.first_ms("runtime")
                    - c32.first_ms("direct"),
                    "c32_cpu_ms_per_stream": c32.cpu_us_per_request / 1000,
                    "c1_added_ms": c1.total_ms("runtime") - c1.total_ms("direct"),
                    "c1_first_content_over_direct_ms": c1.first_ms("runtime")
                    - c1.first_ms("direct"),
                }
    return figures


def verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "MISSED"


def report(runs: list[dict], max_events: int) -> None:
    for f in runs:
        r, i = f["realistic"], f["instant"]
        print(f"\nruntime with MODEL_CLIENT={f['client']}")
        print("  realistic upstream (100 ms to the first token, 50 tokens 20 ms apart), streamed:")
        print(
            f"    c=32 total time {r['c32_total_runtime_ms']:.1f} ms vs {r['c32_total_direct_ms']:.1f}"
            f" ms direct: {r['c32_total_over_direct_pct']:+.2f}%"
            f"  [<= 2%: {verdict(r['c32_total_over_direct_pct'], 2)}]"
        )
        print(
            f"    c=32 first content {r['c32_first_content_over_direct_ms']:+.2f} ms over direct"
            f" ({r['c32_first_content_direct_ms']:.1f} ms)"
            f"  [<= 10 ms: {verdict(r['c32_first_content_over_direct_ms'], 10)}]"
        )
        print(
            f"    c=32 runtime CPU {r['c32_cpu_ms_per_stream']:.2f} ms per 50-token stream"
            f"  [<= 10 ms: {verdict(r['c32_cpu_ms_per_stream'], 10)}]"
        )
        print(
            f"    c=1 added latency {r['c1_added_ms']:+.2f} ms (first content"
            f" {r['c1_first_content_over_direct_ms']:+.2f} ms)  [<= 3 ms: {verdict(r['c1_added_ms'], 3)}]"
        )
        print("  instant upstream:")
        print(
            f"    c=1 added latency p50 {i['c1_added_p50_ms']:+.2f} ms, p99 {i['c1_added_p99_ms']:+.2f} ms"
        )
        print(
            f"    runtime CPU per request {i['cpu_us_per_request']:.0f} us plain,"
            f" {i['cpu_us_per_stream']:.0f} us streamed (50 tokens), at c=32"
        )
        print(
            f"  RSS idle {f['rss_idle_mib']:.1f} MiB; after {f['memory_requests']} requests over 1000"
            f" sessions, by quarter: {f['rss_mib_by_quarter']} MiB (sessions kept"
            f" {f['sessions_kept']}; limits 1000 sessions, {max_events} events each)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-client", choices=("direct", "litellm", "both"), default="both")
    parser.add_argument("--shared", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--max-session-events", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--serve-model", nargs=2, type=int, metavar=("REALISTIC", "INSTANT"))
    args = parser.parse_args(argv)
    if args.serve_model:
        serve_model(*args.serve_model)
        return
    sizes = (
        {"warmup": 50, "c1": 200, "c32": 320, "waves": 2, "rounds": 1, "c1_realistic": 4,
         "memory": 2000}
        if args.quick
        else {"warmup": 300, "c1": 1000, "c32": 2000, "waves": 4, "rounds": 3,
              "c1_realistic": 30, "memory": 10000}
    )  # fmt: skip
    clients = ["direct", "litellm"] if args.model_client == "both" else [args.model_client]
    plan_cpus(args.shared)
    logs = Path(tempfile.mkdtemp(prefix="kaos-bench-"))
    realistic_port, instant_port = free_port(), free_port()
    model_argv = [sys.executable, __file__, "--serve-model", str(realistic_port), str(instant_port)]
    runs = []
    with spawn(
        model_argv,
        base_env(),
        lambda: port_open(realistic_port) and port_open(instant_port),
        logs / "model.log",
        PLACEMENT["load"],
    ):
        for client in clients:
            runs.append(
                measure_client(
                    client, realistic_port, instant_port, sizes, logs, args.max_session_events
                )
            )
    report(runs, args.max_session_events)
    placement = (
        f"load generator and model servers on CPU {sorted(PLACEMENT['load'])}, runtime on CPU "
        f"{sorted(PLACEMENT['runtime'] or [])}"
        if PLACEMENT["load"]
        else "processes not pinned (shared CPUs)"
    )
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nmachine: {os.cpu_count()} CPUs (load average {load_avg}), Python "
        f"{sys.version.split()[0]}; {placement}; logs in {logs}"
    )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
