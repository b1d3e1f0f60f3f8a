"""kaosgen.yaml: environments, images, gateway, security switches and output layout.

Everything has a sensible default, so a project without kaosgen.yaml renders a `default`
environment with pinned images.
"""

from __future__ import annotations

from typing import Annotated, Literal

from kaos_contract.version import kaosgen_version
from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from kaosgen.imageref import Digest, ImageRef, Registry, TaggedImageRef
from kaosgen.models.common import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    EnvVarName,
    KaosModel,
    Replicas,
    ResourceRequirements,
)
from kaosgen.models.egress import Egress
from kaosgen.models.exposure import Caller, GatewayAuth, RateLimit, RouteKinds, RouteSettings
from kaosgen.models.gitops import GitOps
from kaosgen.models.scaling import Autoscaling, ModelStorage


class McpRuntimeImage(KaosModel):
    """How a named MCPServer runtime (kubernetes, slack, ...) runs."""

    image: ImageRef
    command: list[str] | None = None
    args: list[str] | None = Field(
        None, description="Container args; `{params}` in an item is replaced by spec.params."
    )
    params_env: EnvVarName | None = Field(
        None, description="Pass spec.params in this environment variable instead of args."
    )
    http_health: bool = Field(
        False, description="The image serves GET /health on its port (else a TCP probe is used)."
    )


def _default_mcp_runtimes() -> dict[str, McpRuntimeImage]:
    return {
        "kubernetes": McpRuntimeImage(
            image="quay.io/containers/kubernetes_mcp_server:v0.0.53",
            args=["--port", "8000"],
        ),
        "slack": McpRuntimeImage(
            image="ghcr.io/korotovsky/slack-mcp-server:v1.1.26",
            args=["--transport", "http"],
        ),
    }


#: Where kaosgen's release workflow pushes its two runtime images.
RUNTIME_IMAGES = "ghcr.io/kaosgen"
#: kaosgen's own images carry its version: a given kaosgen renders the images of its release.
AGENT_IMAGE = f"{RUNTIME_IMAGES}/agent-runtime:{kaosgen_version()}"
MCP_SERVER_IMAGE = f"{RUNTIME_IMAGES}/mcp-runtime:{kaosgen_version()}"


class Images(KaosModel):
    """The images of the four workloads. Pinned tags; never `latest` by default."""

    agent: ImageRef = AGENT_IMAGE
    mcp_server: ImageRef = MCP_SERVER_IMAGE
    litellm: ImageRef = "ghcr.io/berriai/litellm-non_root:main-v1.77.5-stable"
    ollama: ImageRef = "docker.io/ollama/ollama:0.12.6"
    mcp_node: ImageRef = Field(
        "docker.io/library/node:22.20-bookworm-slim",
        description="Image for OLD-era `type: node-runtime` MCP servers.",
    )
    mcp_runtimes: dict[str, McpRuntimeImage] = Field(default_factory=_default_mcp_runtimes)
    digests: dict[TaggedImageRef, Digest] = Field(
        default_factory=dict,
        description="Manifest digest of each image reference, in every environment "
        "(`kaosgen images pin` writes them): the rendered image becomes `ref@digest`.",
        # Editors flag a key that is not a reference (the models reject it too).
        json_schema_extra={"additionalProperties": False},
    )


#: Every pod's local disk is bounded: logs and emptyDirs (/tmp is 256Mi) count against the
#: ephemeral-storage limit, and the kubelet evicts a pod over it before it fills the node.
_DISK = {"ephemeral-storage": "128Mi"}
_DISK_LIMIT = {"ephemeral-storage": "1Gi"}


class WorkloadResources(KaosModel):
    """Default requests/limits per workload kind (a container.resources override wins).
    A Hosted ModelAPI's ephemeral-storage limit grows to hold its model's emptyDir."""

    agent: ResourceRequirements = ResourceRequirements(
        requests={"cpu": "100m", "memory": "256Mi", **_DISK},
        limits={"cpu": "1", "memory": "1Gi", **_DISK_LIMIT},
    )
    mcp_server: ResourceRequirements = ResourceRequirements(
        requests={"cpu": "50m", "memory": "128Mi", **_DISK},
        limits={"cpu": "500m", "memory": "512Mi", **_DISK_LIMIT},
    )
    litellm: ResourceRequirements = ResourceRequirements(
        requests={"cpu": "200m", "memory": "512Mi", **_DISK},
        limits={"cpu": "1", "memory": "2Gi", **_DISK_LIMIT},
    )
    ollama: ResourceRequirements = ResourceRequirements(
        requests={"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
        limits={"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"},
    )


#: A Gateway API hostname (its CRDs' pattern): a DNS name, optionally `*.`-prefixed.
Hostname = Annotated[
    str,
    Field(
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        min_length=1,
        max_length=253,
    ),
]


class ParentRef(KaosModel):
    """The Gateway the routes attach to (checked as the HTTPRoute CRD checks parentRefs)."""

    name: str = Field(min_length=1, max_length=253, description="The Gateway's name.")
    namespace: Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)] | None = Field(
        None,
        description="The Gateway's namespace; the gateway NetworkPolicies admit pods from it.",
    )
    section_name: (
        Annotated[str, StringConstraints(max_length=253, pattern=DNS1123_SUBDOMAIN)] | None
    ) = Field(None, description="Attach the routes to this listener only (e.g. the HTTPS one).")


