"""The resolve pass: normalise every KAOS era into graph nodes and link references.

Deprecated forms become their current-era equivalents with a warning that points at the
old field; they never fail the build. References (modelAPI, mcpServers, agentNetwork.access)
are looked up within the namespace; a missing target is an error at the reference.
"""

from __future__ import annotations

from typing import Any

from kaosgen.diagnostics import Diagnostics
from kaosgen.graph import AgentNode, Graph, MCPServerNode, ModelAPINode, Workload
from kaosgen.models.agent import Agent
from kaosgen.models.common import Container, EnvVar, ObjectMeta
from kaosgen.models.mcpserver import MCPServer
from kaosgen.models.modelapi import ModelAPI
from kaosgen.source import Document

Typed = Agent | ModelAPI | MCPServer


def _deprecated(diags: Diagnostics, doc: Document, path: tuple, old: str, new: str) -> None:
    diags.warning(
        "deprecated-field",
        f"{old} is deprecated; kaosgen reads it as {new}",
        doc.location(path, key=True),
        hint=f"move it to {new}",
    )


def _base_fields(meta: ObjectMeta, doc: Document, container: Container | None) -> dict[str, Any]:
    container = container or Container()
    return {
        "name": meta.name,
        "namespace": meta.namespace,
        "doc": doc,
        "labels": dict(meta.labels or {}),
        "annotations": dict(meta.annotations or {}),
        "image": container.image,
        "command": container.command,
        "args": container.args,
        "resources": container.resources,
        "env": list(container.env or []),
    }


def _pod_spec(
    value: dict[str, Any] | None, doc: Document, diags: Diagnostics
) -> dict[str, Any] | None:
    """The user's podSpec, if the parts kaosgen merges and checks have the right types."""
    if value is None:
        return None
    from kaosgen.models.podspec import PodSpecPatch
    from kaosgen.schema_check import check_document

    return value if check_document(doc, PodSpecPatch, diags, at=("spec", "podSpec")) else None


def _take_legacy_env(
    node: Workload,
    legacy: list[EnvVar] | None,
    diags: Diagnostics,
    doc: Document,
    path: tuple,
    old: str,
) -> None:
    """An old-era env list: warn at it and merge it into the node's container env."""
    if legacy:
        _deprecated(diags, doc, path, old, "spec.container.env")
        node.env = _merge_env(node.env, legacy)


def _merge_env(primary: list[EnvVar], legacy: list[EnvVar] | None) -> list[EnvVar]:
    """Old-era env first, current `container.env` after it (a duplicate name: current wins)."""
    if not legacy:
        return primary
    names = {e.name for e in primary}
    return [e for e in legacy if e.name not in names] + primary


def _modelapi(res: ModelAPI, doc: Document, diags: Diagnostics) -> ModelAPINode:
    spec = res.spec
    node = ModelAPINode(**_base_fields(res.metadata, doc, spec.container), mode=spec.mode)
    node.pod_spec = _pod_spec(spec.pod_spec, doc, diags)
    node.telemetry = spec.telemetry
    node.gateway_timeout = spec.gateway_route.timeout if spec.gateway_route else None
    proxy, hosted = spec.proxy_config, spec.hosted_config
    if proxy:
        models = list(proxy.models or [])
        if proxy.model:
            _deprecated(
                diags,
                doc,
                ("spec", "proxyConfig", "model"),
                "proxyConfig.model",
                "proxyConfig.models",
            )
            if proxy.model not in models:
                models.insert(0, proxy.model)
        node.models = models
        node.provider = proxy.provider
        node.api_base = proxy.api_base
        node.api_key = proxy.api_key
        node.config_yaml = proxy.config_yaml
        _take_legacy_env(
            node, proxy.env, diags, doc, ("spec", "proxyConfig", "env"), "proxyConfig.env"
        )
    if hosted:
        node.hosted_model = hosted.model
        _take_legacy_env(
            node, hosted.env, diags, doc, ("spec", "hostedConfig", "env"), "hostedConfig.env"
        )
    if spec.mode == "Proxy" and not proxy:
        diags.error(
            "modelapi-config",
            "mode Proxy needs spec.proxyConfig with at least one model",
            doc.location(("spec", "mode")),
            hint="add proxyConfig: {models: [...]}",
        )
    elif spec.mode == "Proxy" and not node.models and not (proxy and proxy.config_yaml):
        diags.error(
            "modelapi-config",
            "proxyConfig needs `models` (at least one model name, `*` or `provider/*`)",
            doc.location(("spec", "proxyConfig"), key=True),
        )
    if spec.mode == "Hosted" and not hosted:
        diags.error(
            "modelapi-config",
            "mode Hosted needs spec.hostedConfig.model (the Ollama model to serve)",
            doc.location(("spec", "mode")),
            hint="add hostedConfig: {model: smollm2:135m}",
        )
    return node


