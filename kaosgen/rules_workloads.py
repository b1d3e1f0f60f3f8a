"""Checks of what kaosgen.yaml asks of each workload in each environment.

Routes and their authentication, in-cluster callers, autoscaling, and the size and
storage of Hosted models. They read the same merged settings the layout pass renders
(`kaosgen.effective`), so what is checked is what is rendered. Like every rule, they only
report; locations point at the kaosgen.yaml entry that asked for the thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kaos_contract import env as contract

from kaosgen import effective, rules_egress
from kaosgen.diagnostics import Diagnostics, Location
from kaosgen.generate import modelsize, scaling
from kaosgen.generate.workloads import resource_kind
from kaosgen.graph import AgentNode, Graph, ModelAPINode, Workload
from kaosgen.models.project import Environment, Project

_EXPOSURE = {
    "ModelAPI": "anyone who reaches the gateway can spend your LLM budget",
    "MCPServer": "anyone who reaches the gateway can run its tools",
}
_AUTH_HINT = (
    "set gateway.auth (apiKey or jwt, with gateway.vendor: envoy), or auth.external: true "
    "when your gateway authenticates requests itself"
)
_STOCK_OLLAMA = "docker.io/ollama/ollama"
#: What a kind's route forwards (for route settings that do not apply to it).
_FORWARDS = {
    "Agent": "an agent's route forwards its public API plus route.paths",
    "ModelAPI": "a ModelAPI's route forwards its inference paths (everything with "
    "route.fullApi: true)",
    "MCPServer": "an MCP server's route forwards everything under its prefix",
}


class _Where:
    """Locations in kaosgen.yaml, most specific first (None without a kaosgen.yaml)."""

    def __init__(self, doc: Any) -> None:
        self.doc = doc

    def has(self, path: tuple) -> bool:
        return self.doc is not None and tuple(path) in self.doc.values

    def first(self, *paths: tuple, key: bool = False) -> Location | None:
        if self.doc is None:
            return None
        for path in paths:
            if self.has(path):
                return self.doc.location(path, key=key)
        return self.doc.location(paths[-1] if paths else (), key=key)

    def workload(self, env_name: str, ref: str, *field: str) -> Location | None:
        """`environments.<env>.workloads.<ref>.<field>`, else the project-level entry."""
        return self.first(
            ("environments", env_name, "workloads", ref, *field),
            ("workloads", ref, *field),
            ("environments", env_name, "workloads", ref),
            ("workloads", ref),
        )


def _environments(project: Project) -> Iterator[tuple[str, Environment]]:
    return iter(sorted(project.environments.items()))


def _names(envs: list[str]) -> str:
    return ", ".join(repr(e) for e in envs)


# --- references ---------------------------------------------------------------------------


def check_workload_refs(graph: Graph, project: Project, diags: Diagnostics, where: _Where) -> None:
    """Top-level `workloads` keys name rendered workloads (environments' are checked by
    `rules.check_overrides`)."""
    refs = {w.ref for w in graph.workloads()}
    for ref in project.workloads:
        if ref not in refs and where.doc is not None:
            diags.error(
                "ref-workload",
                f"workloads names {ref!r}, which is not a rendered workload",
                where.doc.location(("workloads", ref), key=True),
                hint="use agent/<name>, modelapi/<name> or mcpserver/<name>",
            )


def _settings(project: Project, node: Workload) -> Iterator[tuple[str, Environment, Any]]:
    for env_name, env in _environments(project):
        yield env_name, env, effective.workload(project, env, node.ref)


# --- routes and authentication --------------------------------------------------------------


def check_gateway_auth(project: Project, diags: Diagnostics, where: _Where) -> None:
    """Authentication and rate limits are rendered for Envoy Gateway only; JWT providers
    need distinct names."""
    blocks: list[tuple[tuple, Any, Any]] = [
        (("gateway",), project.gateway.auth, project.gateway.rate_limit)
    ]
    for env_name, env in _environments(project):
        if env.gateway is not None:
            blocks.append(
                (("environments", env_name, "gateway"), env.gateway.auth, env.gateway.rate_limit)
            )
    for path, auth, rate_limit in blocks:
        if auth is not None and auth.jwt is not None:
            seen: set[str] = set()
            for i, provider in enumerate(auth.jwt.providers):
                if provider.name in seen:
                    diags.error(
                        "gateway-auth",
                        f"JWT provider name {provider.name!r} is used twice",
                        where.first((*path, "auth", "jwt", "providers", i, "name")),
                    )
                seen.add(provider.name)
        if project.gateway.vendor == "envoy":
            continue
        for field, value, what in (
            ("auth", auth is not None and auth.rendered, "authentication"),
            ("rateLimit", rate_limit is not None, "rate limits"),
        ):
            if value:
                diags.error(
                    "gateway-vendor",
                    f"kaosgen renders {what} for Envoy Gateway only, and gateway.vendor is "
                    f"{project.gateway.vendor!r}",
                    where.first((*path, field), key=True),
                    hint="set gateway.vendor: envoy; for another gateway configure its own "
                    "policy (docs/gateway.md) and set auth.external: true",
                )


def check_gateway_listeners(project: Project, diags: Diagnostics, where: _Where) -> None:
    """The Gateway kaosgen renders (`vendor: envoy`) takes routes on one listener: `http`,
    or with gateway.tls `https` (port 80 then only redirects). A sectionName naming another
    attaches the routes nowhere; without TLS, the credentials gateway.auth asks for cross
    the listener in clear."""
    gateway = project.gateway
    if gateway.tls is not None and gateway.vendor != "envoy":
        diags.error(
            "gateway-vendor",
            "gateway.tls configures the Gateway kaosgen renders for Envoy Gateway, and "
            f"gateway.vendor is {gateway.vendor!r}",
            where.first(("gateway", "tls"), key=True),
            hint="set gateway.vendor: envoy; with a Gateway of yours, give it an HTTPS listener "
            "and set gateway.parentRef.sectionName",
        )
        return
    if gateway.vendor != "envoy":
        return
    listener = "https" if gateway.tls is not None else "http"
    ours = (gateway.parent_ref.name, gateway.parent_ref.namespace)
    parents = [(("gateway", "parentRef", "sectionName"), gateway.parent_ref)]
    for env_name, env in _environments(project):
        if env.gateway is not None and env.gateway.parent_ref is not None:
            path = ("environments", env_name, "gateway", "parentRef", "sectionName")
            parents.append((path, env.gateway.parent_ref))
    for path, parent in parents:
        if parent.section_name in (None, listener) or (parent.name, parent.namespace) != ours:
            continue
        diags.error(
            "gateway-listener",
            f"sectionName {parent.section_name!r} is not a listener the rendered Gateway takes "
            f"routes on: it has {listener!r}{' (port 80 only redirects)' if gateway.tls else ''}",
            where.first(path),
            hint=f"remove sectionName, or set it to {listener!r}",
        )
    if gateway.tls is not None:
        return
    for env_name, env in _environments(project):
        settings = effective.gateway(project, env)
        if settings.enabled and settings.auth is not None and settings.auth.rendered:
            diags.warning(
                "gateway-plaintext",
                "the Gateway kaosgen renders listens on plain HTTP only: the API keys and "
                f"tokens gateway.auth asks for (environment {env_name!r}) cross it in clear",
                where.first(("gateway", "vendor")),
                hint="set gateway.tls.certificateSecret (a kubernetes.io/tls Secret, e.g. from "
                "cert-manager), or, when TLS ends in front of the gateway, turn this warning off "
                "(diagnostics.ignore)",
            )
            return


def check_routes(graph: Graph, project: Project, diags: Diagnostics, where: _Where) -> None:
    for node in graph.workloads():
        for env_name, env, settings in _settings(project, node):
            route = settings.route
            if route is None:
                continue
            loc = where.workload(env_name, node.ref, "route")
            if route.enabled and not node.exposed:
                diags.error(
                    "route-not-exposed",
                    f"agent {node.name!r} has agentNetwork.expose: false (no Service), so it "
                    f"cannot be routed (environment {env_name!r})",
                    loc,
                    hint=f"set agentNetwork.expose: true on {node.name!r}",
                )
            if route.paths and node.kind != "Agent":
                diags.error(
                    "route-paths",
                    f"route.paths is for agents; {_FORWARDS[node.kind]}",
                    where.workload(env_name, node.ref, "route", "paths"),
                )
            if route.full_api is not None and node.kind != "ModelAPI":
                diags.error(
                    "route-paths",
                    f"route.fullApi is for ModelAPIs; {_FORWARDS[node.kind]}",
                    where.workload(env_name, node.ref, "route", "fullApi"),
                    hint="remove fullApi",
                )
            if (
                route.rate_limit is not None
                and project.gateway.vendor != "envoy"
                and effective.route(project, env, node) is not None
            ):
                diags.error(
                    "gateway-vendor",
                    "kaosgen renders rate limits for Envoy Gateway only",
                    where.workload(env_name, node.ref, "route", "rateLimit"),
                    hint="set gateway.vendor: envoy",
                )
    _unauthenticated(graph, project, diags, where)
    _unused_gateway_routes(graph, project, diags)


def _unused_gateway_routes(graph: Graph, project: Project, diags: Diagnostics) -> None:
    """KAOS routes every workload; kaosgen routes a ModelAPI or MCP server only when asked.
    A `spec.gatewayRoute` on one that no environment routes says the author expected a
    route: say how to get one."""
    if not any(effective.gateway(project, env).enabled for env in project.environments.values()):
        return
    for node in [*graph.modelapis, *graph.mcpservers]:
        if "gatewayRoute" not in (node.doc.data.get("spec") or {}):
            continue
        if effective.routed_anywhere(project, node):
            continue
        diags.warning(
            "gateway-route-unused",
            f"{node.kind} {node.name!r} has spec.gatewayRoute but no environment routes it: "
            f"kaosgen routes {'ModelAPIs' if node.kind == 'ModelAPI' else 'MCP servers'} only "
            "when kaosgen.yaml asks",
            node.doc.location(("spec", "gatewayRoute"), key=True),
            hint=f"set workloads.{node.ref}.route.enabled: true in kaosgen.yaml (with "
            "gateway.auth), or remove spec.gatewayRoute",
        )


def _unauthenticated(graph: Graph, project: Project, diags: Diagnostics, where: _Where) -> None:
    """A routed ModelAPI or MCP server without authentication: one warning per workload;
    routed agents without authentication: one warning per environment."""
    for node in [*graph.modelapis, *graph.mcpservers]:
        envs = []
        for env_name, env in _environments(project):
            route = effective.route(project, env, node)
            if route is not None and not route.authenticated:
                envs.append(env_name)
        if envs:
            env_name = envs[0]
            diags.warning(
                "route-unauthenticated",
                f"{node.kind} {node.name!r} is routed through the gateway without "
                f"authentication (environment{'s' if len(envs) > 1 else ''} {_names(envs)}): "
                f"{_EXPOSURE[node.kind]}",
                where.first(
                    ("environments", env_name, "workloads", node.ref, "route", "enabled"),
                    ("workloads", node.ref, "route", "enabled"),
                    ("environments", env_name, "gateway", "routes", node.route_segment),
                    ("gateway", "routes", node.route_segment),
                    ("gateway",),
                ),
                hint=_AUTH_HINT,
            )
    for env_name, env in _environments(project):
        open_agents = [
            a.name
            for a in graph.agents
            if (r := effective.route(project, env, a)) is not None and not r.authenticated
        ]
        if open_agents:
            shown = ", ".join(repr(n) for n in open_agents[:5])
            more = f" and {len(open_agents) - 5} more" if len(open_agents) > 5 else ""
            diags.warning(
                "route-unauthenticated",
                f"environment {env_name!r} routes agent{'s' if len(open_agents) > 1 else ''} "
                f"{shown}{more} through the gateway without authentication: anyone who "
                "reaches the gateway can use them",
                where.first(("environments", env_name, "gateway"), ("gateway",), (), key=True),
                hint=_AUTH_HINT,
            )


# --- MCP sessions ----------------------------------------------------------------------------

_FALSE = ("false", "0", "no", "off")


def check_mcp_sessions(graph: Graph, project: Project, diags: Diagnostics) -> None:
    """A stateful MCP server (FASTMCP_STATELESS_HTTP=false) keeps sessions in the pod; with
    more than one replica the Service sends a client's next request to a pod that never
    saw its session (404 Session not found)."""
    for node in graph.mcpservers:
        setting = next((v for v in node.env if v.name == contract.MCP_STATELESS_HTTP), None)
        if setting is None or (setting.value or "").strip().lower() not in _FALSE:
            continue
        envs = [
            env_name
            for env_name, env in _environments(project)
            if effective.autoscaling(project, env, node) is not None
            or effective.replicas(project, env, node) > 1
        ]
        if envs:
            diags.warning(
                "mcp-stateful-replicas",
                f"MCPServer {node.name!r} is stateful ({contract.MCP_STATELESS_HTTP}=false) "
                f"but runs more than one replica in environment{'s' if len(envs) > 1 else ''} "
                f"{_names(envs)}: a Service balances connections, not MCP sessions, so a "
                "client's next request may reach a pod without its session",
                node.env_location(setting.name),
                hint="run one replica of a stateful MCP server, or leave it stateless (the default)",
            )


# --- in-cluster callers ---------------------------------------------------------------------


def check_callers(graph: Graph, project: Project, diags: Diagnostics, where: _Where) -> None:
    for node in graph.workloads():
        for env_name, _, settings in _settings(project, node):
            if not settings.callers:
                continue
            loc = where.workload(env_name, node.ref, "callers")
            if not node.exposed:
                diags.error(
                    "callers-no-service",
                    f"agent {node.name!r} has agentNetwork.expose: false (no Service): "
                    f"callers cannot reach it (environment {env_name!r})",
                    loc,
                    hint=f"set agentNetwork.expose: true on {node.name!r}",
                )
            if not project.security.network_policies:
                diags.warning(
                    "callers-no-policies",
                    "callers has no effect: security.networkPolicies is false (every pod may "
                    "call every workload)",
                    loc,
                )
            for i, caller in enumerate(settings.callers):
                if caller.namespace is not None and caller.namespace_selector is not None:
                    problem = "set namespace or namespaceSelector, not both"
                elif (
                    caller.namespace is None
                    and caller.namespace_selector is None
                    and caller.pod_selector is None
                ):
                    problem = "name a namespace, a namespaceSelector or a podSelector"
                else:
                    continue
                diags.error(
                    "callers-invalid",
                    f"callers entry {i + 1}: {problem}",
                    where.workload(env_name, node.ref, "callers", i),
                )


# --- autoscaling ----------------------------------------------------------------------------


def check_autoscaling(graph: Graph, project: Project, diags: Diagnostics, where: _Where) -> None:
    for node in graph.workloads():
        for env_name, env, settings in _settings(project, node):
            hpa = effective.autoscaling(project, env, node)
            if hpa is None:
                continue
            loc = where.first(
                ("environments", env_name, "workloads", node.ref, "autoscaling"),
                ("workloads", node.ref, "autoscaling"),
                ("environments", env_name, "autoscaling"),
                key=True,
            )
            low = hpa.min_replicas or 1
            if hpa.max_replicas is None:
                diags.error(
                    "autoscaling-range",
                    f"{node.ref} autoscales in environment {env_name!r} without maxReplicas",
                    loc,
                    hint="set autoscaling.maxReplicas",
                )
            elif hpa.max_replicas < low:
                diags.error(
                    "autoscaling-range",
                    f"{node.ref} in environment {env_name!r}: maxReplicas {hpa.max_replicas} "
                    f"is below minReplicas {low}",
                    loc,
                )
            if isinstance(node, AgentNode) and node.memory_enabled and node.memory_type == "local":
                diags.error(
                    "memory-autoscaling",
                    f"agent {node.name!r} keeps local memory but autoscales in environment "
                    f"{env_name!r}: each pod would hold different sessions",
                    loc,
                    hint="use memory type redis (components.redis: true gives one), so every "
                    "replica shares the sessions",
                )
            if settings.replicas is not None:
                diags.warning(
                    "autoscaling-replicas",
                    f"{node.ref} has replicas {settings.replicas} in environment {env_name!r}, "
                    "where an HPA owns the count: replicas is ignored",
                    where.workload(env_name, node.ref, "replicas"),
                    hint="set autoscaling.minReplicas instead",
                )
            requests = _effective_requests(node, project, env, settings)
            for metric in scaling.metrics(hpa):
                resource = metric["resource"]["name"]
                if resource not in requests:
                    diags.error(
                        "autoscaling-requests",
                        f"{node.ref} autoscales on {resource} in environment {env_name!r} but "
                        f"its container requests no {resource} (utilisation is a percent of "
                        "the request)",
                        loc,
                        hint=f"set resources.requests.{resource} for it",
                    )


def _effective_requests(node: Workload, project: Project, env: Environment, settings: Any) -> dict:
    """The main container's requests as rendered (limits stand in, as in Kubernetes)."""
    resources = settings.resources or node.resources
    if resources is None:
        resources = getattr(env.resources or project.resources, resource_kind(node))
    return {**(resources.limits or {}), **(resources.requests or {})}


