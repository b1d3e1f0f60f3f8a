"""`/ready`: whether the pod should receive traffic.

Without WAIT_FOR_DEPENDENCIES the agent is ready as soon as it serves (a dependency that is
down only makes its tools unavailable). With it (the compiler's rendering of
`spec.waitForDependencies`), `/ready` answers 503 until the ModelAPI answers HTTP, every
MCP server's tools were discovered once and (with MEMORY_TYPE=redis) Redis answers a ping; then it latches ready, so a later outage of a
dependency does not take the agent out of its Service (it keeps answering, degraded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .mcp_clients import McpManager

log = logging.getLogger(__name__)


class Readiness:
    def __init__(
        self,
        *,
        wait: bool,
        model_api_url: str,
        mcp: McpManager,
        memory_ping: Callable[[], Awaitable[None]] | None = None,
        interval: float = 1.0,
    ):
        self.wait = wait
        self.model_api_url = model_api_url.rstrip("/")
        self.mcp = mcp
        self.memory_ping = memory_ping
        self.interval = interval
        self.model_ok = False
        self.memory_ok = memory_ping is None
        self.ready = not wait
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.wait:
            self._task = asyncio.create_task(self._watch(), name="readiness")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check_model(self, client: httpx.AsyncClient) -> bool:
        """Any HTTP answer below 500 means the ModelAPI is up (it may want a key for /models)."""
        base = self.model_api_url
        url = (base if base.endswith("/v1") else base + "/v1") + "/models"
        try:
            response = await client.get(url, timeout=3.0)
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    async def _watch(self) -> None:
        async with httpx.AsyncClient() as client:
            while not self.ready:
                if not self.model_ok:
                    self.model_ok = await self.check_model(client)
                if not self.memory_ok:
                    self.memory_ok = await self.check_memory()
                if self.model_ok and self.memory_ok and self.mcp.all_up():
                    self.ready = True
                    log.info("dependencies answer: ready")
                    return
                await asyncio.sleep(self.interval)

    async def check_memory(self) -> bool:
        assert self.memory_ping is not None
        try:
            await self.memory_ping()
        except Exception:
            return False
        return True

    def pending(self) -> list[str]:
        pending = [] if self.model_ok else ["model-api"]
        pending += [] if self.memory_ok else ["memory"]
        pending += [f"mcp:{name}" for name, c in self.mcp.connections.items() if not c.up]
        return pending

    def status(self) -> tuple[int, dict[str, Any]]:
        if self.ready:
            return 200, {"status": "ready"}
        return 503, {"status": "waiting", "waiting_for": self.pending()}