def _mcpserver(res: MCPServer, doc: Document, diags: Diagnostics) -> MCPServerNode:
    spec = res.spec
    node = MCPServerNode(**_base_fields(res.metadata, doc, spec.container))
    node.pod_spec = _pod_spec(spec.pod_spec, doc, diags)
    node.telemetry = spec.telemetry
    node.gateway_timeout = spec.gateway_route.timeout if spec.gateway_route else None
    node.service_account_name = spec.service_account_name
    node.params = spec.params
    if spec.runtime and spec.type:
        diags.error(
            "mcpserver-runtime",
            "set either spec.runtime (current) or spec.type (deprecated), not both",
            doc.location(("spec", "type"), key=True),
        )
    if spec.runtime:
        node.runtime = spec.runtime
        if spec.config:
            diags.error(
                "mcpserver-runtime",
                "spec.config belongs to the deprecated spec.type form; with spec.runtime use params and container.env",
                doc.location(("spec", "config"), key=True),
            )
        return node
    if not spec.type:
        diags.error(
            "mcpserver-runtime",
            "missing spec.runtime (e.g. python-string, kubernetes, slack, custom)",
            doc.location(("spec",), key=True),
            hint="add `runtime: python-string` with the tool source in `params`",
        )
        node.runtime = ""  # nothing to check or render
        return node
    _deprecated(diags, doc, ("spec", "type"), f"spec.type: {spec.type}", "spec.runtime")
    config = spec.config
    tools = config.tools if config else None
    _deprecated_mcp_config(diags, doc, spec.type, config)
    if config and config.env:
        node.env = _merge_env(node.env, config.env)
    if config and config.telemetry and not node.telemetry:
        node.telemetry = config.telemetry
    if spec.type == "node-runtime":
        node.runtime = "node-package"
        node.package = (config.mcp if config else None) or (tools.from_package if tools else None)
    elif tools and tools.from_string is not None:
        node.runtime, node.params = "python-string", tools.from_string
    elif tools and tools.from_secret_key_ref:
        node.runtime, node.source_secret = "python-secret", tools.from_secret_key_ref
    else:
        node.runtime = "python-package"
        node.package = (tools.from_package if tools else None) or (config.mcp if config else None)
    if node.runtime.endswith("-package") and not node.package:
        diags.error(
            "mcpserver-runtime",
            f"spec.type {spec.type} needs config.tools (fromString, fromPackage or fromSecretKeyRef) or config.mcp",
            doc.location(("spec", "config") if config else ("spec", "type"), key=True),
        )
    return node


def _deprecated_mcp_config(diags: Diagnostics, doc: Document, kind: str, config: Any) -> None:
    """A warning at each old-era `spec.config` field, saying what kaosgen makes of it."""
    if config is None:
        return
    tools = config.tools
    at = ("spec", "config")
    package = (
        "the npm package run with npx"
        if kind == "node-runtime"
        else "runtime: python-package with params"
    )
    if tools and tools.from_string is not None:
        _deprecated(
            diags,
            doc,
            (*at, "tools", "fromString"),
            "config.tools.fromString",
            "runtime: python-string with params",
        )
    if tools and tools.from_package is not None:
        _deprecated(diags, doc, (*at, "tools", "fromPackage"), "config.tools.fromPackage", package)
    if tools and tools.from_secret_key_ref is not None:
        diags.warning(
            "deprecated-field",
            "config.tools.fromSecretKeyRef is deprecated; kaosgen reads it as the tool source from a Secret",
            doc.location((*at, "tools", "fromSecretKeyRef"), key=True),
            hint="the current KAOS form has no Secret source: move the source to params, or keep this form",
        )
    if config.mcp is not None:
        _deprecated(diags, doc, (*at, "mcp"), "config.mcp", package)
    if config.env:
        _deprecated(diags, doc, (*at, "env"), "config.env", "spec.container.env")
    if config.telemetry is not None:
        _deprecated(diags, doc, (*at, "telemetry"), "config.telemetry", "spec.telemetry")


def _agent(res: Agent, doc: Document, diags: Diagnostics) -> AgentNode:
    spec = res.spec
    node = AgentNode(**_base_fields(res.metadata, doc, spec.container))
    node.pod_spec = _pod_spec(spec.pod_spec, doc, diags)
    node.gateway_timeout = spec.gateway_route.timeout if spec.gateway_route else None
    node.model_api_name = spec.model_api
    node.mcp_server_names = list(spec.mcp_servers)
    node.wait_for_dependencies = spec.wait_for_dependencies
    network = spec.agent_network
    node.expose = network.expose if network else True
    node.access = list(network.access) if network else []
    config = spec.config
    if config:
        node.description = config.description
        node.instructions = config.instructions
        node.max_steps = config.reasoning_loop_max_steps
        node.tool_call_mode = config.tool_call_mode
        node.telemetry = config.telemetry
        if config.memory:
            memory = config.memory
            node.memory_explicit = True
            node.memory_enabled = memory.enabled
            node.memory_type = memory.type if memory.enabled else "null"
            node.context_limit = memory.context_limit
            node.max_sessions = memory.max_sessions
            node.max_session_events = memory.max_session_events
        _take_legacy_env(node, config.env, diags, doc, ("spec", "config", "env"), "spec.config.env")
    node.model = spec.model or ""
    return node


