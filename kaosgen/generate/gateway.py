"""Gateway API HTTPRoutes in the KAOS shape, one per routed workload and environment.

Routes are environment-specific (parent Gateway, hostnames, and a path prefix that names
the namespace), so they are rendered into each overlay rather than the base.

An MCP server's route forwards everything under its prefix, as KAOS does. A ModelAPI's
forwards only inference (`route.fullApi` forwards everything): an authenticated caller must
not pull, delete or create Ollama models, nor reach LiteLLM's admin and file APIs. An
agent's forwards only its public API (`/v1/...`, the A2A card, and `POST /` where it
serves A2A JSON-RPC; `kaos_contract.env.AGENT_PUBLIC_PATHS`), one rule per path; its memory, metrics
and health endpoints stay in the cluster unless the route names them.
"""

from __future__ import annotations

from typing import Any

from kaos_contract import env as contract

from kaosgen.effective import Route
from kaosgen.generate import pods
from kaosgen.generate.templating import render
from kaosgen.graph import Workload
from kaosgen.models.common import label_value_ok
from kaosgen.models.project import ParentRef, Project

PREFIX_HEADER = "X-Forwarded-Prefix"

#: (match type, path, method) a ModelAPI's route forwards without `route.fullApi`.
#: OpenAI-compatible inference, which both servers answer under /v1.
OPENAI_INFERENCE_PATHS: tuple[tuple[str, str, str | None], ...] = (
    ("Exact", "/v1/chat/completions", None),
    ("Exact", "/v1/completions", None),
    ("Exact", "/v1/embeddings", None),
    ("PathPrefix", "/v1/models", None),
)
#: Ollama's native inference and read-only model information; not /api/pull, /api/push,
#: /api/create, /api/copy, /api/delete, /api/blobs (model management).
OLLAMA_INFERENCE_PATHS: tuple[tuple[str, str, str | None], ...] = (
    ("Exact", "/api/generate", None),
    ("Exact", "/api/chat", None),
    ("Exact", "/api/embed", None),
    ("Exact", "/api/embeddings", None),
    ("Exact", "/api/tags", None),
    ("Exact", "/api/show", None),
    ("Exact", "/api/version", None),
    *OPENAI_INFERENCE_PATHS,
)
#: LiteLLM also serves the OpenAI paths without /v1; not /key, /user, /model, /config,
#: /v1/files, /v1/batches, /v1/fine_tuning (its admin API and the provider's stateful one).
LITELLM_INFERENCE_PATHS: tuple[tuple[str, str, str | None], ...] = (
    *OPENAI_INFERENCE_PATHS,
    ("Exact", "/chat/completions", None),
    ("Exact", "/completions", None),
    ("Exact", "/embeddings", None),
    ("PathPrefix", "/models", None),
)


def route_path(node: Workload, namespace: str) -> str:
    return f"/{namespace}/{node.route_segment}/{node.name}"


def agent_paths(route: Route) -> list[tuple[str, str, str | None]]:
    """(match type, path in the pod, method) of every path an agent's route forwards."""
    paths = [*contract.AGENT_PUBLIC_PATHS, *contract.AGENT_A2A_PATHS]
    for group in route.paths:
        paths.extend(contract.AGENT_PRIVATE_PATHS[group])
    return paths


def modelapi_paths(node: Workload, route: Route) -> list[tuple[str, str, str | None]]:
    """(match type, path in the pod, method) of every path a ModelAPI's route forwards."""
    if route.full_api:
        return [("PathPrefix", "/", None)]
    hosted = getattr(node, "mode", None) == "Hosted"
    return list(OLLAMA_INFERENCE_PATHS if hosted else LITELLM_INFERENCE_PATHS)


def _rule(
    prefix: str,
    kind: str,
    path: str,
    method: str | None,
    backend: dict,
    timeouts: Any,
    host: str | None = None,
) -> dict[str, Any]:
    """Forward `<prefix><path>` to `<path>` in the pod (`/` for the prefix itself), with
    the Host header rewritten to `host` when given.

    The rule that serves the A2A card (and a ModelAPI's or MCP server's one rule) also
    sets X-Forwarded-Prefix, from which the runtime builds the card's public URL.
    """
    if kind == "PathPrefix":
        values = [prefix + path.rstrip("/")]
        rewrite = {"type": "ReplacePrefixMatch", "replacePrefixMatch": path}
    elif path == "/":
        values = [prefix, prefix + "/"]
        rewrite = {"type": "ReplaceFullPath", "replaceFullPath": "/"}
    else:
        values = [prefix + path]
        rewrite = {"type": "ReplaceFullPath", "replaceFullPath": path}
    matches = []
    for value in values:
        match: dict[str, Any] = {"path": {"type": kind, "value": value}}
        if method:
            match["method"] = method
        matches.append(match)
    filters: list[dict[str, Any]] = []
    if path in ("/", contract.WELL_KNOWN_PATH) and method is None:
        filters.append(
            {
                "type": "RequestHeaderModifier",
                "requestHeaderModifier": {"set": [{"name": PREFIX_HEADER, "value": prefix}]},
            }
        )
    url_rewrite: dict[str, Any] = {"path": rewrite}
    if host is not None:
        url_rewrite["hostname"] = host
    filters.append({"type": "URLRewrite", "urlRewrite": url_rewrite})
    rule: dict[str, Any] = {
        "matches": matches,
        "filters": filters,
        "backendRefs": [dict(backend)],
    }
    if timeouts is not None:
        rule["timeouts"] = dict(timeouts)
    return rule


