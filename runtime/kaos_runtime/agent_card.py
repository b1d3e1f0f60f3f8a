"""The A2A agent card served at `/.well-known/agent.json` (and the other well-known paths).

The card's URL is `AGENT_EXTERNAL_URL` when one is configured (a gateway route), otherwise
derived from the request's own Host (and `X-Forwarded-*` headers behind a proxy); never a
hard-coded localhost. The card carries both the A2A 0.3 connection fields (`url`,
`preferredTransport`, `protocolVersion`) and the 1.0 `supportedInterfaces`, so clients of
either version read it; both name JSON-RPC at the card's URL (`POST /`, see `a2a/`). Skills are the tools the agent can use right now and its peers.
"""

from __future__ import annotations

from typing import Any

from kaos_contract.version import kaosgen_version
from starlette.requests import Request

from .settings import Settings
from .tools import Tool

#: A2A JSON-RPC at the card's URL (`POST /`): 1.0, and 0.3 for clients that send no
#: `A2A-Version` header (the card's top-level `url`/`preferredTransport` are 0.3's fields).
PROTOCOL_VERSION = "1.0"
LEGACY_PROTOCOL_VERSION = "0.3.0"
TRANSPORT = "JSONRPC"


def base_url(settings: Settings, request: Request) -> str:
    if settings.agent_external_url:
        return settings.agent_external_url.rstrip("/")
    headers = request.headers
    proto = headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = headers.get("x-forwarded-host") or headers.get("host") or request.url.netloc
    host = host.split(",")[0].strip()
    prefix = headers.get("x-forwarded-prefix", "").strip().rstrip("/")
    return f"{proto}://{host}{prefix}"


def build_card(settings: Settings, url: str, tools: list[Tool]) -> dict[str, Any]:
    description = settings.agent_description.strip() or f"KAOS agent {settings.agent_name}"
    skills: list[dict[str, Any]] = [
        {
            "id": "chat",
            "name": settings.agent_name,
            "description": description,
            "tags": ["chat"],
            "inputModes": ["text/plain"],
            "outputModes": ["text/plain"],
        }
    ]
    for tool in tools:
        tags = (
            ["delegation", f"agent:{tool.source}"]
            if tool.kind == "delegation"
            else ["tool", f"mcp:{tool.source}"]
        )
        skills.append(
            {
                "id": tool.name,
                "name": tool.name,
                "description": tool.description or tool.name,
                "tags": tags,
            }
        )
    return {
        "name": settings.agent_name,
        "description": description,
        "url": url,
        "version": kaosgen_version(),
        "protocolVersion": LEGACY_PROTOCOL_VERSION,
        "preferredTransport": TRANSPORT,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": TRANSPORT, "protocolVersion": PROTOCOL_VERSION}
        ],
        "capabilities": {
            "streaming": True,
            "pushNotifications": False,
            "stateTransitionHistory": False,
        },
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": skills,
    }