# --- Hosted models: size and storage -------------------------------------------------------


def check_hosted_models(graph: Graph, project: Project, diags: Diagnostics, where: _Where) -> None:
    from kaosgen.generate.modelstorage import user_model_volume_sources
    from kaosgen.models.scaling import ModelStorage

    for node in graph.modelapis:
        hosted = node.mode == "Hosted"
        overridden = node.resources is not None or any(
            s.resources is not None for _, _, s in _settings(project, node)
        )
        unsized = node.pull_model and modelsize.parse(node.pull_model) is None
        if hosted and unsized and not overridden:
            default = project.resources.ollama
            diags.warning(
                "model-size-unknown",
                f"the tag {node.pull_model!r} names no size (like 8b or 135m), so kaosgen "
                f"cannot size the Ollama server: it gets the defaults (requests "
                f"{_quantities(default.requests)}, limits {_quantities(default.limits)})",
                node.doc.location(("spec", "hostedConfig", "model")),
                hint=f"name the size in the tag, or set workloads.{node.ref}.resources in "
                "kaosgen.yaml",
            )
        for env_name, env, settings in _settings(project, node):
            storage = settings.model_storage
            if storage is None:
                if hosted and not user_model_volume_sources(node):
                    at = (
                        where.workload(env_name, node.ref, "resources", "limits")
                        if settings.resources is not None or node.resources is None
                        else node.doc.location(("spec", "container", "resources", "limits"))
                    )
                    _check_emptydir_disk(node, project, env_name, env, ModelStorage(), diags, at)
                continue
            loc = where.workload(env_name, node.ref, "modelStorage")
            if not hosted:
                diags.error(
                    "model-storage",
                    f"modelStorage is for Hosted (Ollama) ModelAPIs; {node.name!r} is a Proxy",
                    loc,
                )
                continue
            _check_storage(node, project, env_name, env, storage, diags, where, loc)


