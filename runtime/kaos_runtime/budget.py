"""A budget of model calls per user request, shared by the whole delegation tree.

Without it, two agents that delegate to each other multiply: every step of every agent
may delegate again, about (steps - 1) ** depth model calls for one question. The budget
travels with delegation instead: an agent takes one call from it per model call, and
when the model asks for delegations it hands what is left, less one call kept for its own
next answer, to the peers (`X-KAOS-Model-Call-Budget`, split between the delegations of
one step). A peer answers how many calls it made, its own delegations included
(`X-KAOS-Model-Calls`), and that is charged; a peer that does not say (not this runtime)
is charged its whole share. So one request never costs more than the first agent's
`MODEL_CALL_BUDGET` model calls, however the agents are wired.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaos_contract import env as contract


@dataclass
class ModelCallBudget:
    """The model calls one request may still make (this agent and its delegations)."""

    limit: int
    used: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def take(self) -> bool:
        """Spend one call for a model call; False when none is left."""
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def shares(self, delegations: int) -> list[int]:
        """What each of `delegations` concurrent delegations may spend.

        One call stays with this agent, for the answer it writes from their results; the
        rest is split as evenly as it goes (a share of 0 means: do not delegate).
        """
        spare = max(0, self.remaining - 1)
        base, extra = divmod(spare, delegations) if delegations else (0, 0)
        return [base + (1 if i < extra else 0) for i in range(delegations)]

    def charge(self, calls: int) -> None:
        """Count calls made on this request's behalf (by a peer it delegated to)."""
        self.used += max(0, calls)


def parse_budget_header(raw: str | None, own_limit: int) -> ModelCallBudget:
    """The budget for a request: the agent's own, or the smaller one a caller passed on.

    Raises ValueError (the HTTP layer answers 400) when the header is not a positive
    integer.
    """
    if raw is None:
        return ModelCallBudget(own_limit)
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{contract.MODEL_CALL_BUDGET_HEADER} must be a positive integer")
    return ModelCallBudget(min(value, own_limit))


def calls_reported(raw: str | None, granted: int) -> int:
    """What a peer says its request cost, bounded by what it was granted.

    A peer that does not say (a KAOS runtime, a proxy that dropped the header) or says
    something unreadable is charged everything it was granted: the bound must hold.
    """
    try:
        calls = int((raw or "").strip())
    except ValueError:
        return granted
    return min(max(calls, 0), granted)


def budget_message(limit: int, progress: list[str]) -> str:
    """The answer when the budget is spent: say so, then give what the agent has."""
    text = (
        f"I could not finish this request: it used up its budget of {limit} model calls "
        "(MODEL_CALL_BUDGET, shared with the agents it delegates to)."
    )
    if progress:
        text += " What I have so far:\n\n" + "\n\n".join(progress)
    return text
