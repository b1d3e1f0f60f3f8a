"""The check pass: rules that need the whole linked graph and the project file.

Each rule has a stable id (shown as `[rule-id]`) so users can look it up and tools can
filter on it. Rules only report; they never change the graph.
"""

from __future__ import annotations

import re
from typing import Any

from kaos_contract import env as contract

from kaosgen import effective, rules_secrets, rules_secrets_text, rules_workloads
from kaosgen.diagnostics import Diagnostics
from kaosgen.graph import AgentNode, Graph, MCPServerNode, ModelAPINode, Workload
from kaosgen.models.common import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    DURATION_PATTERN,
    label_key_problem,
    label_value_ok,
)
from kaosgen.models.project import Project

_DNS1123 = re.compile(DNS1123_LABEL)
_DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN)
_DURATION = re.compile(DURATION_PATTERN)
#: Runtimes a user may name in spec.runtime.
BUILTIN_MCP_RUNTIMES = ("python-string", "python-package", "custom")
#: Runtimes only the resolve pass produces, from the old era's spec.type + config.
LEGACY_MCP_RUNTIMES = ("python-secret", "node-package")


def check_names(graph: Graph, diags: Diagnostics) -> None:
    for node in graph.workloads():
        loc = node.doc.location(("metadata", "name"))
        if not _DNS1123.fullmatch(node.name):
            diags.error(
                "name-dns1123",
                f"{node.kind} name {node.name!r} is not a valid DNS-1123 label",
                loc,
                hint="use lower-case letters, digits and '-', starting and ending with a letter or digit",
            )
            continue
        # Service names (DNS-1035 labels) and route names are limited to 63 characters;
        # ConfigMaps (`litellm-config-<name>`) may have up to 253.
        longest = max(len(node.object_name), len(node.route_name))
        if longest > 63:
            diags.error(
                "name-too-long",
                f"{node.kind} name {node.name!r} is too long: {node.object_name!r} has {len(node.object_name)} characters, the limit is 63",
                loc,
                hint=f"shorten the name to at most {63 - (longest - len(node.name))} characters",
            )
        if node.namespace is not None and not _DNS1123.fullmatch(node.namespace):
            diags.error(
                "name-dns1123",
                f"namespace {node.namespace!r} is not a valid DNS-1123 label",
                node.doc.location(("metadata", "namespace")),
            )


def check_models(graph: Graph, diags: Diagnostics) -> None:
    for agent in graph.agents:
        api = agent.model_api
        if api is None or not agent.model:
            continue
        if (api.models or api.mode == "Hosted") and not api.supports(agent.model):
            supported = [api.hosted_model or ""] if api.mode == "Hosted" else api.models
            diags.error(
                "model-unsupported",
                f"model {agent.model!r} is not supported by ModelAPI {api.name!r} (supports: {', '.join(supported)})",
                agent.doc.location(("spec", "model")),
                hint=_model_hint(agent.model, api, supported),
            )


def _model_hint(model: str, api: ModelAPINode, supported: list[str]) -> str:
    """What to change: the agent's model, or the ModelAPI field that lists its models."""
    if api.mode == "Hosted":
        return (
            f"a Hosted ModelAPI serves one model: use {supported[0]!r}, or change "
            f"hostedConfig.model of ModelAPI {api.name!r} to the model you want"
        )
    import difflib

    close = difflib.get_close_matches(model, [m for m in supported if "*" not in m], n=1)
    fix = f"add {model!r} to proxyConfig.models of ModelAPI {api.name!r}"
    return (
        f"did you mean {close[0]!r}? Otherwise {fix}"
        if close
        else f"use a supported model, or {fix}"
    )