def _check_storage(
    node: ModelAPINode,
    project: Project,
    env_name: str,
    env: Environment,
    storage: Any,
    diags: Diagnostics,
    where: _Where,
    loc: Location | None,
) -> None:
    from kaosgen.generate.modelstorage import (
        claim_name,
        claim_size,
        user_model_volume,
        user_model_volume_sources,
    )

    pull = storage.pull or ("Never" if storage.type == "Image" else "IfNotPresent")
    if storage.type == "PersistentVolumeClaim":
        own_claim = (user_model_volume(node).get("persistentVolumeClaim") or {}).get("claimName")
        replaced = [
            k
            for k in user_model_volume_sources(node)
            if k != "persistentVolumeClaim" or own_claim != claim_name(node, storage)
        ]
        if replaced:
            diags.note(
                "model-storage",
                f"in environment {env_name!r} the model volume of {node.name!r} is the claim: "
                f"it replaces the volume 'ollama-data' ({', '.join(replaced)}) of the "
                "ModelAPI's podSpec (a volume has one source)",
                where.workload(env_name, node.ref, "modelStorage", "type"),
                hint="to keep the podSpec's volume, drop modelStorage in this environment "
                "(modelStorage.existingClaim names a claim you made)",
            )
        if not storage.existing_claim and claim_size(node, storage) is None:
            diags.error(
                "model-storage",
                f"cannot size the model volume of {node.name!r}: the tag "
                f"{node.pull_model!r} names no size (environment {env_name!r})",
                loc,
                hint="set modelStorage.size, e.g. 20Gi",
            )
        if storage.access_modes == ["ReadOnlyMany"] and pull != "Never":
            diags.error(
                "model-storage",
                f"a ReadOnlyMany volume cannot take a pulled model (pull is {pull})",
                where.workload(env_name, node.ref, "modelStorage", "accessModes"),
                hint="pre-load the volume and set modelStorage.pull: Never",
            )
        hpa = effective.autoscaling(project, env, node)
        most = (hpa.max_replicas or 1) if hpa else effective.replicas(project, env, node)
        if most > 1 and "ReadWriteOnce" in storage.access_modes and len(storage.access_modes) == 1:
            diags.warning(
                "model-storage",
                f"{node.ref} may run {most} pods in environment {env_name!r} but its model "
                "volume is ReadWriteOnce: pods on other nodes cannot mount it",
                loc,
                hint="use accessModes [ReadWriteMany] (or a pre-loaded ReadOnlyMany "
                "existingClaim with pull: Never), or one replica",
            )
    elif storage.type == "Image":
        image = node.image or env.images.get("ollama") or project.images.ollama
        if image.startswith(_STOCK_OLLAMA + ":") or image.startswith(_STOCK_OLLAMA + "@"):
            diags.error(
                "model-storage",
                f"modelStorage type Image needs an image with the model baked in; {node.name!r} "
                f"runs the stock Ollama image {image!r}",
                loc,
                hint="set spec.container.image on the ModelAPI (docs/models.md shows how to "
                "build one)",
            )
    elif storage.type == "EmptyDir" and not user_model_volume_sources(node):
        _check_emptydir_disk(node, project, env_name, env, storage, diags, loc)
    if storage.pull == "Always" and storage.type == "Image":
        diags.error(
            "model-storage",
            "pull: Always cannot write into the image's read-only model directory",
            where.workload(env_name, node.ref, "modelStorage", "pull"),
        )


