"""The resolved graph: normalised workloads with their references linked.

Whatever the KAOS schema era of the input, the resolve pass produces these nodes, so the
generate passes see one current-era shape. Derived names (Service, labels, port) live here
so every pass agrees on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kaos_contract.env import HOSTED_MODELAPI_PORT, MCP_PORT_DEFAULT, PROXY_MODELAPI_PORT

if TYPE_CHECKING:
    from kaosgen.diagnostics import Location
    from kaosgen.models.common import EnvVar, KeySelector, ResourceRequirements, Telemetry
    from kaosgen.models.modelapi import ApiKey, ConfigYaml
    from kaosgen.source import Document


@dataclass
class Workload:
    """What every rendered workload has: one Deployment, one Service, one ServiceAccount."""

    name: str
    namespace: str | None
    doc: Document
    labels: dict[str, str]
    annotations: dict[str, str]
    image: str | None = None  # container.image override
    command: list[str] | None = None
    args: list[str] | None = None
    resources: ResourceRequirements | None = None
    env: list[EnvVar] = field(default_factory=list)
    pod_spec: dict[str, Any] | None = None
    gateway_timeout: str | None = None  # None: the project default for the kind
    telemetry: Telemetry | None = None

    kind = ""  # "Agent" | "ModelAPI" | "MCPServer"
    app = ""  # the KAOS `app` label value and name prefix
    route_segment = ""  # path segment and HTTPRoute prefix: agent | modelapi | mcp
    container_name = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace or "", self.name)

    @property
    def object_name(self) -> str:
        """Deployment, Service and ServiceAccount name: `agent-<name>` etc."""
        return f"{self.app}-{self.name}"

    @property
    def route_name(self) -> str:
        return f"{self.route_segment}-{self.name}"

    def env_location(self, name: str) -> Location:
        """Where the user's env variable `name` is set: spec.container.env, or the old-era
        spec.config.env; the spec itself when it is not set."""
        spec = self.doc.data.get("spec") or {}
        for path in (("container", "env"), ("config", "env")):
            entries = (spec.get(path[0]) or {}).get(path[1]) or []
            for i, entry in enumerate(entries):
                if isinstance(entry, dict) and entry.get("name") == name:
                    return self.doc.location(("spec", *path, i, "name"))
        return self.doc.location(("spec",), key=True)

    @property
    def selector(self) -> dict[str, str]:
        """KAOS's selector labels, kept identical so kaosgen can adopt KAOS Deployments."""
        return {"app": self.app, self.app: self.name}

    @property
    def port(self) -> int:
        return 8000

    @property
    def exposed(self) -> bool:
        return True

    @property
    def ref(self) -> str:
        """How diagnostics and overrides name the workload: `agent/<name>`."""
        return f"{self.app}/{self.name}"


@dataclass
class ModelAPINode(Workload):
    mode: str = "Proxy"
    models: list[str] = field(default_factory=list)
    provider: str | None = None
    api_base: str | None = None
    api_key: ApiKey | None = None
    config_yaml: ConfigYaml | None = None
    hosted_model: str | None = None

    kind = "ModelAPI"
    app = "modelapi"
    route_segment = "modelapi"
    container_name = "model-api"

    @property
    def port(self) -> int:
        return HOSTED_MODELAPI_PORT if self.mode == "Hosted" else PROXY_MODELAPI_PORT

    @property
    def pull_model(self) -> str:
        """The name Ollama knows: `ollama/<m>` and `<m>` name the same model."""
        return (self.hosted_model or "").removeprefix("ollama/")

    def supports(self, model: str) -> bool:
        if self.mode == "Hosted":
            return model.removeprefix("ollama/") == self.pull_model
        for pattern in self.models:
            if pattern == "*" or pattern == model:
                return True
            if pattern.endswith("/*") and model.startswith(pattern[:-1]):
                return True
        return False


@dataclass
class MCPServerNode(Workload):
    #: Normalised runtime: python-string, python-secret, python-package, node-package,
    #: custom, or a named runtime image from kaosgen.yaml (kubernetes, slack, ...).
    runtime: str = "python-string"
    params: str | None = None
    source_secret: KeySelector | None = None
    package: str | None = None
    service_account_name: str | None = None

    kind = "MCPServer"
    app = "mcpserver"
    route_segment = "mcp"
    container_name = "mcp-server"

    @property
    def port(self) -> int:
        return MCP_PORT_DEFAULT


@dataclass
class AgentNode(Workload):
    model_api_name: str = ""
    model: str = ""
    mcp_server_names: list[str] = field(default_factory=list)
    access: list[str] = field(default_factory=list)
    expose: bool = True
    wait_for_dependencies: bool = True
    description: str | None = None
    instructions: str | None = None
    max_steps: int = 5
    memory_enabled: bool = True
    memory_type: str = "local"
    context_limit: int = 6
    max_sessions: int = 1000
    max_session_events: int = 500
    memory_explicit: bool = False  # spec.config.memory was written (KAOS sets MEMORY_* only then)
    tool_call_mode: str | None = None
    # Linked by the resolve pass.
    model_api: ModelAPINode | None = None
    mcp_servers: list[MCPServerNode] = field(default_factory=list)
    peers: list[AgentNode] = field(default_factory=list)

    kind = "Agent"
    app = "agent"
    route_segment = "agent"
    container_name = "agent"

    @property
    def exposed(self) -> bool:
        return self.expose


@dataclass
class Graph:
    agents: list[AgentNode] = field(default_factory=list)
    modelapis: list[ModelAPINode] = field(default_factory=list)
    mcpservers: list[MCPServerNode] = field(default_factory=list)
    passthrough: list[Document] = field(default_factory=list)

    def workloads(self) -> list[Workload]:
        """Every workload in a stable order: ModelAPIs, MCP servers, then agents."""
        return [*self.modelapis, *self.mcpservers, *self.agents]

    def namespaces(self) -> list[str]:
        return sorted({w.namespace or "" for w in self.workloads()})