def check_delegation(graph: Graph, diags: Diagnostics) -> None:
    for agent in graph.agents:
        for i, name in enumerate(agent.access):
            if name == agent.name:
                diags.error(
                    "self-delegation",
                    f"agent {agent.name!r} lists itself in agentNetwork.access",
                    agent.doc.location(("spec", "agentNetwork", "access", i)),
                    hint="remove it: an agent cannot delegate to itself",
                )
        for i, peer in enumerate(agent.peers):
            if not peer.expose:
                diags.error(
                    "ref-agent-not-exposed",
                    f"agent {agent.name!r} delegates to {peer.name!r}, which has agentNetwork.expose: false (no Service)",
                    agent.doc.location(
                        (
                            "spec",
                            "agentNetwork",
                            "access",
                            agent.access.index(peer.name) if peer.name in agent.access else i,
                        )
                    ),
                    hint=f"set agentNetwork.expose: true on {peer.name!r}",
                )
    _report_cycles(graph, diags)


def _report_cycles(graph: Graph, diags: Diagnostics) -> None:
    """Delegation cycles are allowed (the runtime's depth limit and model-call budget stop
    loops) but suspicious.

    Iterative depth-first search: delegation chains can be thousands of agents deep.
    """
    on_stack: set[int] = set()
    done: set[int] = set()
    reported: set[frozenset] = set()
    for root in graph.agents:
        if id(root) in done:
            continue
        path: list[AgentNode] = [root]
        iters = [iter(root.peers)]
        on_stack.add(id(root))
        while iters:
            peer = next(iters[-1], None)
            if peer is None:
                finished = path.pop()
                iters.pop()
                on_stack.discard(id(finished))
                done.add(id(finished))
                continue
            if id(peer) in on_stack:
                cycle = path[path.index(peer) :]
                members = frozenset(a.key for a in cycle)
                if len(cycle) > 1 and members not in reported:
                    reported.add(members)
                    names = [a.name for a in cycle] + [peer.name]
                    shown = " -> ".join(
                        names if len(names) <= 8 else [*names[:4], "...", *names[-3:]]
                    )
                    agent = path[-1]
                    diags.warning(
                        "delegation-cycle",
                        f"delegation cycle ({len(cycle)} agents): {shown}; the runtime's delegation depth limit and model-call budget (MODEL_CALL_BUDGET) stop runaway loops",
                        agent.doc.location(
                            ("spec", "agentNetwork", "access", agent.access.index(peer.name))
                        ),
                    )
            elif id(peer) not in done:
                path.append(peer)
                iters.append(iter(peer.peers))
                on_stack.add(id(peer))


def check_timeouts(project: Project, diags: Diagnostics, project_doc=None) -> None:
    for kind, value in project.gateway.timeouts.items():
        if not _DURATION.fullmatch(value):
            loc = project_doc.location(("gateway", "timeouts", kind)) if project_doc else None
            if loc:
                diags.error(
                    "gateway-timeout",
                    f"gateway timeout {value!r} is not a Gateway API duration",
                    loc,
                    hint='use e.g. "120s", "2m" or "1h30m"; "0s" disables the timeout',
                )


def check_api_keys(graph: Graph, project: Project, diags: Diagnostics) -> None:
    for api in graph.modelapis:
        key = api.api_key
        if key is None:
            continue
        path = ("spec", "proxyConfig", "apiKey")
        if key.value is not None and key.value_from is not None:
            diags.error(
                "api-key",
                "apiKey has both value and valueFrom; set one",
                api.doc.location(path, key=True),
            )
        elif key.value is not None and not project.security.allow_inline_api_keys:
            diags.error(
                "inline-api-key",
                "inline apiKey.value would write a secret into the rendered output",
                api.doc.location((*path, "value")),
                hint="use apiKey.valueFrom.secretKeyRef, or set security.allowInlineApiKeys: true in kaosgen.yaml",
            )
        elif key.value is None and key.value_from is None:
            diags.error(
                "api-key", "apiKey needs value or valueFrom", api.doc.location(path, key=True)
            )