def _check_emptydir_disk(
    node: ModelAPINode,
    project: Project,
    env_name: str,
    env: Environment,
    storage: Any,
    diags: Diagnostics,
    loc: Location | None,
) -> None:
    """The kubelet evicts a pod whose emptyDirs pass its ephemeral-storage limit: a limit
    the user set below the model volume's size evicts the pod as the model is pulled."""
    from kaosgen import default_limits
    from kaosgen.generate.modelsize import model_disk, quantity
    from kaosgen.generate.modelstorage import emptydir_disk_limit

    settings = effective.workload(project, env, node.ref).resources
    # The container's own resources as rendered (kaosgen completes them only without limits).
    current = node.resources or default_limits.prior(node, project, env)
    if settings is not None:
        current = default_limits.layered(current, settings)
    explicit = node.resources is not None or (
        settings is not None and "ephemeral-storage" in (settings.limits or {})
    )
    limit = emptydir_disk_limit(storage, current, explicit) or (current.limits or {}).get(
        "ephemeral-storage"
    )
    size = storage.size or model_disk(node.pull_model)
    have, need = (quantity(limit) if limit is not None else None), quantity(size)
    if have is not None and need is not None and have < need:
        diags.warning(
            "model-storage",
            f"in environment {env_name!r} the model volume of {node.name!r} holds up to {size} "
            f"but its ephemeral-storage limit is {limit}: the kubelet evicts the pod before "
            "the model fits",
            loc,
            hint="raise resources.limits.ephemeral-storage above the volume's size, or keep "
            "the model on a PersistentVolumeClaim",
        )


