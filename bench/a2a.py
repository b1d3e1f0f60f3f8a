"""A2A benchmark: what an A2A request costs next to the same chat completion.

One runtime (`python -m kaos_runtime`, the image CMD) in front of bench/runtime.py's instant
model server (the whole answer at once, so the runtime's own cost shows), asked the same
question three ways in alternating rounds, over one keep-alive HTTP connection per worker:

* `chat`: OpenAI `POST /v1/chat/completions` (not streamed);
* `a2a send`: A2A 1.0 JSON-RPC `SendMessage` at `POST /` (a task: stored, events, artifact);
* `a2a stream`: A2A `SendStreamingMessage` (the same task as server-sent events).

Figures: latency at concurrency 1 (p50, p99) and the runtime's CPU per request at
concurrency 16 (read from /proc, every thread), with local memory. Prints figures; asserts
nothing; noisy on a busy machine.

    uv run python bench/a2a.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runtime as shared  # bench/runtime.py: the model servers and process helpers


def chat_body() -> dict:
    return {"model": "bench", "messages": [{"role": "user", "content": "hello"}]}


def a2a_body(method: str) -> dict:
    message = {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": [{"text": "hello"}]}
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"message": message}}


WAYS = {
    "chat": ("/v1/chat/completions", lambda: chat_body()),
    "a2a send": ("/", lambda: a2a_body("SendMessage")),
    "a2a stream": ("/", lambda: a2a_body("SendStreamingMessage")),
}


async def one(client: httpx.AsyncClient, way: str) -> float:
    path, body = WAYS[way]
    started = time.perf_counter()
    async with client.stream("POST", path, json=body()) as response:
        data = await response.aread()
    if response.status_code != 200 or b'"error":' in data:
        raise SystemExit(f"{way}: {response.status_code} {data[:300]!r}")
    return time.perf_counter() - started


async def run(port: int, way: str, total: int, concurrency: int) -> list[float]:
    times: list[float] = []
    queue = iter(range(total))
    headers = {"A2A-Version": "1.0"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits, timeout=60
    ) as client:

        async def worker() -> None:
            for _ in queue:
                times.append(await one(client, way))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="kaos-bench-a2a-"))
    realistic_port, instant_port, port = shared.free_port(), shared.free_port(), shared.free_port()
    model_argv = [
        sys.executable,
        str(Path(shared.__file__)),
        "--serve-model",
        str(realistic_port),
        str(instant_port),
    ]
    env = shared.runtime_env(instant_port, port, "direct", 500)
    with (
        shared.spawn(
            model_argv,
            shared.base_env(),
            lambda: shared.port_open(instant_port),
            logs / "model.log",
            None,
        ),
        shared.spawn(
            [sys.executable, "-m", "kaos_runtime"],
            env,
            lambda: shared.http_ok(f"http://127.0.0.1:{port}/health"),
            logs / "agent.log",
            None,
        ) as proc,
    ):
        for way in WAYS:  # warm up
            asyncio.run(run(port, way, 50, 4))
        c1: dict[str, list[float]] = {way: [] for way in WAYS}
        cpu: dict[str, list[float]] = {way: [] for way in WAYS}
        for _ in range(2):  # alternating rounds
            for way in WAYS:
                c1[way] += asyncio.run(run(port, way, args.requests // 4, 1))
                before = shared.cpu_seconds(proc.pid)
                asyncio.run(run(port, way, args.requests, 16))
                cpu[way].append((shared.cpu_seconds(proc.pid) - before) / args.requests)
    print(f"runtime in front of an instant model ({args.requests} requests per figure)")
    print(f"  {'':<12}{'c1 p50 ms':>12}{'c1 p99 ms':>12}{'c16 CPU ms/request':>22}")
    for way in WAYS:
        ordered = sorted(c1[way])
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[int(0.99 * (len(ordered) - 1))] * 1000
        print(f"  {way:<12}{p50:>12.2f}{p99:>12.2f}{statistics.mean(cpu[way]) * 1000:>22.2f}")
    print(f"logs in {logs}")


if __name__ == "__main__":
    main()
