"""An MCP server written byte by byte on a loopback socket: the fault injector's tool server.

`RawMcp` speaks just enough of MCP's streamable HTTP (`POST /mcp`, one JSON-RPC message per
request, answered with a JSON body; `GET` is 405, notifications 202) for a client to
initialize, list the tools and call them, with no SDK on the server side: what it answers
is whatever the test scripted, valid MCP or not.

Tools: `echo(text)`. A call answers `text` as a text block, unless `text` is
`fault:<name>`: then the JSON-RPC `result` is `results[<name>]` exactly as given, or, when
that is `ENDLESS`, a JSON body that never ends (until the client goes away), or, when it
is bytes, the whole body.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from support.loopback import LoopbackServer, read_request

#: A result that is a body without end (blanks, 1 MiB every 10 ms).
ENDLESS = object()

ECHO = {
    "name": "echo",
    "description": "Echo the text back.",
    "inputSchema": {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
}


def _response(status: str, body: bytes = b"", content_type: str = "application/json") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + body


class RawMcp(LoopbackServer):
    thread_name = "raw-mcp"

    def __init__(self, results: dict[str, Any], tools: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.results = results
        #: What `tools/list` answers (`echo`, unless given).
        self.tools = tools or [ECHO]
        #: JSON-RPC methods received, in order.
        self.methods: list[str] = []

    def _result(self, message: dict[str, Any]) -> Any:
        method = message["method"]
        if method == "initialize":
            return {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "raw", "version": "1"},
            }
        if method == "tools/list":
            return {"tools": self.tools}
        if method == "tools/call":
            text = str((message["params"].get("arguments") or {}).get("text", ""))
            if text.startswith("fault:"):
                return self.results[text.removeprefix("fault:")]
            return {"content": [{"type": "text", "text": text}], "isError": False}
        return {}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line, _, raw = await read_request(reader)
                if not line.startswith("POST "):
                    writer.write(_response("405 Method Not Allowed"))
                elif "id" not in (message := json.loads(raw)):
                    writer.write(_response("202 Accepted"))  # a notification
                elif self._result(message) is ENDLESS:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                    )
                    piece = b" " * (1 << 20)
                    while True:  # 100 MB/s at most: the test machine is shared
                        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        await writer.drain()
                        await asyncio.sleep(0.01)
                elif isinstance(body := self._result(message), bytes):
                    self.methods.append(message["method"])
                    writer.write(_response("200 OK", body))  # not JSON-RPC, maybe not JSON
                else:
                    self.methods.append(message["method"])
                    answer = {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "result": self._result(message),
                    }
                    writer.write(_response("200 OK", json.dumps(answer).encode()))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return
        finally:
            writer.close()