# --- resources: limits never below requests ------------------------------------------------

_KIND_KEYS = {"agent": "agent", "mcp_server": "mcpServer", "litellm": "litellm", "ollama": "ollama"}


def _limits_below(
    diags: Diagnostics, what: str, resources: Any, at: Callable[[str], Location | None]
) -> bool:
    """An error per limit written below the request in the same block; True if any."""
    from kaosgen.default_limits import below_requests

    names = below_requests(resources)
    for name in names:
        diags.error(
            "resources-limits",
            f"{what} sets limits.{name}: {resources.limits[name]} below requests.{name}: "
            f"{resources.requests[name]}; the API server refuses such a pod",
            at(name),
            hint=f"raise limits.{name} to at least the request, or lower the request",
        )
    return bool(names)


def _readable(resources: Any) -> bool:
    """Every quantity parses (the ones that do not are errors of their own)."""
    from kaosgen.quantity import parse_quantity

    try:
        for section in (resources.requests, resources.limits):
            for value in (section or {}).values():
                parse_quantity(value)
    except ValueError:
        return False
    return True


def check_resource_quantities(project: Project, diags: Diagnostics, where: _Where) -> None:
    """Every quantity kaosgen.yaml writes into a container's resources is one the API server
    accepts (as `container.resources` in the documents)."""
    from kaosgen.quantity import parse_quantity

    blocks: list[tuple[tuple, Any]] = []
    levels = [((), project.resources, project.workloads)] + [
        (("environments", name), env.resources, env.workloads)
        for name, env in _environments(project)
    ]
    for prefix, kinds, workloads in levels:
        if kinds is not None:
            blocks += [
                ((*prefix, "resources", key), getattr(kinds, k)) for k, key in _KIND_KEYS.items()
            ]
        blocks += [
            ((*prefix, "workloads", ref, "resources"), s.resources)
            for ref, s in sorted(workloads.items())
            if s.resources is not None
        ]
    for path, resources in blocks:
        if not where.has(path):
            continue
        for section in ("requests", "limits"):
            for name, value in sorted((getattr(resources, section) or {}).items()):
                try:
                    parse_quantity(value)
                except ValueError:
                    diags.error(
                        "resources-quantity",
                        f"{'.'.join(path)}.{section}.{name}: {value!r} is not a Kubernetes "
                        "quantity",
                        where.first((*path, section, name), path),
                        hint="write e.g. 500m or 2 (CPU), 256Mi or 1Gi (memory): a non-negative "
                        "number with an optional suffix Ki, Mi, Gi, Ti, m, k, M, G or T",
                    )


