"""The MCP SDK's log records about answers it could not read, as one line each.

The SDK's client logs `logger.exception(...)` when a server's answer cannot be read (not
JSON, not JSON-RPC, or cut off by the agent's answer bound): a traceback in the agent's
log for what is one tool call's error, already returned to the model. Its records become
one warning line saying why; an answer cut off by the bound (`AnswerTooLarge`) was
logged by the agent with the server's name, so the SDK's record of it is dropped.
"""

from __future__ import annotations

import logging

import httpx2  # the MCP SDK's HTTP client

#: The SDK's logger for the streamable HTTP client.
SDK_LOGGER = "mcp.client.streamable_http"


class AnswerTooLarge(httpx2.StreamError):
    """An MCP answer cut off at the agent's bound (the SDK answers the call with it)."""


def one_line(exc: BaseException) -> str:
    """What went wrong, on one line (a pydantic error: its first error only)."""
    errors = getattr(exc, "errors", None)
    count = getattr(exc, "error_count", None)
    if callable(errors) and callable(count) and count():
        first = errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        more = count() - 1
        text = f"{where}: {first['msg']}" + (f" (and {more} more errors)" if more else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:500]


class _OneLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        if isinstance(exc, AnswerTooLarge):
            return False
        record.msg = f"MCP client: {record.getMessage()}: {one_line(exc)}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_FILTER = _OneLine()


def install() -> None:
    """Put the filter on the SDK's logger (once, however often called)."""
    logger = logging.getLogger(SDK_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