def check_mcp_runtimes(graph: Graph, project: Project, diags: Diagnostics) -> None:
    known = set(BUILTIN_MCP_RUNTIMES) | set(project.images.mcp_runtimes)
    for server in graph.mcpservers:
        loc = server.doc.location(("spec", "runtime"))
        if not server.runtime:
            continue  # no runtime at all: already reported by the resolve pass
        written = (server.doc.data.get("spec") or {}).get("runtime") is not None
        allowed = known if written else known | set(LEGACY_MCP_RUNTIMES)
        if server.runtime not in allowed:
            diags.error(
                "mcpserver-runtime",
                f"unknown MCP runtime {server.runtime!r}",
                loc,
                hint=f"use one of {', '.join(sorted(known))}, or declare it under images.mcpRuntimes in kaosgen.yaml",
            )
        elif server.runtime == "custom" and not server.image:
            diags.error(
                "mcpserver-runtime",
                "runtime custom needs spec.container.image",
                loc,
                hint="add container: {image: <your MCP server image>}",
            )
        elif server.runtime == "python-string":
            _check_python_source(server, diags)
        elif server.runtime == "python-package" and not (server.package or server.params):
            diags.error(
                "mcpserver-runtime", "runtime python-package needs params (the package name)", loc
            )


def _check_python_source(server: MCPServerNode, diags: Diagnostics) -> None:
    """Tool source that does not compile fails here, not at pod start."""
    legacy = server.params is not None and server.doc.data.get("spec", {}).get("params") is None
    path = ("spec", "config", "tools", "fromString") if legacy else ("spec", "params")
    source = server.params
    if not source or not source.strip():
        diags.error(
            "mcpserver-source",
            "python-string needs the tool source (Python functions) in params",
            server.doc.location(path if source is not None else ("spec", "runtime")),
        )
        return
    import ast

    try:
        tree = ast.parse(source, filename=f"{server.name}.py")
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL character in the source
        lineno = getattr(exc, "lineno", None) or 1
        msg = getattr(exc, "msg", None) or str(exc)
        diags.error(
            "mcpserver-source",
            f"tool source does not compile: {msg} (line {lineno} of the source)",
            server.doc.position_in_scalar(path, lineno, getattr(exc, "offset", None) or 1),
            hint="fix the Python syntax of the tool functions",
        )
        return
    if not any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")
        for n in tree.body
    ):
        diags.error(
            "mcpserver-source",
            "tool source defines no public function; each top-level function becomes a tool",
            server.doc.location(path),
        )


def check_env(graph: Graph, project: Project, diags: Diagnostics) -> None:
    from kaosgen.generate.workloads import replaced_user_env

    for agent in graph.agents:
        for name in replaced_user_env(agent, project):
            var = next(v for v in agent.env if v.name == name)
            if var.name == "MODEL_NAME" and var.value == agent.model:
                continue  # an old document naming its model this way: already used
            diags.warning(
                "env-override",
                f"{var.name} is set by kaosgen from the resource graph; the value in container.env is ignored",
                agent.env_location(var.name),
                hint="remove it from container.env and set the corresponding spec field",
            )


#: Agent variables a user may set in container.env that must be integers in a range
#: (the runtime refuses to start otherwise: say so at compile time, with the line).
_INT_ENV = {"MODEL_CALL_BUDGET": (1, 10000)}


def check_env_values(graph: Graph, diags: Diagnostics) -> None:
    for agent in graph.agents:
        for var in agent.env:
            bounds = _INT_ENV.get(var.name)
            if bounds is None or var.value is None:
                continue
            low, high = bounds
            value = var.value.strip()
            if not (value.lstrip("-").isdigit() and low <= int(value) <= high):
                diags.error(
                    "env-value",
                    f"{var.name} must be an integer from {low} to {high}, got {var.value!r}",
                    agent.env_location(var.name),
                    hint=f"the agent would not start; {var.name} defaults to "
                    f"{contract.AGENT_ENV_BY_NAME[var.name].default}",
                )


def check_telemetry(graph: Graph, diags: Diagnostics) -> None:
    for api in graph.modelapis:
        if api.mode == "Hosted" and api.telemetry and api.telemetry.enabled:
            diags.warning(
                "telemetry-unsupported",
                "Ollama (mode Hosted) has no OpenTelemetry export; spec.telemetry is ignored",
                api.doc.location(("spec", "telemetry"), key=True),
                hint="enable telemetry on the agents that use this ModelAPI instead",
            )