def check_kind_resources(project: Project, diags: Diagnostics, where: _Where) -> None:
    """kaosgen.yaml's `resources` defaults per kind: limits not below requests, and a note
    where kaosgen adds its default limits (raised to the requests)."""
    from kaosgen.default_limits import completed_kinds, needs_limits

    levels = [((), project.resources)] + [
        (("environments", name), env.resources)
        for name, env in _environments(project)
        if env.resources is not None
    ]
    for prefix, kinds in levels:
        filled = completed_kinds(kinds)
        for kind, key in _KIND_KEYS.items():
            path = (*prefix, "resources", key)
            if not where.has(path):
                continue
            value = getattr(kinds, kind)
            if not _readable(value):
                continue
            if _limits_below(
                diags, ".".join(path), value, lambda n, p=path: where.first((*p, "limits", n), p)
            ):
                continue
            if needs_limits(value):
                limits = getattr(filled, kind).limits or {}
                diags.note(
                    "resources-default-limits",
                    f"{'.'.join(path)} sets no limits; kaosgen adds its default limits, each "
                    f"raised to the request: {_quantities(limits)}",
                    where.first(path, key=True),
                    hint=f"set {'.'.join(path)}.limits to choose them",
                )


def check_override_resources(
    graph: Graph, project: Project, diags: Diagnostics, where: _Where
) -> None:
    """`workloads.<ref>.resources`: a limit written there below the request is an error; a
    limit from an earlier level below it is raised (as rendered) with a note."""
    from kaosgen.default_limits import layered, override, prior

    for node in graph.workloads():
        for env_name, env, settings in _settings(project, node):
            resources = settings.resources
            if resources is None or not _readable(resources):
                continue
            at = where.workload(env_name, node.ref, "resources")
            # Set once at the top for every environment: said once, unless it differs.
            env_level = where.has(("environments", env_name, "workloads", node.ref, "resources"))
            scope = f"environment {env_name!r}: " if env_level else ""
            final = layered(prior(node, project, env), resources)
            own = final.model_copy(
                update={"limits": {k: v for k, v in (resources.limits or {}).items()}}
            )
            if _limits_below(
                diags,
                f"{scope}workloads.{node.ref}.resources",
                own,
                lambda n, e=env_name, r=node.ref: where.workload(e, r, "resources", "limits", n),
            ):
                continue
            _, raised = override(node, project, env, resources)
            if raised:
                diags.note(
                    "resources-default-limits",
                    f"{scope}workloads.{node.ref}.resources requests more "
                    f"than the limits it leaves to kaosgen's defaults (or the container's); "
                    f"kaosgen raises them to the request: {_quantities(raised)}",
                    at,
                    hint=f"set workloads.{node.ref}.resources.limits to choose them",
                )


def _quantities(values: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((values or {}).items())) or "none"


def check(graph: Graph, project: Project, diags: Diagnostics, project_doc: Any = None) -> None:
    where = _Where(project_doc)
    check_workload_refs(graph, project, diags, where)
    check_gateway_auth(project, diags, where)
    check_gateway_listeners(project, diags, where)
    check_routes(graph, project, diags, where)
    check_callers(graph, project, diags, where)
    rules_egress.check_egress(graph, project, diags, where)
    check_mcp_sessions(graph, project, diags)
    check_autoscaling(graph, project, diags, where)
    check_hosted_models(graph, project, diags, where)
    check_resource_quantities(project, diags, where)
    check_kind_resources(project, diags, where)
    check_override_resources(graph, project, diags, where)