def rendered_gateway_section(project: Project, parent: ParentRef) -> str | None:
    """The listener of the Gateway kaosgen renders (`vendor: envoy`) that routes attach to:
    with `gateway.tls` the HTTPS one (port 80 only redirects), else any."""
    platform = project.gateway.parent_ref
    ours = project.gateway.vendor == "envoy" and (parent.name, parent.namespace) == (
        platform.name,
        platform.namespace,
    )
    return "https" if ours and project.gateway.tls is not None else None


def httproute(
    node: Workload,
    project: Project,
    *,
    namespace: str,
    parent: ParentRef,
    hostnames: list[str],
    route: Route,
) -> dict[str, Any]:
    timeout = node.gateway_timeout or project.gateway.timeouts.get(node.route_segment, "120s")
    timeouts = None if timeout == "0s" else {"request": timeout}
    parent_ref = {
        "name": parent.name,
        "namespace": parent.namespace,
        "sectionName": parent.section_name or rendered_gateway_section(project, parent),
    }
    prefix = route_path(node, namespace)
    backend = {"name": node.object_name, "port": node.port}
    if node.kind == "Agent":
        rules = [_rule(prefix, *p, backend, timeouts) for p in agent_paths(route)]
    elif node.kind == "ModelAPI":
        rules = [_rule(prefix, *p, backend, timeouts) for p in modelapi_paths(node, route)]
    else:
        # An MCP server answers only Hosts it knows (DNS-rebinding protection): through the
        # gateway, requests carry its Service's name, as they do inside the cluster,
        # whatever hostname the client used.
        host = node.object_name if node.kind == "MCPServer" else None
        rules = [_rule(prefix, "PathPrefix", "/", None, backend, timeouts, host)]
    route = render(
        "httproute.json.j2",
        name=node.route_name,
        namespace=node.namespace,
        labels=pods.object_labels(node, project.labels),
        annotations=None,
        parent_ref={k: v for k, v in parent_ref.items() if v is not None},
        hostnames=hostnames or None,
    )
    # Built here as data (no user text in them): an agent's dozen rules need no trip
    # through the template's JSON.
    route["spec"]["rules"] = rules
    return route


def gateway_ingress_policy(
    node: Workload, project: Project, parent: ParentRef, cache: dict[tuple, Any]
) -> dict[str, Any]:
    """Let the Gateway's proxies reach one routed workload, on its port only.

    One policy per routed workload (not a label every exposed pod carries): a ModelAPI or
    MCP server that is not routed in this environment accepts nothing from the gateway.
    The same in every environment with the same Gateway: rendered once.
    """
    key = ("gateway-ingress", node.kind, *node.key, parent.namespace, parent.name)
    if key not in cache:
        cache[key] = _gateway_ingress_policy(node, project, parent)
    return cache[key]


#: The label Gateway API implementations that deploy a Gateway's proxies put on their pods
#: (GEP-1762: Istio, NGINX Gateway Fabric, kgateway, ...).
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def gateway_source(parent: ParentRef) -> dict[str, Any]:
    """Who the gateway is, as a NetworkPolicy peer: the pods of its namespace; a Gateway in
    the workloads' own namespace (no parentRef.namespace), only its proxies, by their
    GEP-1762 label: every pod of the namespace would reach a routed MCP server or ModelAPI
    past the gateway's authentication."""
    if parent.namespace:
        return {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": parent.namespace}}
        }
    if not label_value_ok(parent.name):  # no implementation can label its pods so
        return {"podSelector": {}}
    return {"podSelector": {"matchLabels": {GATEWAY_NAME_LABEL: parent.name}}}


def _gateway_ingress_policy(node: Workload, project: Project, parent: ParentRef) -> dict[str, Any]:
    source = gateway_source(parent)
    return render(
        "networkpolicy.json.j2",
        name=f"{node.object_name}-gateway",
        namespace=node.namespace,
        labels=pods.object_labels(node, project.labels),
        annotations=None,
        pod_selector={"matchLabels": node.selector},
        policy_types=["Ingress"],
        ingress=[{"from": [source], "ports": [{"protocol": "TCP", "port": node.port}]}],
        egress=None,
    )