def check_memory(graph: Graph, project: Project, diags: Diagnostics) -> None:
    for agent in graph.agents:
        if agent.memory_type == "redis":
            has_url = any(e.name == "MEMORY_REDIS_URL" for e in agent.env)
            if not has_url and not project.components.redis:
                diags.error(
                    "memory-redis-url",
                    "memory type redis needs MEMORY_REDIS_URL in container.env, or components.redis: true in kaosgen.yaml",
                    agent.doc.location(("spec", "config", "memory", "type")),
                )
        if agent.memory_type == "local" and agent.memory_enabled:
            for env_name, env in sorted(project.environments.items()):
                if effective.autoscaling(project, env, agent) is not None:
                    continue  # an error of its own (rules_workloads: memory-autoscaling)
                replicas = effective.replicas(project, env, agent)
                if replicas > 1:
                    diags.warning(
                        "memory-replicas",
                        f"agent {agent.name!r} keeps local memory but has {replicas} replicas in environment {env_name!r}: sessions are not shared between pods",
                        agent.doc.location(("metadata", "name")),
                        hint=_memory_hint(agent, project, env_name),
                    )
                    break


def _memory_hint(agent: AgentNode, project: Project, env_name: str) -> str:
    redis = (
        "set spec.config.memory.type: redis (components.redis is already on in kaosgen.yaml)"
        if project.components.redis
        else "set spec.config.memory.type: redis with components.redis: true in kaosgen.yaml "
        "(or your own MEMORY_REDIS_URL)"
    )
    return (
        f"{redis}, or run one replica (environments.{env_name}.workloads.{agent.ref}.replicas: 1)"
    )


def check_resources(graph: Graph, project: Project, diags: Diagnostics) -> None:
    """Quantities the API server accepts; a note where kaosgen supplies the limits."""
    from kaosgen.default_limits import below_requests, completed, kaosgen_defaults, needs_limits
    from kaosgen.quantity import parse_quantity

    for node in graph.workloads():
        resources = node.resources
        if resources is None:
            continue
        at = ("spec", "container", "resources")
        valid = True
        for section in ("requests", "limits"):
            for name, value in (getattr(resources, section) or {}).items():
                try:
                    parse_quantity(value)
                except ValueError:
                    valid = False
                    diags.error(
                        "resources-quantity",
                        f"{section}.{name}: {value!r} is not a Kubernetes quantity",
                        node.doc.location((*at, section, name)),
                        hint="write e.g. 500m or 2 (CPU), 256Mi or 1Gi (memory): a non-negative "
                        "number with an optional suffix Ki, Mi, Gi, Ti, m, k, M, G or T",
                    )
        for name in below_requests(resources) if valid else []:
            valid = False
            diags.error(
                "resources-limits",
                f"container.resources sets limits.{name}: {resources.limits[name]} below "
                f"requests.{name}: {resources.requests[name]}; the API server refuses such a pod",
                node.doc.location((*at, "limits", name)),
                hint=f"raise limits.{name} to at least the request, or lower the request",
            )
        if valid and needs_limits(resources):
            defaults = kaosgen_defaults(node, project)
            filled = completed(resources, defaults)
            shown = ", ".join(
                f"{name}: {value}"
                + (" (raised to the request)" if value != (defaults.limits or {}).get(name) else "")
                for name, value in sorted((filled.limits or {}).items())
            )
            if resources.requests is None:
                requests = ", ".join(
                    f"{k}: {v}" for k, v in sorted((filled.requests or {}).items())
                )
                what = f"no requests or limits; kaosgen adds its defaults: requests {requests}; limits {shown}"
            else:
                what = f"requests but no limits; kaosgen adds its default limits: {shown}"
            diags.note(
                "resources-default-limits",
                f"container.resources sets {what}",
                node.doc.location(at, key=True),
                hint="set container.resources.limits to choose them",
            )