def build_nodes(typed: list[tuple[Typed, Document]], diags: Diagnostics) -> Graph:
    graph = Graph()
    for res, doc in typed:
        if isinstance(res, Agent):
            graph.agents.append(_agent(res, doc, diags))
        elif isinstance(res, ModelAPI):
            graph.modelapis.append(_modelapi(res, doc, diags))
        else:
            graph.mcpservers.append(_mcpserver(res, doc, diags))
    return graph


def _index(nodes: list[Workload], diags: Diagnostics) -> dict[tuple[str, str], Any]:
    index: dict[tuple[str, str], Any] = {}
    for node in nodes:
        if node.key in index:
            first = index[node.key].doc
            where = f"{first.path}:{first.location(('metadata', 'name')).line}"
            diags.error(
                "duplicate-resource",
                f"duplicate {node.kind} {node.name!r} in namespace {node.namespace or 'default'!r} (first defined at {where})",
                node.doc.location(("metadata", "name")),
                hint="rename one of them or put them in different namespaces",
            )
            continue
        index[node.key] = node
    return index


def _ref_error(
    diags: Diagnostics, node: Workload, path: tuple, kind: str, name: str, known: list[str]
) -> None:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    ns = node.namespace or "default"
    diags.error(
        f"ref-{kind.lower()}",
        f"{kind} {name!r} not found in namespace {ns!r}",
        node.doc.location(path),
        hint=f"did you mean {close[0]!r}?"
        if close
        else f"define a {kind} named {name!r} in namespace {ns!r}",
    )


def link(graph: Graph, diags: Diagnostics) -> None:
    """Resolve references in place and fill an omitted Agent.spec.model."""
    modelapis = _index(graph.modelapis, diags)
    mcps = _index(graph.mcpservers, diags)
    agents = _index(graph.agents, diags)
    # In (namespace, name) order, not the documents' order: moving a document to another
    # file changes no byte of the output and no workload's shard.
    graph.modelapis = [modelapis[key] for key in sorted(modelapis)]
    graph.mcpservers = [mcps[key] for key in sorted(mcps)]
    graph.agents = [agents[key] for key in sorted(agents)]
    for agent in graph.agents:
        ns = agent.namespace or ""

        def names(index: dict, ns: str = ns) -> list[str]:
            return [n for (space, n) in index if space == ns]

        agent.model_api = modelapis.get((ns, agent.model_api_name))
        if agent.model_api is None:
            _ref_error(
                diags,
                agent,
                ("spec", "modelAPI"),
                "ModelAPI",
                agent.model_api_name,
                names(modelapis),
            )
        for i, name in enumerate(agent.mcp_server_names):
            server = mcps.get((ns, name))
            if server is None:
                _ref_error(diags, agent, ("spec", "mcpServers", i), "MCPServer", name, names(mcps))
            elif server not in agent.mcp_servers:
                agent.mcp_servers.append(server)
        for i, name in enumerate(agent.access):
            peer = agents.get((ns, name))
            if peer is None:
                _ref_error(
                    diags,
                    agent,
                    ("spec", "agentNetwork", "access", i),
                    "Agent",
                    name,
                    names(agents),
                )
            elif peer is not agent and peer not in agent.peers:
                agent.peers.append(peer)
        if not agent.model:
            _fill_model(agent, diags)


def _fill_model(agent: AgentNode, diags: Diagnostics) -> None:
    """Older documents omit spec.model: MODEL_NAME from env, else the Hosted model."""
    from_env = next((e.value for e in agent.env if e.name == "MODEL_NAME" and e.value), None)
    hosted = (
        agent.model_api.hosted_model
        if agent.model_api and agent.model_api.mode == "Hosted"
        else None
    )
    model = from_env or hosted
    location = agent.doc.location(("spec", "modelAPI"), key=True)
    if model:
        source = "its MODEL_NAME env" if from_env else f"ModelAPI {agent.model_api_name!r}"
        diags.warning(
            "deprecated-field",
            f"Agent without spec.model is deprecated; using {model!r} from {source}",
            location,
            hint=f"add `model: {model}` to spec",
        )
        agent.model = model
    elif agent.model_api is not None:
        diags.error(
            "model-missing",
            "spec.model is required (the ModelAPI is not Hosted, so no default model exists)",
            location,
            hint="add spec.model, one of the ModelAPI's proxyConfig.models",
        )


def resolve(typed: list[tuple[Typed, Document]], diags: Diagnostics) -> Graph:
    graph = build_nodes(typed, diags)
    link(graph, diags)
    return graph
