"""kaosgen.yaml: who may reach a workload, from outside the cluster and from inside it.

- `gateway.routes`: which kinds get an HTTPRoute when the gateway is on (Agents only, by
  default); `workloads.<ref>.route` turns one workload's route on or off and chooses which
  of an agent's private paths (memory, metrics, health) are routed too.
- `gateway.auth` / `gateway.rateLimit`: Envoy Gateway SecurityPolicy (API keys from a
  referenced Secret, JWT with a remote JWKS) and BackendTrafficPolicy per route.
- `workloads.<ref>.callers`: in-cluster callers (namespaces, pod labels) a workload
  accepts, added to its NetworkPolicy.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from kaosgen.models.common import DNS1123_LABEL, KaosModel, LabelKey, LabelValue

#: A Secret name (DNS-1123 subdomain).
SecretName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        max_length=253,
    ),
]
#: An HTTP header name (RFC 7230 token, lower case as Envoy compares them).
HeaderName = Annotated[str, Field(pattern=r"^[a-z0-9!#$%&'*+.^_`|~-]+$", max_length=256)]
#: An agent's paths that stay in the cluster unless a route asks for them.
PathGroup = Literal["memory", "metrics", "health"]


class RouteKinds(KaosModel):
    """Which kinds get an HTTPRoute when the gateway is on (a workload's `route` wins)."""

    agent: bool = Field(
        True, description="Agents with agentNetwork.expose (their public API only)."
    )
    modelapi: bool = Field(
        False,
        description="ModelAPIs: your LLM budget. Off by default; route one with "
        "workloads.modelapi/<name>.route.enabled.",
    )
    mcp: bool = Field(
        False,
        description="MCP servers: tool execution. Off by default; route one with "
        "workloads.mcpserver/<name>.route.enabled.",
    )


class SecretKeys(KaosModel):
    name: SecretName = Field(description="A Secret in the namespace of the route.")


class ApiKeyAuth(KaosModel):
    """Envoy Gateway `apiKeyAuth`: the client sends a key in a header."""

    secret_ref: SecretKeys = Field(
        description="An Opaque Secret (created outside kaosgen: SOPS, External Secrets, ...) "
        "whose keys are client ids and whose values are those clients' API keys. Referenced, "
        "never written."
    )
    header: HeaderName = Field("x-api-key", description="The request header that carries the key.")
    forward_client_id_header: HeaderName | None = Field(
        None,
        alias="forwardClientIDHeader",
        description="Send the authenticated client id to the workload in this header.",
    )


class RemoteJwks(KaosModel):
    uri: str = Field(
        pattern=r"^https://[^\s]+$",
        max_length=253,
        description="HTTPS URL of the identity provider's JSON Web Key Set.",
    )


class ClaimToHeader(KaosModel):
    claim: str = Field(min_length=1, description="A claim of the token, e.g. sub.")
    header: HeaderName = Field(description="The request header it is copied to.")


class JwtProvider(KaosModel):
    name: str = Field(min_length=1, max_length=253, description="Unique among the providers.")
    issuer: str | None = Field(
        None, max_length=253, description="Required `iss` claim (any issuer when unset)."
    )
    audiences: Annotated[list[str], Field(max_length=8)] = Field(
        default_factory=list, description="Accepted `aud` values (any when empty)."
    )
    remote_jwks: RemoteJwks = Field(
        alias="remoteJWKS", description="Where the provider publishes its signing keys."
    )
    claim_to_headers: list[ClaimToHeader] = Field(
        default_factory=list, description="Claims passed to the workload as request headers."
    )


class JwtAuth(KaosModel):
    """Envoy Gateway `jwt`: a bearer token (Authorization: Bearer) from one of the providers."""

    providers: Annotated[list[JwtProvider], Field(min_length=1, max_length=16)] = Field(
        description="Identity providers; a token from any of them is accepted."
    )


class GatewayAuth(KaosModel):
    """Authentication of routed workloads. apiKey and jwt together: a request needs both."""

    api_key: ApiKeyAuth | None = Field(
        None, description="API keys from a referenced Secret (gateway.vendor: envoy)."
    )
    jwt: JwtAuth | None = Field(
        None, description="JWT bearer tokens checked against a remote JWKS (gateway.vendor: envoy)."
    )
    external: bool = Field(
        False,
        description="Authentication is enforced outside kaosgen (your gateway's own policy, "
        "a service mesh): kaosgen renders none and does not warn about unauthenticated routes.",
    )

    @property
    def rendered(self) -> bool:
        """Whether kaosgen renders a SecurityPolicy for it."""
        return self.api_key is not None or self.jwt is not None

    @property
    def authenticates(self) -> bool:
        return self.rendered or self.external


class RateLimit(KaosModel):
    """A local rate limit per route (Envoy Gateway BackendTrafficPolicy), per Envoy replica."""

    requests: Annotated[int, Field(ge=1, le=4294967295)] = Field(
        description="Requests allowed per unit of time."
    )
    unit: Literal["Second", "Minute", "Hour", "Day"] = Field("Minute", description="The time.")


class RouteSettings(KaosModel):
    """One workload's route (set only what differs; an environment's entry wins field by field)."""

    enabled: bool | None = Field(
        None,
        description="Route this workload (default: gateway.routes for its kind; agents need "
        "agentNetwork.expose).",
    )
    paths: list[PathGroup] | None = Field(
        None,
        description="Agents: private paths routed besides the public API (/v1/..., the A2A "
        "card and JSON-RPC paths): memory (/memory/..., every conversation), metrics, health "
        "(/health, /ready).",
    )
    full_api: bool | None = Field(
        None,
        description="ModelAPIs: route the server's whole API. By default a ModelAPI's route "
        "forwards only inference (OpenAI-compatible chat, completions, embeddings and model "
        "list; for Ollama also /api/generate, /api/chat, /api/embed, /api/embeddings, "
        "/api/tags, /api/show), never Ollama's model management (pull, push, create, copy, "
        "delete) or LiteLLM's admin and file APIs.",
    )
    auth: bool | None = Field(
        None,
        description="false: this route gets no authentication even when gateway.auth is set.",
    )
    rate_limit: RateLimit | None = Field(
        None, description="Overrides gateway.rateLimit for this route; null: no rate limit."
    )


class LabelSelectorRequirement(KaosModel):
    key: LabelKey = Field(description="A label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the label's value relates to values."
    )
    values: list[LabelValue] = Field(
        default_factory=list, description="For In and NotIn (empty for Exists, DoesNotExist)."
    )

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> LabelSelectorRequirement:
        # The API server refuses the NetworkPolicy otherwise.
        if self.operator in ("In", "NotIn") and not self.values:
            raise PydanticCustomError(
                "selector_values", "operator {op} needs at least one value", {"op": self.operator}
            )
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise PydanticCustomError(
                "selector_values",
                "operator {op} takes no values; remove them",
                {"op": self.operator},
            )
        return self


class LabelSelector(KaosModel):
    match_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Labels that must all be present with these values."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, description="Requirements that must all hold."
    )


class Caller(KaosModel):
    """Pods allowed to call a workload: a namespace, a namespace selector, a pod selector, or
    a namespace (selector) together with a pod selector (those pods in those namespaces)."""

    namespace: Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)] | None = Field(
        None, description="A namespace by name (kubernetes.io/metadata.name)."
    )
    namespace_selector: LabelSelector | None = Field(
        None, description="Namespaces by label; {} is every namespace."
    )
    pod_selector: LabelSelector | None = Field(
        None,
        description="Pods by label; alone, pods in the workload's own namespace.",
    )