def check_environments(project: Project, diags: Diagnostics, project_doc=None) -> None:
    """`environments: {}` renders only the base: no overlay to build or deliver, no
    namespace. Without the key kaosgen renders a `default` environment."""
    if project.environments or project_doc is None:
        return
    diags.warning(
        "no-environments",
        "environments is empty: no overlay is rendered, only base/ (no namespace, nothing "
        "for kubectl apply -k, Flux or Argo CD to deliver)",
        project_doc.location(("environments",), key=True),
        hint="add an environment (environments: {dev: {namespace: my-agents}}), or remove "
        "the key for a `default` environment",
    )


def check_overrides(graph: Graph, project: Project, diags: Diagnostics, project_doc=None) -> None:
    refs = {w.ref for w in graph.workloads()}
    for env_name, env in project.environments.items():
        for ref in env.workloads:
            if ref not in refs and project_doc is not None:
                diags.error(
                    "ref-workload",
                    f"environment {env_name!r} overrides {ref!r}, which is not a rendered workload",
                    project_doc.location(("environments", env_name, "workloads", ref), key=True),
                    hint="use agent/<name>, modelapi/<name> or mcpserver/<name>",
                )
    namespaces = graph.namespaces()
    if len(namespaces) > 1:
        for env_name, env in project.environments.items():
            if env.namespace and project_doc is not None:
                diags.error(
                    "namespace-collapse",
                    f"environment {env_name!r} moves everything to namespace {env.namespace!r}, but the input uses several namespaces ({', '.join(n or 'default' for n in namespaces)})",
                    project_doc.location(("environments", env_name, "namespace")),
                    hint="drop the environment namespace or keep the input in one namespace",
                )


def _check_label_set(
    diags: Diagnostics,
    doc: Any,
    path: tuple,
    labels: dict[str, str],
    annotations: dict[str, str],
    ours: dict[str, str] | None = None,
    *,
    reserved: bool = True,
) -> None:
    """Label keys and values the API server accepts; no reserved key with another value
    (`reserved`: kaosgen sets labels on these objects)."""
    from kaosgen.generate.pods import is_reserved_label

    for key, value in labels.items():
        if not isinstance(key, str):
            continue  # not a string: reported where the document is read
        loc = doc.location((*path, "labels", key), key=True)
        problem = label_key_problem(key)
        if problem is None and isinstance(value, str) and not label_value_ok(value):
            problem = f"the value {value!r} is not a valid label value (at most 63 letters, digits, '-', '_' or '.')"
        if problem:
            diags.error("label-invalid", f"label {key!r}: {problem}", loc)
        elif reserved and is_reserved_label(key) and (ours is None or ours.get(key) != value):
            diags.warning(
                "label-reserved",
                f"label {key!r} is kaosgen's (selectors and network policies use it); your value {value!r} is ignored",
                loc,
                hint="choose another label key",
            )
    for key in annotations:
        if not isinstance(key, str):
            continue
        problem = label_key_problem(key)
        if problem:
            diags.error(
                "label-invalid",
                f"annotation {key!r}: {problem}",
                doc.location((*path, "annotations", key), key=True),
            )
    size = annotations_size(annotations)
    if size > MAX_ANNOTATIONS_BYTES:
        diags.error(
            "label-invalid",
            f"the annotations hold {size} bytes; the API server refuses an object whose "
            f"annotations hold more than {MAX_ANNOTATIONS_BYTES} (256 KiB)",
            doc.location((*path, "annotations"), key=True),
            hint="keep large text out of annotations (a ConfigMap, or the resource's own fields)",
        )


#: The API server's limit on one object's annotations, keys and values together.
MAX_ANNOTATIONS_BYTES = 256 * 1024


def annotations_size(annotations: dict) -> int:
    """Bytes of annotation keys and string values, as the API server counts them."""
    return sum(
        len(k.encode("utf-8", "surrogatepass")) + len(v.encode("utf-8", "surrogatepass"))
        for k, v in annotations.items()
        if isinstance(k, str) and isinstance(v, str)
    )


