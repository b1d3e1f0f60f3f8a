"""The runtime's settings: one typed model built from the environment contract.

Every variable of `kaos_contract.env.AGENT_ENV` (and the runtime tuning knobs) is read here
and nowhere else. A missing or malformed variable raises `SettingsError` with one line that
names the variable, so a misconfigured pod says exactly what is wrong in its first log line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from kaos_contract import env as contract
from pydantic import BaseModel, ConfigDict, SecretStr


class SettingsError(ValueError):
    """A missing or malformed environment variable (the message names it)."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_CARD_SUFFIX = re.compile(r"/\.well-known/agent(?:-card)?(?:\.json)?/?$")


class Settings(BaseModel):
    """Everything the runtime is configured with (attribute = variable name, lower case)."""

    model_config = ConfigDict(frozen=True)

    agent_name: str
    agent_description: str = ""
    agent_instructions: str = ""
    model_api_url: str
    model_name: str
    #: Hosted (Ollama), Proxy (LiteLLM) or None (unknown: the KAOS operator's env).
    model_api_mode: Literal["Proxy", "Hosted"] | None = None
    agentic_loop_max_steps: int = 5
    memory_enabled: bool = True
    memory_type: Literal["local", "redis", "null"] = "local"
    memory_context_limit: int = 6
    memory_max_sessions: int = 1000
    memory_max_session_events: int = 500
    memory_redis_url: str | None = None
    #: Shown as '**********' in reprs and logs; MEMORY_REDIS_PASSWORD, else the contents of
    #: MEMORY_REDIS_PASSWORD_FILE (read once, at start-up).
    memory_redis_password: SecretStr | None = None
    memory_redis_password_file: str | None = None
    #: MCP server name -> its base URL (the `/mcp` path is added by the client).
    mcp_servers: dict[str, str] = {}
    #: Peer agent name -> its base URL.
    peer_agents: dict[str, str] = {}
    tool_call_mode: Literal["auto", "native", "string"] = "auto"
    wait_for_dependencies: bool = False
    agent_external_url: str | None = None
    delegation_max_depth: int = contract.DELEGATION_DEPTH_LIMIT_DEFAULT
    model_call_budget: int = contract.MODEL_CALL_BUDGET_DEFAULT
    otel_sdk_disabled: bool = True
    otel_service_name: str | None = None
    otel_exporter_otlp_endpoint: str | None = None
    otel_resource_attributes: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    agent_port: int = contract.AGENT_PORT_DEFAULT
    # Tuning knobs (contract.RUNTIME_TUNING_ENV).
    agent_host: str = "0.0.0.0"
    agent_max_body_bytes: int = 1024 * 1024
    agent_request_read_timeout_seconds: float = 30.0
    model_api_key: str | None = None
    model_timeout_seconds: float = 120.0
    model_connect_timeout_seconds: float = 10.0
    model_keepalive_seconds: float = 4.0
    model_max_retries: int = 2
    model_client: Literal["direct", "litellm"] = "direct"
    tool_timeout_seconds: float = 60.0
    delegation_timeout_seconds: float = 300.0
    mcp_refresh_seconds: float = 30.0
    mcp_connect_timeout_seconds: float = 5.0
    #: TEST ONLY (model_mock.py): scripted replies instead of model calls.
    debug_mock_responses: str | None = None
    #: What start-up should log once logging is configured (e.g. a key that was trimmed).
    startup_warnings: tuple[str, ...] = ()

    @property
    def model_api_base(self) -> str:
        """The OpenAI-compatible base (`MODEL_API_URL` + `/v1`, not doubled)."""
        base = self.model_api_url.rstrip("/")
        return base if base.endswith("/v1") else base + "/v1"

    @property
    def upstream_model(self) -> str:
        """The model as the ModelAPI knows it: verbatim, except Ollama's `ollama/<m>` -> `<m>`.

        A LiteLLM proxy may name a model `ollama/<m>` itself, so a Proxy keeps the name.
        """
        name = self.model_name
        if self.model_api_mode == "Proxy":
            return name
        for prefix in ("ollama/", "ollama_chat/"):
            if name.startswith(prefix):
                return name[len(prefix) :]
        return name


