"""A model API written byte by byte on a loopback socket: the fault injector's upstream.

`RawUpstream` serves `POST /v1/chat/completions` from an asyncio server in a thread of its
own. Nothing between the test and the socket interprets HTTP, so it can send what real
servers, proxies and sidecars sometimes send: 1xx responses, a second response on the same
connection, bytes that are not HTTP, a body that stops, nothing at all.

What it answers depends on the last message of the request:

* `fault:<name>` plays the fault `<name>` (`FAULTS`), for a streaming request or not
  (`fault:<name> <words>`: the fault's answer, if it has one, carries `<words>`);
* a `tool` message (the agent sending a tool result back) is answered `tool result seen`;
* anything else is echoed: the answer's content is the message itself, so a test can tell
  whose answer a caller got.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from support.loopback import LoopbackServer, read_request

__all__ = [
    "FAULTS",
    "MANY_TOOL_CALLS",
    "RawUpstream",
    "Request",
    "completion",
    "response",
    "sse",
]


@dataclass
class Request:
    line: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def last(self) -> dict[str, Any]:
        return (self.body.get("messages") or [{}])[-1]

    @property
    def words(self) -> str:
        """What follows the fault's name in `fault:<name> <words>`."""
        content = self.last.get("content")
        return content.partition(" ")[2] if isinstance(content, str) else ""


# --- bytes on the wire -------------------------------------------------------------------


