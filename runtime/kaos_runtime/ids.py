"""Identifiers: random hex strings for completions, events, tool calls and sessions.

`uuid.uuid4()` costs a `getrandom` system call and a `UUID` object per id, and a chat
completion makes several. Ids that only need to be unique (completions, events, tool
calls) come from the `random` module's generator, which the standard library reseeds in
a forked child, so two worker processes never share a sequence. Session ids are handed to
clients and act as a handle on a conversation, so they come from `secrets`.
"""

from __future__ import annotations

import random
import secrets

_getrandbits = random.getrandbits


def unique_hex(digits: int = 32) -> str:
    """`digits` random hex digits: unique in practice, not unguessable."""
    return f"{_getrandbits(digits * 4):0{digits}x}"


def session_id() -> str:
    """A new session id: 32 hex digits from the operating system's CSPRNG."""
    return secrets.token_hex(16)