# --- parsing helpers -----------------------------------------------------------------


def _get(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's value; empty strings count as unset (how Kubernetes renders `""`)."""
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value


def _spec(name: str) -> contract.EnvVar:
    return contract.AGENT_ENV_BY_NAME.get(name) or contract.RUNTIME_TUNING_ENV_BY_NAME[name]


def _parse(name: str, raw: str) -> object:
    spec = _spec(name)
    value = raw.strip()
    if spec.kind == "int":
        try:
            return int(value)
        except ValueError:
            raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if spec.kind == "float":
        try:
            result = float(value)
        except ValueError:
            raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
        if result != result or result in (float("inf"), float("-inf")):
            raise SettingsError(f"{name}: expected a finite number, got {raw!r}")
        return result
    if spec.kind == "bool":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise SettingsError(f"{name}: expected true or false, got {raw!r}")
    if spec.kind == "enum":
        choices = {c.lower(): c for c in spec.choices}
        if value.lower() not in choices:
            raise SettingsError(f"{name}: expected one of {', '.join(spec.choices)}, got {raw!r}")
        return choices[value.lower()]
    if spec.kind == "url":
        return _url(name, value)
    return raw  # "str", "secret": verbatim (instructions keep their whitespace)


def _url(name: str, value: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    if name == "MEMORY_REDIS_URL":
        schemes = ("redis", "rediss", "unix")
    elif name == "OTEL_EXPORTER_OTLP_ENDPOINT":
        schemes = ("http", "https", "grpc")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise SettingsError(f"{name}: malformed URL {value!r} ({exc})") from None
    if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "unix"):
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{name}: expected a {wanted} URL, got {value!r}")
    return value.rstrip("/") if parts.scheme in ("http", "https") else value


def _ranged(name: str, value: int | float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SettingsError(f"{name}: must be {bound}, got {value}")


def _names(value: str | None) -> list[str]:
    """A name list: `a,b`, also the older `[a,b]` / `["a", "b"]` spellings."""
    value = (value or "").strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [name.strip("'\" ") for name in contract.split_csv(value) if name.strip("'\" ")]


def _mcp_servers(environ: Mapping[str, str]) -> dict[str, str]:
    servers: dict[str, str] = {}
    for name in _names(environ.get("MCP_SERVERS")):
        raw_var = contract.mcp_server_url_var(name)
        snake_var = contract.mcp_server_url_var_snake(name)
        value = _get(environ, raw_var) or _get(environ, snake_var)
        if value is None:
            raise SettingsError(
                f"{raw_var}: missing (MCP_SERVERS lists {name!r}; "
                f"set {raw_var} or {snake_var} to the server's base URL)"
            )
        var = raw_var if _get(environ, raw_var) else snake_var
        url = _url(var, value.strip())
        if url.endswith(contract.MCP_PATH):
            url = url[: -len(contract.MCP_PATH)]
        servers[name] = url
    return servers


def _peers(environ: Mapping[str, str]) -> dict[str, str]:
    sub_agents = _get(environ, "AGENT_SUB_AGENTS")
    if sub_agents is not None:
        try:
            pairs = contract.parse_sub_agents(sub_agents)
        except ValueError as exc:
            raise SettingsError(f"AGENT_SUB_AGENTS: {exc}") from None
        return {name: _peer_base(_url("AGENT_SUB_AGENTS", url)) for name, url in pairs.items()}
    peers: dict[str, str] = {}
    for name in _names(environ.get("PEER_AGENTS")):
        var = contract.peer_card_url_var(name)
        value = _get(environ, var)
        if value is None:
            raise SettingsError(f"{var}: missing (PEER_AGENTS lists {name!r})")
        peers[name] = _peer_base(_url(var, value.strip()))
    return peers


def _peer_base(url: str) -> str:
    """A peer's base URL; a full card URL (`.../.well-known/agent.json`) is accepted too."""
    return _CARD_SUFFIX.sub("", url).rstrip("/")


def _api_key(raw: str, warnings: list[str]) -> str:
    """The key as it goes into `Authorization: Bearer <key>`: one line of visible characters.

    A Secret made from a file (`kubectl create secret --from-file`) usually ends with a
    newline: surrounding whitespace is stripped, with a warning. What remains must not hold
    a control character (CR/LF would split the header; the others no server accepts). The
    key itself never appears in a message.
    """
    key = raw.strip()
    if key != raw:
        warnings.append(
            "MODEL_API_KEY: surrounding whitespace removed (a Secret made from a file "
            "often ends with a newline)"
        )
    for position, char in enumerate(key, start=1):
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise SettingsError(
                f"MODEL_API_KEY: contains a control character ({char!r} at position "
                f"{position} of {len(key)}); a key is one line of printable characters"
            )
        if ord(char) > 0x7E:
            raise SettingsError(
                f"MODEL_API_KEY: contains a non-ASCII character at position {position} of "
                f"{len(key)}; a key is one line of printable ASCII characters"
            )
    return key


def _secret_file(name: str, path: str) -> str:
    """A secret from a mounted file, without the trailing newline an editor or
    `kubectl create secret --from-file` may leave (as `$(cat file)` in a shell drops it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read(65536)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingsError(f"{name}: cannot read {path!r} ({reason})") from None
    value = value.rstrip("\r\n")
    if not value:
        raise SettingsError(f"{name}: {path!r} is empty")
    return value


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build `Settings` from an environment mapping; raises `SettingsError` (one line)."""
    values: dict[str, object] = {}
    for spec in (*contract.AGENT_ENV, *contract.RUNTIME_TUNING_ENV):
        if spec.kind == "csv":
            continue  # lists are resolved with their per-name variables below
        raw = _get(environ, spec.name)
        if raw is None:
            if spec.required:
                raise SettingsError(f"{spec.name}: missing ({spec.description})")
            continue
        values[spec.name.lower()] = _parse(spec.name, raw)

    if isinstance(values.get("agent_name"), str):
        values["agent_name"] = str(values["agent_name"]).strip()
    values["mcp_servers"] = _mcp_servers(environ)
    values["peer_agents"] = _peers(environ)

    checks: list[tuple[str, float, float | None]] = [
        ("AGENTIC_LOOP_MAX_STEPS", 1, 100),
        ("MEMORY_CONTEXT_LIMIT", 0, 10000),
        ("MEMORY_MAX_SESSIONS", 1, None),
        ("MEMORY_MAX_SESSION_EVENTS", 1, None),
        ("DELEGATION_MAX_DEPTH", 0, 100),
        ("MODEL_CALL_BUDGET", 1, 10000),
        ("AGENT_PORT", 1, 65535),
        ("AGENT_MAX_BODY_BYTES", 1024, None),
        ("AGENT_REQUEST_READ_TIMEOUT_SECONDS", 0.001, None),
        ("MODEL_TIMEOUT_SECONDS", 0.001, None),
        ("MODEL_CONNECT_TIMEOUT_SECONDS", 0.001, None),
        ("MODEL_KEEPALIVE_SECONDS", 0, None),
        ("MODEL_MAX_RETRIES", 0, 10),
        ("TOOL_TIMEOUT_SECONDS", 0.001, None),
        ("DELEGATION_TIMEOUT_SECONDS", 0.001, None),
        ("MCP_REFRESH_SECONDS", 0.05, None),
        ("MCP_CONNECT_TIMEOUT_SECONDS", 0, None),
    ]
    for name, low, high in checks:
        value = values.get(name.lower())
        if isinstance(value, int | float):
            _ranged(name, value, low, high)

    warnings: list[str] = []
    if isinstance(values.get("model_api_key"), str):
        values["model_api_key"] = _api_key(str(values["model_api_key"]), warnings)
    values["startup_warnings"] = tuple(warnings)

    path = values.get("memory_redis_password_file")
    if isinstance(path, str) and "memory_redis_password" not in values:
        values["memory_redis_password"] = _secret_file("MEMORY_REDIS_PASSWORD_FILE", path)

    if (
        values.get("memory_type") == "redis"
        and values.get("memory_enabled", True)
        and not values.get("memory_redis_url")
    ):
        raise SettingsError("MEMORY_REDIS_URL: missing (required when MEMORY_TYPE=redis)")
    return Settings.model_validate(values)
