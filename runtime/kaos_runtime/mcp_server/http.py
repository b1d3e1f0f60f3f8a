"""The HTTP layer around the MCP endpoint: DNS-rebinding protection and `GET /mcp`.

DNS rebinding: a web page on an attacker's domain, whose DNS then points at a server the
victim's browser can reach (`kubectl port-forward` on a laptop, an address on the pod
network), would otherwise drive the tools from the browser. fastmcp's Host/Origin guard
(`HostOriginGuardMiddleware`, strict mode) answers 421 to a Host that is not this server
and 403 to a browser Origin that is neither this server nor allowed. This server is:
loopback, the address the request came in on (the pod's IP: kubelet probes), the
Service's DNS names and `MCP_ALLOWED_HOSTS` (`config.py`). Refusals are logged, each
distinct Host/Origin once.

`GET /mcp` of a stateless server: the MCP streamable-HTTP transport lets a client open a
standalone SSE stream with a GET, and a server that offers none must answer 405. A
stateless server offers none (there is no session to attach server messages to), so a GET
that asks for the stream (`Accept` lists `text/event-stream`, as the spec requires) gets
405; a GET that does not ask for it (a probe, curl, a browser) gets 406, as the official
SDK answers such a GET and as KAOS's readiness helper expects. A stateful server's GET is
the SDK's: a stream for a session, 400 without one, 406 without `text/event-stream`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from fastmcp.server.http import HostOriginGuardMiddleware
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("kaos_runtime.mcp_server")

_PASSED = "kaos.passed_host_guard"
#: Distinct refused Host/Origin pairs logged; past that, one line says logging stopped.
MAX_LOGGED_REFUSALS = 64


class RefusalLog:
    """Logs requests the Host/Origin guard inside it refused (it answers them itself)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed_hosts = ", ".join(allowed_hosts)
        self._seen: set[tuple[str, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if not scope.get(_PASSED) and status in (403, 421):
            self._log(scope, status)

    def _log(self, scope: Scope, status: int) -> None:
        headers = Headers(scope=scope)
        host, origin = headers.get("host", ""), headers.get("origin", "")
        key = (host, origin)
        if key in self._seen or len(self._seen) > MAX_LOGGED_REFUSALS:
            return
        self._seen.add(key)
        if len(self._seen) > MAX_LOGGED_REFUSALS:
            log.warning("more refused Host/Origin values: not logged any more")
            return
        if status == 421:
            log.warning(
                "refused %s %s: Host %r is not this server (allowed: loopback, the pod's "
                "address, %s); add the name to MCP_ALLOWED_HOSTS if clients use it",
                scope["method"],
                scope["path"],
                host,
                self.allowed_hosts or "no other name",
            )
        else:
            log.warning(
                "refused %s %s: Origin %r is not this server; add it to MCP_ALLOWED_ORIGINS "
                "if a web page there may call the tools",
                scope["method"],
                scope["path"],
                origin,
            )


class _MarkPassed:
    """Placed inside the guard: a request that reaches it was allowed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_PASSED] = True
        await self.app(scope, receive, send)


def _jsonrpc_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def lists_event_stream(accept: str) -> bool:
    """Whether an Accept header names `text/event-stream` itself (wildcards do not)."""
    return any(
        part.split(";")[0].strip().lower() == "text/event-stream" for part in accept.split(",")
    )


class StatelessGet:
    """`GET /mcp` (and HEAD) of a stateless server: 405 to a client asking for the stream,
    406 to anything else (see the module docstring)."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or scope["path"].rstrip("/") != self.path
        ):
            await self.app(scope, receive, send)
            return
        if lists_event_stream(Headers(scope=scope).get("accept", "")):
            response = _jsonrpc_error(
                405,
                "Method Not Allowed: this server is stateless and offers no standalone SSE "
                "stream; send requests with POST",
                headers={"Allow": "POST, DELETE"},
            )
        else:
            response = _jsonrpc_error(
                406, "Not Acceptable: a GET of the MCP endpoint must accept text/event-stream"
            )
        await response(scope, receive, send)


def http_middleware(
    *, path: str, stateless: bool, allowed_hosts: Sequence[str], allowed_origins: Sequence[str]
) -> list[Middleware]:
    """The middleware around the MCP app, outermost first."""
    middleware = [
        Middleware(RefusalLog, allowed_hosts=allowed_hosts),
        Middleware(
            HostOriginGuardMiddleware,
            allowed_hosts=list(allowed_hosts),
            allowed_origins=list(allowed_origins) or None,
            mode="strict",
        ),
        Middleware(_MarkPassed),
    ]
    if stateless:
        middleware.append(Middleware(StatelessGet, path=path))
    return middleware
