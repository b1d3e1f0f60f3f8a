"""The HTTP client peer agents are reached with (OpenAI API and A2A alike).

* No connection is reused: a pooled keep-alive connection on which a peer sent more than
  its answer (a second response in the same packet, stray bytes while idle) would hand
  those bytes to the next request, another user's, as its answer (httpx/h11 read them as
  the next response); a connection per call costs a TCP handshake next to a model call.
* What a peer sends is bounded (`MAX_PEER_ANSWER_BYTES`): httpx and a2a-sdk read a body
  whole, and a peer that sends without end (or a body of gigabytes) would otherwise grow
  the agent's memory until the call's timeout, or the pod's memory limit, ends it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from .model_answers import MAX_ANSWER_BYTES, bounded_pieces

#: The most one answer of a peer (a card, a completion, an A2A result or event stream) may
#: take: a peer's answer is a model's answer, bounded like one.
MAX_PEER_ANSWER_BYTES = MAX_ANSWER_BYTES


class AnswerTooLarge(httpx.TransportError):
    """A peer's answer went over its limit; the rest was not read."""


class _BoundedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, request: httpx.Request) -> None:
        self.inner = inner
        self.limit = limit
        self.request = request

    def __aiter__(self) -> AsyncIterator[bytes]:
        message = f"answer over {self.limit} bytes, not read further"
        return bounded_pieces(
            self.inner, self.limit, lambda: AnswerTooLarge(message, request=self.request)
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _bound(response: httpx.Response) -> None:
    """A response hook: runs before the body is read, on every request of the client
    (whichever transport or proxy it goes through)."""
    assert isinstance(response.stream, httpx.AsyncByteStream)
    response.stream = _BoundedStream(response.stream, MAX_PEER_ANSWER_BYTES, response.request)


def one_shot_client(timeout: float) -> httpx.AsyncClient:
    """A client that opens a connection per request, closes it after the answer, and reads
    at most `MAX_PEER_ANSWER_BYTES` of each answer."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=0),
        headers={"Connection": "close"},
        event_hooks={"response": [_bound]},
    )
