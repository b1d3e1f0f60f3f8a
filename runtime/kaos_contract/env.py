"""The environment contract between the compiler and the agent runtime.

The compiler writes these variables into every Agent Deployment; the runtime reads them
and nothing else. Defining the names, the order and the list formats once here keeps both
sides honest: the compiler's tests check every variable it renders is declared here, the
runtime's tests check every variable declared here is read by its settings.

Stdlib only: both `kaosgen` (compiler) and `kaos_runtime` import this module, and neither
may pull in the other's dependencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- Ports and paths shared by the compiler and the runtimes -------------------------

AGENT_PORT_DEFAULT = 8000
MCP_PORT_DEFAULT = 8000
PROXY_MODELAPI_PORT = 8000
HOSTED_MODELAPI_PORT = 11434
MCP_PATH = "/mcp"

# --- The agent's HTTP paths, by who may reach them ------------------------------------

#: Where the A2A card lives; the card's URL is built from the request (X-Forwarded-Prefix).
WELL_KNOWN_PATH = "/.well-known"
# (match type, path, method or None), in Gateway API terms. The compiler routes the public
# paths whenever an agent is routed, and a private group only when kaosgen.yaml names it
# (`route.paths`); the runtime's tests check every path it serves is in exactly one group.

#: The public API: OpenAI-compatible chat and models; the A2A card (agent.json,
#: agent-card.json, agent) under /.well-known, public metadata by definition (RFC 8615).
AGENT_PUBLIC_PATHS: tuple[tuple[str, str, str | None], ...] = (
    ("PathPrefix", "/v1", None),
    ("PathPrefix", WELL_KNOWN_PATH, None),
)
#: A2A JSON-RPC (`message/send`, `message/stream`, `tasks/*`): a POST to the agent's base
#: URL, the card's `url`, where A2A clients send JSON-RPC (a2a-sdk's default endpoint).
AGENT_A2A_PATHS: tuple[tuple[str, str, str | None], ...] = (("Exact", "/", "POST"),)
#: In the cluster only, unless a route names the group.
AGENT_PRIVATE_PATHS: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "memory": (("PathPrefix", "/memory", None),),
    "metrics": (("Exact", "/metrics", None),),
    "health": (("Exact", "/health", None), ("Exact", "/ready", None)),
}

# --- HTTP headers -------------------------------------------------------------------

SESSION_HEADER = "X-Session-ID"
#: Incremented on each agent-to-agent hop; a request over the limit is refused.
DELEGATION_DEPTH_HEADER = "X-KAOS-Delegation-Depth"
DELEGATION_DEPTH_LIMIT_DEFAULT = 5
#: In a request: the model calls the receiver, and every agent it delegates to, may make
#: for it. Set by a delegating agent to its peer's share of its own budget.
MODEL_CALL_BUDGET_HEADER = "X-KAOS-Model-Call-Budget"
#: In a response: the model calls the request cost, its delegations included.
MODEL_CALLS_HEADER = "X-KAOS-Model-Calls"
#: Per user request, whole delegation tree: enough for a coordinator to run its steps and
#: delegate to a few peers that run theirs; two agents delegating to each other in a loop
#: stop after this many calls.
MODEL_CALL_BUDGET_DEFAULT = 30


@dataclass(frozen=True)
class EnvVar:
    """One variable of the contract: its name, the value kind, and why it exists."""

    name: str
    kind: str  # "str" | "secret" | "int" | "float" | "bool" | "csv" | "url" | "enum"
    description: str
    required: bool = False
    default: str | None = None
    choices: tuple[str, ...] = ()


# The agent container's variables, in the order the KAOS operator sets them (contract §3).
# The user's `container.env` goes between IDENTITY and the rest, so users may override
# AGENT_* but not the wiring the compiler derives from the graph.
IDENTITY = (
    EnvVar("AGENT_NAME", "str", "the Agent's metadata.name", required=True),
    EnvVar("AGENT_DESCRIPTION", "str", "spec.config.description (only when non-empty)"),
    EnvVar("AGENT_INSTRUCTIONS", "str", "spec.config.instructions, the system prompt"),
)
WIRING = (
    EnvVar("MODEL_API_URL", "url", "base URL of the ModelAPI service", required=True),
    EnvVar("MODEL_NAME", "str", "the model, as named in spec.model", required=True),
    EnvVar(
        "MODEL_API_MODE",
        "enum",
        "the ModelAPI's mode: Hosted (Ollama: `ollama/<m>` means `<m>`) or Proxy (LiteLLM: "
        "MODEL_NAME verbatim); unset (KAOS operator env): strip `ollama/`",
        choices=("Proxy", "Hosted"),
    ),
    EnvVar("AGENTIC_LOOP_MAX_STEPS", "int", "max model calls per request", default="5"),
    EnvVar("MEMORY_ENABLED", "bool", "false makes memory a no-op", default="true"),
    EnvVar(
        "MEMORY_TYPE", "enum", "memory backend", default="local", choices=("local", "redis", "null")
    ),
    EnvVar("MEMORY_CONTEXT_LIMIT", "int", "earlier messages given to the model", default="6"),
    EnvVar("MEMORY_MAX_SESSIONS", "int", "sessions kept (LRU)", default="1000"),
    EnvVar("MEMORY_MAX_SESSION_EVENTS", "int", "events kept per session", default="500"),
    EnvVar("MEMORY_REDIS_URL", "url", "redis:// URL when MEMORY_TYPE=redis"),
    EnvVar(
        "MEMORY_REDIS_PASSWORD",
        "secret",
        "Redis password (from a Secret) when MEMORY_REDIS_URL carries none",
    ),
    EnvVar(
        "MEMORY_REDIS_PASSWORD_FILE",
        "str",
        "a file holding the Redis password (a mounted Secret); MEMORY_REDIS_PASSWORD wins",
    ),
    EnvVar("MCP_SERVERS", "csv", "MCP server names, sorted; each has MCP_SERVER_<name>_URL"),
    EnvVar("PEER_AGENTS", "csv", "peer agent names, sorted; each has PEER_AGENT_<NAME>_CARD_URL"),
    EnvVar("AGENT_SUB_AGENTS", "csv", "name:url,name:url; takes precedence over PEER_AGENTS"),
    EnvVar(
        "TOOL_CALL_MODE",
        "enum",
        "how the model calls tools",
        default="auto",
        choices=("auto", "native", "string"),
    ),
    EnvVar(
        "WAIT_FOR_DEPENDENCIES", "bool", "/ready is 503 until dependencies answer", default="false"
    ),
    EnvVar("AGENT_EXTERNAL_URL", "url", "public URL for the agent card (gateway route)"),
    EnvVar(
        "DELEGATION_MAX_DEPTH",
        "int",
        "agent-to-agent hops allowed",
        default=str(DELEGATION_DEPTH_LIMIT_DEFAULT),
    ),
    EnvVar(
        "MODEL_CALL_BUDGET",
        "int",
        "model calls per user request, shared by every agent the request is delegated to",
        default=str(MODEL_CALL_BUDGET_DEFAULT),
    ),
)
TELEMETRY = (
    EnvVar("OTEL_SDK_DISABLED", "bool", "false when telemetry is enabled", default="true"),
    EnvVar("OTEL_SERVICE_NAME", "str", "the Agent's name"),
    EnvVar("OTEL_EXPORTER_OTLP_ENDPOINT", "url", "OTLP collector endpoint"),
    EnvVar("OTEL_RESOURCE_ATTRIBUTES", "str", "service.namespace=<ns>,kaos.resource.name=<name>"),
    EnvVar(
        "LOG_LEVEL",
        "enum",
        "runtime log level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    ),
)
SERVER = (
    EnvVar("AGENT_PORT", "int", "port the runtime listens on", default=str(AGENT_PORT_DEFAULT)),
)

AGENT_ENV: tuple[EnvVar, ...] = IDENTITY + WIRING + TELEMETRY + SERVER
AGENT_ENV_BY_NAME = {v.name: v for v in AGENT_ENV}

# Runtime tuning knobs: read by the agent runtime, never rendered by the compiler (users may
# set them through `spec.container.env`). Kept apart from AGENT_ENV so that the compiler's
# "every variable I render is declared" check and the runtime's "every declared variable is
# read" check both stay exact.
RUNTIME_TUNING_ENV: tuple[EnvVar, ...] = (
    EnvVar("AGENT_HOST", "str", "address the runtime binds", default="0.0.0.0"),
    EnvVar("AGENT_MAX_BODY_BYTES", "int", "request body limit (413 above)", default="1048576"),
    EnvVar(
        "AGENT_REQUEST_READ_TIMEOUT_SECONDS",
        "float",
        "a request's headers, then its body, must each arrive within this (408 after)",
        default="30",
    ),
    EnvVar("MODEL_API_KEY", "str", "bearer key for the ModelAPI (a LiteLLM master key)"),
    EnvVar(
        "MODEL_TIMEOUT_SECONDS",
        "float",
        "deadline for a whole model call, retries and streamed answer included (504 after)",
        default="120",
    ),
    EnvVar(
        "MODEL_CONNECT_TIMEOUT_SECONDS",
        "float",
        "to open a connection to the ModelAPI; also the longest a dead connection holds a call",
        default="10",
    ),
    EnvVar(
        "MODEL_KEEPALIVE_SECONDS",
        "float",
        "how long an idle connection to the ModelAPI is kept for reuse",
        default="4",
    ),
    EnvVar("MODEL_MAX_RETRIES", "int", "retries on transient model API errors", default="2"),
    EnvVar(
        "MODEL_CLIENT",
        "enum",
        "direct (an aiohttp client of the OpenAI-compatible API), or litellm (litellm.acompletion)",
        default="direct",
        choices=("direct", "litellm"),
    ),
    EnvVar("TOOL_TIMEOUT_SECONDS", "float", "per MCP tool call", default="60"),
    EnvVar("DELEGATION_TIMEOUT_SECONDS", "float", "per call to a peer agent", default="300"),
    EnvVar("MCP_REFRESH_SECONDS", "float", "tool list refresh / reconnect period", default="30"),
    EnvVar("MCP_CONNECT_TIMEOUT_SECONDS", "float", "start-up wait for MCP discovery", default="5"),
    EnvVar(
        "DEBUG_MOCK_RESPONSES",
        "str",
        "TEST ONLY: a JSON list of model replies served in order for each request instead of "
        'calling the ModelAPI (KAOS\'s variable; a reply {"tool_calls": [...]} calls tools)',
    ),
)
RUNTIME_TUNING_ENV_BY_NAME = {v.name: v for v in RUNTIME_TUNING_ENV}

# Per-name variables (patterns, not fixed names).
MCP_SERVER_URL_RE = re.compile(r"^MCP_SERVER_(?P<name>.+)_URL$")
PEER_AGENT_CARD_URL_RE = re.compile(r"^PEER_AGENT_(?P<name>.+)_CARD_URL$")

# Variables of the MCP tool-server runtime container.
MCP_TOOLS_STRING = "MCP_TOOLS_STRING"
MCP_PACKAGE = "MCP_PACKAGE"
MCP_PORT = "MCP_PORT"
MCP_SERVER_NAME = "MCP_SERVER_NAME"
# Also read by the MCP tool-server runtime (KAOS's names; all optional).
MCP_HOST = "MCP_HOST"  # bind address, default 0.0.0.0
MCP_LOG_LEVEL = "MCP_LOG_LEVEL"  # falls back to LOG_LEVEL, then INFO
MCP_ACCESS_LOG = "MCP_ACCESS_LOG"  # "true" logs every HTTP request, default false
#: fastmcp's own switch, read by the runtime: "false" keeps per-client MCP sessions
#: (sampling, elicitation); the runtime's default is "true" (any replica answers any request).
MCP_STATELESS_HTTP = "FASTMCP_STATELESS_HTTP"
# DNS-rebinding protection: a request's Host must name this server, and a browser's Origin
# must be this server or an allowed origin (kaosgen renders the first two).
#: The Kubernetes Service in front of the server; its in-cluster DNS names are allowed Hosts.
MCP_SERVICE_NAME = "MCP_SERVICE_NAME"
#: The pod's namespace (downward API), for the Service's namespace-qualified names.
POD_NAMESPACE = "POD_NAMESPACE"
#: More allowed Host names, comma-separated (`*.example.com` patterns; `*` allows any).
MCP_ALLOWED_HOSTS = "MCP_ALLOWED_HOSTS"
#: Browser origins allowed besides the server's own, comma-separated (`https://ui.example.com`).
MCP_ALLOWED_ORIGINS = "MCP_ALLOWED_ORIGINS"
#: Seconds a request's headers may take to arrive (default 30): slow clients are cut off.
MCP_REQUEST_READ_TIMEOUT_SECONDS = "MCP_REQUEST_READ_TIMEOUT_SECONDS"
#: Where kaosgen mounts the Redis password Secret in agent and Redis pods (one file, key
#: `password`): MEMORY_REDIS_PASSWORD_FILE points at it.
REDIS_PASSWORD_DIR = "/var/run/secrets/kaos/redis"
REDIS_PASSWORD_FILE = f"{REDIS_PASSWORD_DIR}/password"
#: HTTP liveness/readiness path of the MCP tool-server runtime (200 JSON once it serves).
MCP_HEALTH_PATH = "/health"

# Variables that keep the runtimes off the network at start-up (air-gapped clusters).
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "FASTMCP_CHECK_FOR_UPDATES": "off",
}


def upper_snake(name: str) -> str:
    """`echo-tools` -> `ECHO_TOOLS`: how peer names appear in variable names."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def snake(name: str) -> str:
    """`research-lead` -> `research_lead`: how peer names appear in tool names."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).lower()


def mcp_server_url_var(name: str) -> str:
    """KAOS keeps the raw name, hyphens included: `MCP_SERVER_echo-tools_URL`."""
    return f"MCP_SERVER_{name}_URL"


def mcp_server_url_var_snake(name: str) -> str:
    """The portable spelling a runtime also accepts: `MCP_SERVER_ECHO_TOOLS_URL`."""
    return f"MCP_SERVER_{upper_snake(name)}_URL"


def peer_card_url_var(name: str) -> str:
    return f"PEER_AGENT_{upper_snake(name)}_CARD_URL"


def delegate_tool_name(peer: str) -> str:
    return f"delegate_to_{snake(peer)}"


def join_csv(names: list[str] | tuple[str, ...]) -> str:
    """Names joined the contract's way: sorted, comma-separated, no spaces."""
    return ",".join(sorted(names))


def split_csv(value: str | None) -> list[str]:
    """Inverse of `join_csv`, tolerant of spaces and empty items."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_sub_agents(value: str | None) -> dict[str, str]:
    """`AGENT_SUB_AGENTS=name:url,name:url` -> {name: url}. Raises ValueError when malformed."""
    result: dict[str, str] = {}
    for item in split_csv(value):
        name, sep, url = item.partition(":")
        if not sep or not name or not url:
            raise ValueError(f"expected name:url, got {item!r}")
        result[name.strip()] = url.strip()
    return result


def service_url(service: str, port: int) -> str:
    """A namespace-relative service URL.

    KAOS writes `http://<svc>.<ns>.svc.cluster.local:<port>`; a short name resolves to the
    same Service through the pod's DNS search path and stays correct when a kustomize
    overlay moves everything to another namespace.
    """
    return f"http://{service}:{port}"