class GatewayTLS(KaosModel):
    """HTTPS on the Gateway kaosgen renders for Envoy Gateway (`vendor: envoy`)."""

    certificate_secret: Annotated[
        str, StringConstraints(max_length=253, pattern=DNS1123_SUBDOMAIN)
    ] = Field(
        description="A kubernetes.io/tls Secret in the Gateway's namespace (cert-manager "
        "makes one): the certificate of the HTTPS listener on port 443. Port 80 then only "
        "redirects to HTTPS, and the routes attach to the HTTPS listener."
    )


class Gateway(KaosModel):
    """Gateway API routes to the workloads (docs/gateway.md)."""

    enabled: bool = Field(False, description="Render an HTTPRoute per routed workload.")
    parent_ref: ParentRef = Field(
        ParentRef(name="kaos-gateway", namespace="envoy-gateway-system"),
        description="The Gateway the routes attach to (with vendor envoy, the one rendered "
        "to platform/gateway/).",
    )
    hostnames: list[Hostname] = Field(
        default_factory=list, description="The routes' hostnames (any host when empty)."
    )
    vendor: Literal["none", "envoy"] = Field(
        "none", description="envoy: also render a Gateway (and GatewayClass) for Envoy Gateway."
    )
    timeouts: dict[Literal["agent", "modelapi", "mcp"], str] = Field(
        default_factory=lambda: {"agent": "120s", "modelapi": "120s", "mcp": "30s"},
        description="Request timeout of the routes per kind; a workload's "
        "spec.gatewayRoute.timeout wins.",
    )
    routes: RouteKinds = Field(
        default_factory=RouteKinds,
        description="Which kinds get an HTTPRoute: Agents only unless you ask for more.",
    )
    auth: GatewayAuth | None = Field(
        None,
        description="Authentication of every route (Envoy Gateway SecurityPolicy per route).",
    )
    rate_limit: RateLimit | None = Field(
        None, description="A rate limit on every route (Envoy Gateway BackendTrafficPolicy)."
    )
    tls: GatewayTLS | None = Field(
        None,
        description="HTTPS on the Gateway rendered with vendor envoy (without it, its only "
        "listener is plain HTTP: API keys and tokens cross it in clear).",
    )


class GatewayOverride(KaosModel):
    """This environment's gateway settings, over the top-level `gateway` block."""

    enabled: bool | None = Field(None, description="Replaces gateway.enabled here.")
    parent_ref: ParentRef | None = Field(None, description="Replaces gateway.parentRef here.")
    hostnames: list[Hostname] | None = Field(None, description="Replaces gateway.hostnames here.")
    routes: RouteKinds | None = Field(None, description="Merged key by key over gateway.routes.")
    auth: GatewayAuth | None = Field(
        None, description="Replaces gateway.auth in this environment ({}: no authentication)."
    )
    rate_limit: RateLimit | None = Field(
        None, description="Replaces gateway.rateLimit in this environment (null: none)."
    )


class WorkloadOverride(KaosModel):
    """Settings of one workload. At the top of kaosgen.yaml they apply to every environment;
    an environment's entry wins field by field (nested blocks too)."""

    replicas: Replicas | None = None
    resources: ResourceRequirements | None = None
    route: RouteSettings | None = Field(None, description="Its gateway route.")
    autoscaling: Autoscaling | None = Field(
        None, description="A HorizontalPodAutoscaler (merged over the environment's)."
    )
    callers: list[Caller] | None = Field(
        None,
        description="In-cluster callers allowed in by its NetworkPolicy (namespaces, pod "
        "labels), e.g. the frontends of an entry agent.",
    )
    model_storage: ModelStorage | None = Field(
        None, description="Hosted ModelAPIs: where Ollama keeps the model (PVC, image)."
    )
    egress: Egress | None = Field(
        None,
        description="MCP servers and ModelAPIs: where its pods may connect, merged field by "
        "field over security.egress (an agent's egress follows the graph).",
    )


