"""`kaosgen up --smoke`: one chat completion to each exposed agent, answers printed."""

from __future__ import annotations

from dataclasses import dataclass

SMOKE_PROMPT = "Say hello in one short sentence."


@dataclass
class Answer:
    agent: str
    ok: bool
    text: str


def ask(agent: str, url: str, prompt: str = SMOKE_PROMPT, timeout: float = 300.0) -> Answer:
    """POST /v1/chat/completions (requests: a compiler dependency already)."""
    import requests

    try:
        response = requests.post(
            f"{url}/v1/chat/completions",
            json={"model": agent, "messages": [{"role": "user", "content": prompt}]},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        return Answer(agent, False, f"no answer: {exc}")
    try:
        body = response.json()
    except ValueError:
        return Answer(agent, False, f"HTTP {response.status_code}: {response.text[:300]}")
    if response.status_code != 200:
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        return Answer(agent, False, f"HTTP {response.status_code}: {message or body}")
    try:
        content = body["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        return Answer(agent, False, f"not a chat completion: {str(body)[:300]}")
    return Answer(agent, True, content)
