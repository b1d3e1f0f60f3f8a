"""NetworkPolicies derived from the graph.

Default-deny ingress for every rendered workload; then each agent may reach only its
ModelAPI, its MCP servers and its `access` peers (plus DNS), MCP servers and ModelAPIs
anything but the cloud metadata service (`kaosgen.generate.egress`), and each workload
accepts traffic only from the agents that use it. Gateway ingress and the in-cluster callers a
project allows depend on the environment and are rendered by the overlay pass.
"""

from __future__ import annotations

from typing import Any

from kaosgen import effective, yamlout
from kaosgen.generate import egress, pods
from kaosgen.generate.egress import anywhere, dns
from kaosgen.generate.templating import render
from kaosgen.graph import AgentNode, Graph, Workload
from kaosgen.models.exposure import Caller, LabelSelector
from kaosgen.models.project import Environment, Project

DEFAULT_DENY = "kaosgen-default-deny-ingress"


def _labels(project: Project) -> dict[str, str]:
    return {**pods.MANAGED_BY, **pods.user_labels(project.labels)}


def _peer(node: Workload) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": node.selector}}


def _port(node: Workload) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": node.port}]


def default_deny(namespace: str | None, project: Project) -> dict[str, Any]:
    return render(
        "networkpolicy.json.j2",
        name=DEFAULT_DENY,
        namespace=namespace,
        labels=_labels(project),
        annotations=None,
        pod_selector={
            "matchExpressions": [
                {"key": "app.kubernetes.io/managed-by", "operator": "In", "values": ["kaosgen"]}
            ]
        },
        policy_types=["Ingress"],
        ingress=None,
        egress=None,
    )


def callers(graph: Graph) -> dict[int, list[AgentNode]]:
    """For each workload (by id), the agents that call it."""
    callers: dict[int, list[AgentNode]] = {}
    for agent in graph.agents:
        targets: list[Workload] = [*agent.mcp_servers, *agent.peers]
        if agent.model_api is not None:
            targets.append(agent.model_api)
        for target in targets:
            callers.setdefault(id(target), []).append(agent)
    return callers


def workload_policy(
    node: Workload, graph: Graph, project: Project, callers: dict[int, list[AgentNode]]
) -> dict[str, Any]:
    """Ingress from the workload's callers; egress: an agent's dependencies only, an MCP
    server's or ModelAPI's `security.egress`."""
    ingress_from = sorted({a.name: _peer(a) for a in callers.get(id(node), [])}.items())
    ingress = (
        [{"from": [peer for _, peer in ingress_from], "ports": _port(node)}] if ingress_from else []
    )
    policy_types = ["Ingress", "Egress"]
    if isinstance(node, AgentNode):
        egress_rules = agent_egress(node, project)
    else:
        egress_rules = workload_egress(node, project, None)
    return render(
        "networkpolicy.json.j2",
        name=node.object_name,
        namespace=node.namespace,
        labels=pods.object_labels(node, project.labels),
        annotations=None,
        pod_selector={"matchLabels": node.selector},
        policy_types=policy_types,
        ingress=ingress,
        egress=egress_rules,
    )


def workload_egress(node: Workload, project: Project, env: Environment | None) -> list:
    """An MCP server's or ModelAPI's egress in `env` (None: the base's)."""
    return egress.open_egress(project, effective.egress(project, env, node))


def egress_patch(node: Workload, project: Project, env: Environment) -> dict[str, Any] | None:
    """A JSON patch replacing the workload's egress where `env` sets another (None: the
    base's is right)."""
    rules = workload_egress(node, project, env)
    if rules == workload_egress(node, project, None):
        return None
    return {
        "patch": yamlout.dump([{"op": "replace", "path": "/spec/egress", "value": rules}]),
        "target": {"kind": "NetworkPolicy", "name": node.object_name},
    }


def agent_egress(node: AgentNode, project: Project) -> list[dict[str, Any]]:
    """DNS, the agent's dependencies, and the ports its telemetry and Redis need."""
    rules = [dns(project)]
    targets: list[Workload] = []
    if node.model_api is not None:
        targets.append(node.model_api)
    targets.extend(sorted(node.mcp_servers, key=lambda s: s.name))
    targets.extend(sorted(node.peers, key=lambda p: p.name))
    for target in targets:
        rules.append({"to": [_peer(target)], "ports": _port(target)})
    if node.memory_type == "redis":
        rules.append(
            {
                "to": [{"podSelector": {"matchLabels": {"app": "kaos-redis"}}}],
                "ports": [{"protocol": "TCP", "port": 6379}],
            }
        )
    telemetry = node.telemetry
    if telemetry and telemetry.enabled:
        # The collector may live anywhere; allow the OTLP ports only.
        rules.append(
            {
                "to": anywhere(),
                "ports": [{"protocol": "TCP", "port": 4317}, {"protocol": "TCP", "port": 4318}],
            }
        )
    for var in node.env:
        if var.name == "MEMORY_REDIS_URL":
            # A user-supplied Redis may be outside the graph: allow its port.
            rules.append({"to": anywhere(), "ports": [{"protocol": "TCP", "port": 6379}]})
            break
    return rules


# --- in-cluster callers (per environment) --------------------------------------------


def _selector(selector: LabelSelector) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if selector.match_labels:
        data["matchLabels"] = dict(sorted(selector.match_labels.items()))
    if selector.match_expressions:
        data["matchExpressions"] = [
            {"key": e.key, "operator": e.operator, **({"values": e.values} if e.values else {})}
            for e in selector.match_expressions
        ]
    return data


def caller_peer(caller: Caller) -> dict[str, Any]:
    """A NetworkPolicy peer for a `callers` entry."""
    peer: dict[str, Any] = {}
    if caller.namespace is not None:
        peer["namespaceSelector"] = {
            "matchLabels": {"kubernetes.io/metadata.name": caller.namespace}
        }
    elif caller.namespace_selector is not None:
        peer["namespaceSelector"] = _selector(caller.namespace_selector)
    if caller.pod_selector is not None:
        peer["podSelector"] = _selector(caller.pod_selector)
    return peer


def callers_patch(node: Workload, callers: list[Caller]) -> dict[str, Any]:
    """A JSON patch appending one ingress rule (the callers, on the workload's port) to the
    workload's NetworkPolicy, whose base always has an `ingress` list."""
    rule = {"from": [caller_peer(c) for c in callers], "ports": _port(node)}
    return {
        "patch": yamlout.dump([{"op": "add", "path": "/spec/ingress/-", "value": rule}]),
        "target": {"kind": "NetworkPolicy", "name": node.object_name},
    }