def check_labels(graph: Graph, project: Project, diags: Diagnostics, project_doc=None) -> None:
    for node in graph.workloads():
        ours = {**node.selector, "app.kubernetes.io/managed-by": "kaosgen"}
        _check_label_set(diags, node.doc, ("metadata",), node.labels, node.annotations, ours)
    for doc in graph.passthrough:  # the API server refuses these at apply
        meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        if isinstance(meta, dict):
            labels, annotations = meta.get("labels"), meta.get("annotations")
            _check_label_set(
                diags,
                doc,
                ("metadata",),
                labels if isinstance(labels, dict) else {},
                annotations if isinstance(annotations, dict) else {},
                reserved=False,
            )
    if project_doc is None:
        return
    _check_label_set(diags, project_doc, (), project.labels, {})
    for name, env in project.environments.items():
        _check_label_set(diags, project_doc, ("environments", name), env.labels, env.annotations)
        env_size = annotations_size(env.annotations)
        for node in graph.workloads() if env_size <= MAX_ANNOTATIONS_BYTES else ():
            own = annotations_size(node.annotations)
            if own <= MAX_ANNOTATIONS_BYTES < own + env_size:  # each fits, not both
                diags.error(
                    "label-invalid",
                    f"{node.kind} {node.name!r}: its annotations and those of environment {name!r} "
                    f"hold {own + env_size} bytes together; the API server refuses more than "
                    f"{MAX_ANNOTATIONS_BYTES} (256 KiB) on one object",
                    node.doc.location(("metadata", "annotations"), key=True),
                    hint="keep large text out of annotations (a ConfigMap, or the resource's own fields)",
                )


_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def _object_name_problem(kind: str, name: str) -> str | None:
    """What the API server would say of `name` for `kind` (its per-kind name rules)."""
    if kind in _RBAC_KINDS:  # a path segment
        if name in (".", "..") or "/" in name or "%" in name:
            return "must not be '.' or '..' and must not contain '/' or '%'"
        return None
    if kind == "Service":
        if len(name) > 63 or not _DNS1035.fullmatch(name):
            return "must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter"
        return None
    if kind == "Namespace":
        if len(name) > 63 or not _DNS1123.fullmatch(name):
            return "must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
        return None
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        return "must be a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
    return None


def check_passthrough_names(graph: Graph, diags: Diagnostics) -> None:
    """A pass-through object's name and namespace as the API server checks them: a name
    it refuses renders and builds, and fails only at apply."""
    for doc in graph.passthrough:
        data = doc.data if isinstance(doc.data, dict) else {}
        meta = data.get("metadata")
        if not isinstance(meta, dict):
            continue
        kind, name = str(data.get("kind", "")), meta.get("name")
        problem = _object_name_problem(kind, name) if isinstance(name, str) else None
        if problem:
            diags.error(
                "name-dns1123",
                f"{kind} name {name!r} {problem}",
                doc.location(("metadata", "name")),
            )
        namespace = meta.get("namespace")
        if isinstance(namespace, str) and (
            len(namespace) > 63 or not _DNS1123.fullmatch(namespace)
        ):
            diags.error(
                "name-dns1123",
                f"namespace {namespace!r} is not a valid DNS-1123 label",
                doc.location(("metadata", "namespace")),
                hint="use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
            )


def check(graph: Graph, project: Project, diags: Diagnostics, project_doc=None) -> None:
    check_names(graph, diags)
    check_passthrough_names(graph, diags)
    check_models(graph, diags)
    check_delegation(graph, diags)
    check_timeouts(project, diags, project_doc)
    check_api_keys(graph, project, diags)
    check_mcp_runtimes(graph, project, diags)
    check_env(graph, project, diags)
    check_env_values(graph, diags)
    rules_secrets.check(graph, diags)
    rules_secrets_text.check(graph, diags)
    check_memory(graph, project, diags)
    check_resources(graph, project, diags)
    check_telemetry(graph, diags)
    check_environments(project, diags, project_doc)
    check_overrides(graph, project, diags, project_doc)
    check_labels(graph, project, diags, project_doc)
    rules_workloads.check(graph, project, diags, project_doc)


__all__ = ["ModelAPINode", "Workload", "check"]
