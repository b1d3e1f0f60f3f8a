"""Delegation to peer agents: one tool `delegate_to_<peer>` per peer.

The tool exists from start-up (a peer may start after us); its description comes from the
peer's A2A card once the card could be fetched (refreshed in the background until then).
A call sends the peer the last `contextLimit` messages of the conversation plus the task,
the session id, the delegation depth + 1 (a loop between agents stops at
`DELEGATION_MAX_DEPTH`) and the peer's share of the request's model-call budget
(`budget.py`); the calls the peer reports are charged to the request. It goes over A2A
(`message/send`, `a2a/client.py`) when the peer's card offers JSON-RPC, else to the peer's
OpenAI `/v1/chat/completions`. Any failure of the peer comes back to the model as a tool
error, never as a failure of this agent's request.

Peer connections are never reused, and what a peer answers is bounded (`peer_http.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
from kaos_contract import env as contract
from opentelemetry import propagate

from .a2a import client as a2a_client
from .budget import calls_reported
from .model_answers import content_text
from .peer_http import AnswerTooLarge, one_shot_client
from .tools import CallContext, Tool, ToolOutcome

log = logging.getLogger(__name__)

#: How much of a peer card's description, and of each skill's name, its delegation tool
#: shows: the tool goes to the model with every request, and a card is the peer's to write.
MAX_DESCRIPTION_CHARS = 2000
MAX_SKILL_CHARS = 100
CARD_PATHS = ("/.well-known/agent.json", "/.well-known/agent-card.json", "/.well-known/agent")
TASK_PARAMETERS = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "What the agent should do, with every detail it needs.",
        }
    },
    "required": ["task"],
}


class Peer:
    """One peer agent: where it is and what its card says."""

    def __init__(self, name: str, base_url: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.card: dict[str, Any] | None = None
        self.tool_name = contract.delegate_tool_name(name)
        #: The a2a-sdk client when the card offers A2A JSON-RPC (None: the OpenAI API).
        self.a2a: Any = None

    def description(self) -> str:
        if not self.card:
            return f"Delegate a task to the agent '{self.name}' and get its answer."
        text = f"Delegate a task to the agent '{self.name}'"
        about = self.card.get("description")
        about = _bounded(about.strip(), MAX_DESCRIPTION_CHARS) if isinstance(about, str) else ""
        text += f": {about}" if about else "."
        listed = self.card.get("skills")  # the peer's to write: a list, or anything
        skills = [
            _bounded(str(s.get("name") or s.get("id")), MAX_SKILL_CHARS)
            for s in (listed if isinstance(listed, list) else [])
            if isinstance(s, dict) and s.get("id") != "chat"
        ]
        if skills:
            text += f" Its skills: {', '.join(skills[:20])}."
        return text


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class Delegation:
    """The peers and the shared HTTP client used to reach them."""

    def __init__(
        self,
        peers: dict[str, str],
        *,
        context_limit: int,
        max_depth: int,
        timeout: float,
        refresh_seconds: float,
        on_result: Any = None,
    ) -> None:
        self.peers = {name: Peer(name, url) for name, url in peers.items()}
        self.context_limit = context_limit
        self.max_depth = max_depth
        self.refresh_seconds = refresh_seconds
        self.timeout = timeout
        self.client = one_shot_client(timeout)
        self.a2a_http = one_shot_client(timeout)  # a2a-sdk sets its version header on it
        self._on_result = on_result or (lambda peer, outcome: None)
        self._task: asyncio.Task[None] | None = None
        #: Cancellations sent to peers whose tasks a canceled request no longer needs.
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self, wait: float) -> None:
        if not self.peers:
            return
        self._task = asyncio.create_task(self._refresh_cards(), name="peer-cards")
        first = [self.fetch_card(p) for p in self.peers.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*first, return_exceptions=True), wait)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        await self.client.aclose()
        await self.a2a_http.aclose()

    async def fetch_card(self, peer: Peer) -> bool:
        for path in CARD_PATHS:
            try:
                response = await self.client.get(peer.base_url + path, timeout=5.0)
            except httpx.HTTPError:
                return False
            if response.status_code == 200:
                try:
                    card = response.json()
                except ValueError:
                    continue
                if isinstance(card, dict):
                    peer.card = card
                    peer.a2a = a2a_client.client_for(card, peer.base_url, self.a2a_http)
                    return True
        return False

    async def _refresh_cards(self) -> None:
        """Fetch missing cards until every peer answered once (peers start in any order)."""
        delay = 1.0
        while any(p.card is None for p in self.peers.values()):
            await asyncio.sleep(min(delay, self.refresh_seconds))
            delay = min(delay * 2, self.refresh_seconds)
            missing = [p for p in self.peers.values() if p.card is None]
            await asyncio.gather(*(self.fetch_card(p) for p in missing), return_exceptions=True)

    def tools(self, depth: int) -> list[Tool]:
        """Delegation tools for a request at `depth`; none once another hop would be refused."""
        if depth >= self.max_depth:
            return []
        return [self._tool(peer) for peer in self.peers.values()]

    def _tool(self, peer: Peer) -> Tool:
        async def call(arguments: dict[str, Any], ctx: CallContext) -> ToolOutcome:
            outcome = await self.delegate(peer, arguments, ctx)
            self._on_result(peer.name, outcome)
            return outcome

        return Tool(
            name=peer.tool_name,
            description=peer.description(),
            parameters=TASK_PARAMETERS,
            kind="delegation",
            source=peer.name,
            call=call,
        )

    async def delegate(
        self, peer: Peer, arguments: dict[str, Any], ctx: CallContext
    ) -> ToolOutcome:
        task = arguments.get("task")
        if not isinstance(task, str) or not task.strip():
            # Be lenient with small models: a single string argument under another name.
            strings = [v for v in arguments.values() if isinstance(v, str) and v.strip()]
            if len(strings) != 1:
                return ToolOutcome(False, "missing argument 'task' (a string describing the task)")
            task = strings[0]
        granted = ctx.model_calls
        if granted < 1:
            return ToolOutcome(
                False,
                f"not delegated to agent '{peer.name}': this request has used up its budget "
                "of model calls (MODEL_CALL_BUDGET); answer with what you have",
            )
        context = ctx.conversation[-self.context_limit :] if self.context_limit else []
        headers = {
            contract.DELEGATION_DEPTH_HEADER: str(ctx.depth + 1),
            contract.MODEL_CALL_BUDGET_HEADER: str(granted),
            contract.SESSION_HEADER: ctx.session_id,
        }
        propagate.inject(headers)  # W3C traceparent: the peer's spans join this trace
        if peer.a2a is not None:
            return await a2a_client.send(
                peer.a2a,
                peer.name,
                task,
                session_id=ctx.session_id,
                conversation=context,
                depth=ctx.depth + 1,
                granted=granted,
                headers=headers,
                timeout=self.timeout,
                background=self._background,
            )
        body = {
            "model": peer.name,
            "messages": [*context, {"role": "user", "content": task}],
            "stream": False,
        }
        url = peer.base_url + "/v1/chat/completions"
        try:
            response = await self.client.post(url, json=body, headers=headers)
        except httpx.TimeoutException:  # the peer may still be spending its share
            return ToolOutcome(
                False, f"agent '{peer.name}' did not answer in time", model_calls=granted
            )
        except AnswerTooLarge as exc:
            return ToolOutcome(False, f"agent '{peer.name}' sent an {exc}", model_calls=granted)
        except httpx.HTTPError as exc:
            spent = 0 if isinstance(exc, httpx.ConnectError) else granted
            return ToolOutcome(
                False,
                f"agent '{peer.name}' is unreachable: {exc or type(exc).__name__}",
                model_calls=spent,
            )
        spent = calls_reported(response.headers.get(contract.MODEL_CALLS_HEADER), granted)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            detail = response.text[:500]
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                detail = str(data["error"].get("message") or detail)
            return ToolOutcome(
                False,
                f"agent '{peer.name}' failed ({response.status_code}): {detail}",
                model_calls=spent,
            )
        try:
            content = data["choices"][0]["message"].get("content")
        except (TypeError, KeyError, IndexError, AttributeError):
            return ToolOutcome(
                False, f"agent '{peer.name}' sent an unexpected answer", model_calls=spent
            )
        text = content_text(content)  # a tool result must be text
        if text is None:
            return ToolOutcome(
                False,
                f"agent '{peer.name}' sent an unexpected answer: its content is "
                f"{type(content).__name__}, not text",
                model_calls=spent,
            )
        return ToolOutcome(True, text, model_calls=spent)