class Environment(KaosModel):
    namespace: Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)] | None = None
    replicas: Replicas = 1
    images: dict[Literal["agent", "mcpServer", "litellm", "ollama"], ImageRef] = Field(
        default_factory=dict, description="Per-environment image overrides."
    )
    registry: Registry | None = Field(
        None, description="Rewrite every workload image to this registry (mirrors, air-gaps)."
    )
    resources: WorkloadResources | None = None
    workloads: dict[str, WorkloadOverride] = Field(
        default_factory=dict,
        description="Per-workload overrides keyed `agent/<name>`, `modelapi/<name>` or `mcpserver/<name>`.",
    )
    gateway: GatewayOverride | None = Field(
        None, description="This environment's gateway settings, over the top-level block."
    )
    autoscaling: Autoscaling | None = Field(
        None,
        description="An HPA for every workload of this environment (a workload's own "
        "autoscaling is merged over it; enabled: false opts out).",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    gitops: GitOps | None = Field(
        None, description="Overrides of the top-level `gitops` block for this environment."
    )


class Security(KaosModel):
    """What kaosgen enforces in the rendered output."""

    allow_inline_api_keys: bool = Field(
        False, description="Allow proxyConfig.apiKey.value (the key is then written to a Secret)."
    )
    network_policies: bool = Field(
        True,
        description="Render NetworkPolicies: default-deny ingress, and each workload reachable "
        "only by what the graph, the gateway and `callers` need.",
    )
    dns_namespace: Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)] = Field(
        "kube-system",
        description="Namespace of the cluster DNS pods (k8s-app: kube-dns) that the pods "
        "may reach (and NodeLocal DNSCache at 169.254.20.10).",
    )
    egress: Egress = Field(
        Egress(),
        description="Where MCP servers' and ModelAPIs' pods may connect: anywhere but the "
        "cloud metadata service by default (workloads.<ref>.egress wins per workload).",
    )


class PasswordSecret(KaosModel):
    name: str = Field(min_length=1, max_length=253, description="A Secret you create.")
    key: str = Field("password", min_length=1, description="Its key holding the password.")


class RedisComponent(KaosModel):
    password_secret: PasswordSecret | None = Field(
        None,
        description="Require this password (redis --requirepass); Redis and the agents "
        "mount the Secret as a file (agents: MEMORY_REDIS_PASSWORD_FILE), never in clear text.",
    )


class Components(KaosModel):
    redis: bool | RedisComponent = Field(
        False,
        description="Vendor an in-cluster Redis for agents with memory type redis "
        "(MEMORY_REDIS_URL defaults to it): true, or an object with a passwordSecret.",
    )

    @property
    def redis_password(self) -> PasswordSecret | None:
        return self.redis.password_secret if isinstance(self.redis, RedisComponent) else None


class DiagnosticSettings(KaosModel):
    """How kaosgen reports on this project."""

    ignore: list[str] = Field(
        default_factory=list,
        description="Warning and note rule ids to turn off for this project, e.g. "
        "`memory-replicas`. Errors cannot be turned off.",
    )


def _file_system_path(value: str) -> str:
    """No file system holds a NUL byte in a name: refuse it here, with the line, rather
    than fail on it when the path is first used."""
    if "\x00" in value:
        raise PydanticCustomError(
            "path_nul",
            "a path cannot contain a NUL character (\\0): no file system allows it; remove it",
        )
    return value


def _gitignore_pattern(value: str) -> str:
    """A pattern pathspec cannot read (`!`, a lone `\\`) is reported at its line, not as
    a traceback when the inputs are walked. pathspec loads only when there are patterns."""
    import pathspec

    try:
        pathspec.GitIgnoreSpec.from_lines([value])
    except ValueError:  # pathspec's pattern error (its module moved in pathspec 1.0)
        raise PydanticCustomError(
            "gitignore_pattern",
            "not a .gitignore pattern (`!` needs a pattern after it; a trailing `\\` "
            "escapes nothing)",
        ) from None
    return value


class Project(KaosModel):
    api_version: Literal["kaosgen.dev/v1alpha1"] = "kaosgen.dev/v1alpha1"
    kind: Literal["Project"] = "Project"
    output: Annotated[str, AfterValidator(_file_system_path)] = Field(
        "deploy", description="Output directory, relative to kaosgen.yaml."
    )
    exclude: list[Annotated[str, AfterValidator(_gitignore_pattern)]] = Field(
        default_factory=list,
        description="Paths that are not input, as .gitignore patterns relative to kaosgen.yaml "
        "(`ci/`, `*.notes.yaml`, `docs/**`). Files named on the command line are always read.",
    )
    images: Images = Images()
    resources: WorkloadResources = WorkloadResources()
    gateway: Gateway = Field(
        Gateway(), description="Gateway API routes, their authentication and rate limits."
    )
    security: Security = Field(
        Security(), description="Inline API keys, NetworkPolicies and the DNS they allow."
    )
    components: Components = Components()
    environments: dict[Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)], Environment] = (
        Field(default_factory=lambda: {"default": Environment()})
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels on every object.")
    workloads: dict[str, WorkloadOverride] = Field(
        default_factory=dict,
        description="Per-workload settings for every environment, keyed `agent/<name>`, "
        "`modelapi/<name>` or `mcpserver/<name>` (environments.<env>.workloads wins).",
    )
    gitops: GitOps | None = Field(
        None,
        description="Flux and Argo CD objects per environment, rendered to `clusters/<env>/`.",
    )
    diagnostics: DiagnosticSettings = DiagnosticSettings()

    @property
    def uses_gitops(self) -> bool:
        """Whether any environment asks for Flux or Argo CD objects."""
        return self.gitops is not None or any(
            e.gitops is not None for e in self.environments.values()
        )
