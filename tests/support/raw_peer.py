"""A peer agent written byte by byte on a loopback socket: the fault injector's peer.

`RawPeer(a2a=...)` answers delegations either on the OpenAI API (`POST /v1/chat/completions`,
no card: the agent delegating falls back to it) or over A2A (`GET` of its card offers
JSON-RPC 1.0, `POST /` answers `SendMessage` with a completed task). The answer is the
task text, so a test can tell whose answer a caller got, unless the task is
`fault:<name> <words>`: then the fault `<name>` is played with `<words>` as the answer.

Faults: `two-in-one` (a second response in the same packet as the answer), `stray-after`
(a second response 50 ms after the answer, on the same connection), `garbage-after`
(bytes that are not HTTP after the answer), `hang` (never answers), `close-mid` (closes
half-way through the body), `huge` (a valid answer of over 32 MiB), `endless` (a body
that never ends), `content-json` (OpenAI API only: the message's `content` is
`<words>` read as JSON, e.g. a number). `RawPeer(card=...)` serves that card instead
(whatever it holds). `RawPeer(a2a=True, streaming=True)` offers streaming, and answers
`SendStreamingMessage` with an event stream (faults: see `_stream_fault`). Every connection is counted, so a test can see reuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from support.loopback import LoopbackServer, read_request

STRAY = "STRAY answer meant for nobody"
#: The text of the `huge` fault's answer: just over the 32 MiB a peer's answer may take.
HUGE = 32 * 1024 * 1024 + 1


def _response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class RawPeer(LoopbackServer):
    thread_name = "raw-peer"

    def __init__(self, a2a: bool, card: Any = None, streaming: bool = False) -> None:
        super().__init__()
        self.a2a = a2a
        self.card_body = card
        self.streaming = streaming
        self.connections = 0
        #: The connections (by number) that carried a delegation (POST); card fetches
        #: (GET, retried in the background while a peer has no card) are not counted.
        self.post_connections: set[int] = set()
        self.requests: list[tuple[str, Any]] = []

    # -- answers --------------------------------------------------------------------------
    def card(self) -> bytes:
        if self.card_body is not None:
            return _response(200, json.dumps(self.card_body).encode())
        card = {
            "name": "raw",
            "description": "A raw peer.",
            "version": "1",
            "supportedInterfaces": [
                {"url": self.url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
            ],
            "capabilities": {"streaming": self.streaming},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [],
        }
        return _response(200, json.dumps(card).encode())

    def answer(self, body: Any, text: Any) -> bytes:
        if not self.a2a:
            message = {"role": "assistant", "content": text}
            data = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "raw",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
            return _response(200, json.dumps(data).encode())
        task = {
            "id": "task-raw",
            "contextId": "ctx",
            "status": {"state": "TASK_STATE_COMPLETED"},
            "artifacts": [{"artifactId": "a", "name": "answer", "parts": [{"text": text}]}],
        }
        data = {"jsonrpc": "2.0", "id": body.get("id"), "result": {"task": task}}
        return _response(200, json.dumps(data).encode())

    # -- streamed answers (A2A `SendStreamingMessage`) -------------------------------------
    @staticmethod
    def stream_head() -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )

    @staticmethod
    def events(body: Any, text: str, complete: bool) -> bytes:
        """The task (working), the first half of `text` as an artifact chunk, and, when
        `complete`, the second half and the task completed."""

        def event(result: dict[str, Any]) -> bytes:
            data = {"jsonrpc": "2.0", "id": body.get("id"), "result": result}
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        def piece(part: str, append: bool, last: bool) -> bytes:
            artifact = {"artifactId": "a", "name": "answer", "parts": [{"text": part}]}
            update = {"taskId": "task-raw", "contextId": "ctx", "artifact": artifact}
            return event({"artifactUpdate": {**update, "append": append, "lastChunk": last}})

        task = {"id": "task-raw", "contextId": "ctx", "status": {"state": "TASK_STATE_WORKING"}}
        half = len(text) // 2
        out = event({"task": task}) + piece(text[:half], False, False)
        if complete:
            status = {"state": "TASK_STATE_COMPLETED"}
            out += piece(text[half:], True, True)
            out += event(
                {"statusUpdate": {"taskId": "task-raw", "contextId": "ctx", "status": status}}
            )
        return out

    async def _stream_fault(self, name: str, words: str, writer, reader, body: Any) -> bool:
        """A stream that breaks after the first half of its answer: `stream-cut` (the
        connection closes), `stream-ends` (the body ends cleanly, the task still working),
        `stream-hang` (nothing more, the connection open)."""
        writer.write(self.stream_head() + _chunk(self.events(body, words, False)))
        await writer.drain()
        if name == "stream-ends":
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if name == "stream-hang":
            with contextlib.suppress(Exception):
                await reader.read()
            return False
        if name == "stream-cut":
            return False
        raise ValueError(f"unknown fault {name}")

    @staticmethod
    def canceled(body: Any) -> bytes:
        task = {"id": body["params"]["id"], "status": {"state": "TASK_STATE_CANCELED"}}
        data = {"jsonrpc": "2.0", "id": body.get("id"), "result": task}
        return _response(200, json.dumps(data).encode())

    def task_text(self, body: Any) -> str:
        if self.a2a:
            return body["params"]["message"]["parts"][0]["text"]
        return body["messages"][-1]["content"]

    # -- the server -----------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                line, _, raw = await read_request(reader)
                method, path, _ = line.split(" ", 2)
                if method == "GET":
                    found = (self.a2a or self.card_body is not None) and path.startswith(
                        "/.well-known/"
                    )
                    writer.write(self.card() if found else _response(404, b""))
                    await writer.drain()
                    continue
                self.post_connections.add(number)
                body = json.loads(raw)
                self.requests.append((path, body))
                if body.get("method") == "CancelTask":
                    writer.write(self.canceled(body))
                    await writer.drain()
                    continue
                text = self.task_text(body)
                if not text.startswith("fault:") and body.get("method") == "SendStreamingMessage":
                    writer.write(self.stream_head() + _chunk(self.events(body, text, True)))
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    continue
                if not text.startswith("fault:"):
                    writer.write(self.answer(body, text))
                    await writer.drain()
                    continue
                name, _, words = text.removeprefix("fault:").partition(" ")
                if body.get("method") == "SendStreamingMessage":
                    if not await self._stream_fault(name, words, writer, reader, body):
                        return
                elif not await self._fault(name, words, writer, reader, body):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return
        finally:
            writer.close()

    async def _fault(self, name: str, words: str, writer, reader, body: Any) -> bool:
        answer = self.answer(body, words)
        stray = self.answer(body, STRAY)
        if name == "two-in-one":
            writer.write(answer + stray)
        elif name == "stray-after":
            writer.write(answer)
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(stray)
        elif name == "garbage-after":
            writer.write(answer + b"garbage that is not HTTP\r\n\r\n")
        elif name == "hang":
            with contextlib.suppress(Exception):
                await reader.read()
            return False
        elif name == "huge":  # a valid answer, a little over what a peer may send
            writer.write(self.answer(body, "x" * HUGE))
        elif name == "endless":  # a body that never ends (until the client goes away)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            piece = b" " * (1 << 20)
            while True:  # 100 MB/s at most: the test machine is shared
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.01)
        elif name == "content-json" and not self.a2a:
            writer.write(self.answer(body, json.loads(words)))
        elif name == "close-mid":
            writer.write(answer[: len(answer) - 20])
            await writer.drain()
            return False
        else:
            raise ValueError(f"unknown fault {name}")
        await writer.drain()
        return True