def response(
    status: int = 200,
    body: bytes = b"",
    content_type: str = "application/json",
    headers: tuple[tuple[str, str], ...] = (),
    reason: str = "OK",
) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    head += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def chunked_head(content_type: str = "text/event-stream", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{extra}"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"


def completion(content: Any = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "created": 0,
        "model": "raw",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body.update(extra)
    return body


def event(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


def delta_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "raw",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse(texts: list[str], usage: dict[str, Any] | None = None, done: bool = True) -> bytes:
    """A whole, well-formed event stream of `texts`."""
    out = event(delta_chunk({"role": "assistant", "content": ""}))
    for text in texts:
        out += event(delta_chunk({"content": text}))
    out += event(delta_chunk({}, "stop"))
    out += event(
        {
            "id": "chatcmpl-raw",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": usage or {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    return out + (b"data: [DONE]\n\n" if done else b"")


def answer(req: Request, content: str) -> bytes:
    """A correct answer carrying `content`, in the shape the request asked for."""
    if req.stream:
        return response(
            body=sse([content[: len(content) // 2], content[len(content) // 2 :]]),
            content_type="text/event-stream",
        )
    return response(body=json.dumps(completion(content)).encode())


# --- the server --------------------------------------------------------------------------

Play = Callable[["Connection", Request], Awaitable[bool]]
"""Writes the answer to `req`; returns whether the connection stays open for another."""


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    upstream: RawUpstream
    #: Requests read on this connection so far (1 for the first).
    requests: int = 0

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0), as a crashed process's kernel would."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def hold(self) -> bool:
        """Keep the connection open, saying nothing, until the client gives up."""
        with contextlib.suppress(Exception):
            await self.reader.read()  # returns at EOF: the client closed
        return False


async def _read_request(reader: asyncio.StreamReader) -> Request:
    line, headers, raw = await read_request(reader)
    return Request(line, headers, json.loads(raw) if raw else {})


@dataclass
class RawUpstream(LoopbackServer):
    faults: dict[str, Play] = field(default_factory=dict)
    thread_name = "raw-upstream"

    def __post_init__(self) -> None:
        LoopbackServer.__init__(self)
        self.faults = {**FAULTS, **self.faults}
        self.requests: list[Request] = []
        self.connections = 0
        #: Set by plays that send something after their answer (a stray response).
        self.after_answer = threading.Event()
        self._open: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open.add(writer)
        conn = Connection(reader, writer, self)
        try:
            while True:
                try:
                    req = await _read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    return
                self.requests.append(req)
                conn.requests += 1
                if not await self._play(conn, req):
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._open.discard(writer)
            writer.close()

    async def _play(self, conn: Connection, req: Request) -> bool:
        last = req.last
        content = last.get("content") if isinstance(last.get("content"), str) else ""
        if last.get("role") == "tool":
            await conn.send(answer(req, "tool result seen"))
            return True
        if content.startswith("fault:"):
            name = content.removeprefix("fault:").partition(" ")[0]
            return await self.faults[name](conn, req)
        await conn.send(answer(req, content))
        return True

    async def _close_open(self) -> None:
        for writer in list(self._open):
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the faults --------------------------------------------------------------------------


def _stray(req: Request) -> bytes:
    """A complete response nobody asked for, carrying an answer meant for nobody."""
    return answer(req, "STRAY answer meant for nobody")


async def informational_first(conn: Connection, req: Request) -> bool:
    await conn.send(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    )
    await conn.send(answer(req, "the answer after 1xx"))
    return True


async def stray_after(conn: Connection, req: Request) -> bool:
    """The answer, then an unsolicited response on the same (kept-alive) connection."""
    await conn.send(answer(req, req.words or "the answer before a stray"))
    await asyncio.sleep(0.05)
    await conn.send(_stray(req))
    conn.upstream.after_answer.set()
    return True


async def two_in_one(conn: Connection, req: Request) -> bool:
    await conn.send(answer(req, req.words or "the first of two answers") + _stray(req))
    conn.upstream.after_answer.set()
    return True


async def redirect(conn: Connection, req: Request) -> bool:
    location = "http://127.0.0.1:9/v1/chat/completions"
    await conn.send(response(302, b"", "", (("Location", location),), "Found"))
    return True


async def empty_body(conn: Connection, req: Request) -> bool:
    ctype = "text/event-stream" if req.stream else "application/json"
    await conn.send(response(200, b"", ctype))
    return True


async def head_like(conn: Connection, req: Request) -> bool:
    """Headers announcing a body that never comes (a HEAD answer), then the connection ends."""
    await conn.send(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 345\r\n\r\n"
    )
    return False


async def gzip_body(conn: Connection, req: Request) -> bool:
    if req.stream:
        body = gzip.compress(sse(["gzip ", "decoded"]))
        await conn.send(chunked_head(extra="Content-Encoding: gzip\r\n"))
        half = len(body) // 2
        await conn.send(chunk(body[:half]))
        await conn.send(chunk(body[half:]) + LAST_CHUNK)
    else:
        body = gzip.compress(json.dumps(completion("gzip decoded")).encode())
        await conn.send(response(body=body, headers=(("Content-Encoding", "gzip"),)))
    return True


async def json_for_stream(conn: Connection, req: Request) -> bool:
    await conn.send(response(body=json.dumps(completion("a whole answer, not streamed")).encode()))
    return True


async def html(conn: Connection, req: Request) -> bool:
    page = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
    await conn.send(response(200, page, "text/html"))
    return True


async def error_page(conn: Connection, req: Request) -> bool:
    page = b"<html><body>\n<h1>500 Internal Server Error</h1>\n</body></html>"
    await conn.send(response(500, page, "text/html", reason="Internal Server Error"))
    return True


async def garbage_status(conn: Connection, req: Request) -> bool:
    await conn.send(b"SPAM/9 what is this\r\nnot: http\r\n\r\n\x00\x01\x02")
    return False


async def garbage_body(conn: Connection, req: Request) -> bool:
    ctype = "text/event-stream" if req.stream else "application/json"
    await conn.send(response(200, b"\x00\xff\xfe garbage \x80 \n\n\x01 nothing useful", ctype))
    return True


def _odd(req: Request, body: dict[str, Any], chunk_: dict[str, Any]) -> bytes:
    if req.stream:
        return response(
            body=event(delta_chunk({"role": "assistant"})) + event(chunk_) + b"data: [DONE]\n\n",
            content_type="text/event-stream",
        )
    return response(body=json.dumps(body).encode())


async def choices_int(conn: Connection, req: Request) -> bool:
    await conn.send(_odd(req, {"choices": [1]}, {"choices": [1]}))
    return True


async def message_string(conn: Connection, req: Request) -> bool:
    odd_chunk = {"choices": [{"index": 0, "delta": "hello", "finish_reason": None}]}
    await conn.send(_odd(req, {"choices": [{"index": 0, "message": "hello"}]}, odd_chunk))
    return True


async def odd_usage(conn: Connection, req: Request) -> bool:
    usage = {"prompt_tokens": "7", "completion_tokens": 2.0, "total_tokens": "many"}
    if req.stream:
        await conn.send(
            response(body=sse(["usage ", "is odd"], usage), content_type="text/event-stream")
        )
    else:
        await conn.send(response(body=json.dumps(completion("usage is odd", usage=usage)).encode()))
    return True


async def arguments_object(conn: Connection, req: Request) -> bool:
    call = {
        "id": "call_obj",
        "type": "function",
        "function": {"name": "lookup", "arguments": {"q": "x"}},
    }
    if req.stream:
        body = (
            event(delta_chunk({"role": "assistant", "tool_calls": [{"index": 0, **call}]}))
            + event(delta_chunk({}, "tool_calls"))
            + b"data: [DONE]\n\n"
        )
        await conn.send(response(body=body, content_type="text/event-stream"))
    else:
        body_ = completion(None)
        body_["choices"][0]["message"]["tool_calls"] = [call]
        body_["choices"][0]["finish_reason"] = "tool_calls"
        await conn.send(response(body=json.dumps(body_).encode()))
    return True


async def _tool_call_raw(conn: Connection, req: Request, arguments: bytes) -> None:
    """A call of `lookup` whose `arguments` are the raw JSON bytes given."""
    call = b'{"id": "call_raw", "type": "function", "function": {"name": "lookup", "arguments": '
    call += arguments + b"}}"
    if req.stream:
        body = (
            event(delta_chunk({"role": "assistant"}))
            + b'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, '
            + call[1:]
            + b"]}}]}\n\n"
            + event(delta_chunk({}, "tool_calls"))
            + b"data: [DONE]\n\n"
        )
        await conn.send(response(body=body, content_type="text/event-stream"))
    else:
        body = (
            b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": null, '
            b'"tool_calls": [' + call + b']}, "finish_reason": "tool_calls"}]}'
        )
        await conn.send(response(body=body))


async def arguments_nan(conn: Connection, req: Request) -> bool:
    """Tool-call arguments (a JSON string, as usual) that hold `NaN`, as Python writes it."""
    await _tool_call_raw(conn, req, json.dumps('{"q": NaN}').encode())
    return True


async def arguments_overflow(conn: Connection, req: Request) -> bool:
    """Tool-call arguments sent as an object holding a number no float can hold."""
    await _tool_call_raw(conn, req, b'{"q": 1e999}')
    return True


#: How many tool calls the `many-tool-calls` fault asks for in one answer.
MANY_TOOL_CALLS = 1000


async def many_tool_calls(conn: Connection, req: Request) -> bool:
    """One answer asking for a thousand tool calls (it could be 400,000 in 32 MiB)."""
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        for i in range(MANY_TOOL_CALLS)
    ]
    if req.stream:
        indexed = [{"index": i, **call} for i, call in enumerate(calls)]
        body = (
            event(delta_chunk({"role": "assistant", "tool_calls": indexed}))
            + event(delta_chunk({}, "tool_calls"))
            + b"data: [DONE]\n\n"
        )
        await conn.send(response(body=body, content_type="text/event-stream"))
    else:
        body_ = completion(None)
        body_["choices"][0]["message"]["tool_calls"] = calls
        body_["choices"][0]["finish_reason"] = "tool_calls"
        await conn.send(response(body=json.dumps(body_).encode()))
    return True


async def lone_surrogate(conn: Connection, req: Request) -> bool:
    """Content holding `\\ud800`, a lone UTF-16 surrogate: valid JSON, not encodable text
    (Python's json.dumps writes one for a str that holds it)."""
    text = "lone \ud800 surrogate"
    if req.stream:
        await conn.send(response(body=sse([text[:7], text[7:]]), content_type="text/event-stream"))
    else:
        await conn.send(response(body=json.dumps(completion(text)).encode()))
    return True


async def blank_lines_first(conn: Connection, req: Request) -> bool:
    """The answer after 256 blank lines (a server's heartbeats while its model loads)."""
    words = ["blank ", "lines ", "first"]
    body = sse(words) if req.stream else json.dumps(completion("".join(words))).encode()
    content_type = "text/event-stream" if req.stream else "application/json"
    await conn.send(response(body=b"\n" * 256 + body, content_type=content_type))
    return True


async def nan_values(conn: Connection, req: Request) -> bool:
    """`NaN`/`Infinity` (not JSON, but Python writes them) in usage, logprobs and extras."""
    usage = '{"prompt_tokens": NaN, "completion_tokens": Infinity, "total_tokens": -Infinity}'
    if req.stream:
        text = (
            event(delta_chunk({"role": "assistant", "content": "NaN "}))
            + b'data: {"choices": [{"index": 0, "delta": {"content": "survived"}, '
            b'"logprobs": {"x": NaN}, "finish_reason": "stop"}], "score": Infinity}\n\n'
            + b'data: {"choices": [], "usage": '
            + usage.encode()
            + b"}\n\n"
            + b"data: [DONE]\n\n"
        )
        await conn.send(response(body=text, content_type="text/event-stream"))
    else:
        text = (
            b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": '
            b'"NaN survived"}, "logprobs": {"x": NaN}, "finish_reason": "stop"}], '
            b'"score": Infinity, "usage": ' + usage.encode() + b"}"
        )
        await conn.send(response(body=text))
    return True


async def hang(conn: Connection, req: Request) -> bool:
    return await conn.hold()


async def trickle(conn: Connection, req: Request) -> bool:
    """Headers, then a byte now and then: never an answer (nor anything to stream)."""
    if req.stream:
        await conn.send(chunked_head())
        while True:
            await conn.send(chunk(b": still thinking\n\n"))
            await asyncio.sleep(0.2)
    await conn.send(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    while True:
        await conn.send(b" ")
        await asyncio.sleep(0.2)


async def trickle_tokens(conn: Connection, req: Request) -> bool:
    """A token now and then, forever (streamed), or a body that never ends."""
    if not req.stream:
        return await trickle(conn, req)
    await conn.send(
        chunked_head() + chunk(event(delta_chunk({"role": "assistant", "content": ""})))
    )
    while True:
        await conn.send(chunk(event(delta_chunk({"content": "slow "}))))
        await asyncio.sleep(0.2)


async def reset(conn: Connection, req: Request) -> bool:
    conn.reset()
    return False


async def close(conn: Connection, req: Request) -> bool:
    return False


async def close_reused(conn: Connection, req: Request) -> bool:
    """Answer on a new connection; on a kept-alive one, close it unanswered (as a server
    does whose keep-alive timeout ended just as the request arrived)."""
    if conn.requests > 1:
        return False
    await conn.send(answer(req, req.words or "answered on a new connection"))
    return True


async def slow_end(conn: Connection, req: Request) -> bool:
    """A chunked stream whose last chunk comes a little after `data: [DONE]`."""
    body = sse([req.words]) if req.stream else json.dumps(completion(req.words)).encode()
    await conn.send(chunked_head("text/event-stream" if req.stream else "application/json"))
    await conn.send(chunk(body))
    await asyncio.sleep(0.05)
    await conn.send(LAST_CHUNK)
    return True


async def cut_off(conn: Connection, req: Request) -> bool:
    """Part of an answer, then the body ends cleanly as if it were complete."""
    if req.stream:
        await conn.send(chunked_head())
        await conn.send(chunk(event(delta_chunk({"role": "assistant", "content": "half an "}))))
        await conn.send(chunk(event(delta_chunk({"content": "answer"}))) + LAST_CHUNK)
        return True
    body = json.dumps(completion("an answer cut in the middle")).encode()
    await conn.send(response(body=body)[: -len(body) // 2])
    return False


FAULTS: dict[str, Play] = {
    "1xx": informational_first,
    "stray-after": stray_after,
    "two-in-one": two_in_one,
    "redirect": redirect,
    "empty": empty_body,
    "head-like": head_like,
    "gzip": gzip_body,
    "json-for-stream": json_for_stream,
    "html": html,
    "error-page": error_page,
    "garbage-status": garbage_status,
    "garbage-body": garbage_body,
    "choices-int": choices_int,
    "message-string": message_string,
    "odd-usage": odd_usage,
    "arguments-object": arguments_object,
    "arguments-nan": arguments_nan,
    "arguments-overflow": arguments_overflow,
    "many-tool-calls": many_tool_calls,
    "lone-surrogate": lone_surrogate,
    "blank-lines-first": blank_lines_first,
    "nan": nan_values,
    "hang": hang,
    "trickle": trickle,
    "trickle-tokens": trickle_tokens,
    "reset": reset,
    "close": close,
    "cut-off": cut_off,
    "close-reused": close_reused,
    "slow-end": slow_end,
}
