"""`kaosgen graph`: the agent network as Mermaid or Graphviz DOT (and SVG/PNG through `dot`).

Nodes: agents, ModelAPIs, MCP servers, and the gateway when routes are rendered. Edges:
agent → ModelAPI (labelled with the model), agent → MCP server, agent → peer agent
(delegation, from `agentNetwork.access`), gateway → every routed workload (labelled with
its route path). Workloads are grouped by namespace when there are several.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from kaosgen import effective
from kaosgen.graph import Graph, Workload
from kaosgen.models.project import Project


@dataclass
class Net:
    nodes: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # id, kind, label, namespace
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)  # from, to, label, style


def _node_id(node: Workload) -> str:
    raw = f"{node.app}_{node.namespace or ''}_{node.name}"
    return re.sub(r"[^A-Za-z0-9_]", "_", raw)


def gateway_for(project: Project, env_name: str | None) -> tuple[bool, str | None]:
    """(routes rendered?, namespace routes use) for one environment or the project."""
    gw = project.gateway
    if env_name is None:
        enabled = gw.enabled or any(
            e.gateway is not None and e.gateway.enabled for e in project.environments.values()
        )
        return enabled, None
    env = project.environments[env_name]
    enabled = env.gateway.enabled if env.gateway and env.gateway.enabled is not None else gw.enabled
    return enabled, env.namespace


def build(graph: Graph, project: Project, env_name: str | None = None) -> Net:
    net = Net()
    for node in graph.workloads():
        kind = node.kind
        detail = ""
        if kind == "ModelAPI":
            detail = getattr(node, "mode", "")
            if detail == "Hosted" and getattr(node, "hosted_model", None):
                detail += f": {node.hosted_model}"
        elif kind == "MCPServer":
            detail = getattr(node, "runtime", "")
        label = f"{kind} {node.name}" + (f"\n{detail}" if detail else "")
        net.nodes.append((_node_id(node), kind, label, node.namespace or ""))
    for agent in graph.agents:
        if agent.model_api is not None:
            net.edges.append(
                (_node_id(agent), _node_id(agent.model_api), agent.model or "", "model")
            )
        for server in agent.mcp_servers:
            net.edges.append((_node_id(agent), _node_id(server), "tools", "tools"))
        for peer in agent.peers:
            net.edges.append((_node_id(agent), _node_id(peer), "delegates", "delegates"))
    enabled, env_ns = gateway_for(project, env_name)
    if enabled:
        parent = project.gateway.parent_ref
        net.nodes.append(("gateway", "Gateway", f"Gateway {parent.name}", ""))
        env = project.environments[env_name] if env_name is not None else None
        for node in graph.workloads():
            routed = (
                effective.routed_anywhere(project, node)
                if env is None
                else effective.route(project, env, node) is not None
            )
            if routed:
                namespace = env_ns or node.namespace or ("default" if env_name else "<namespace>")
                path = f"/{namespace}/{node.route_segment}/{node.name}"
                net.edges.append(("gateway", _node_id(node), path, "route"))
    return net


# --- Mermaid ---------------------------------------------------------------------------

_MERMAID_SHAPE = {
    "Agent": ('["', '"]'),
    "ModelAPI": ('[("', '")]'),
    "MCPServer": ('[["', '"]]'),
    "Gateway": ('{{"', '"}}'),
}


def _mermaid_text(text: str) -> str:
    """Mermaid string contents: entity codes for characters that end or format a label."""
    out = (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )
    return out.replace("\n", "<br/>")


def to_mermaid(net: Net) -> str:
    lines = ["flowchart LR"]
    namespaces = sorted({ns for _, kind, _, ns in net.nodes if kind != "Gateway"})
    grouped = len(namespaces) > 1

    def node_line(node_id: str, kind: str, label: str) -> str:
        start, end = _MERMAID_SHAPE[kind]
        return f"{node_id}{start}{_mermaid_text(label)}{end}:::{kind.lower()}"

    for ns in namespaces if grouped else [None]:
        members = [n for n in net.nodes if n[1] != "Gateway" and (ns is None or n[3] == ns)]
        indent = "  "
        if grouped:
            lines.append(
                f'  subgraph ns_{re.sub(r"[^A-Za-z0-9_]", "_", ns or "default")}["namespace {_mermaid_text(ns or "default")}"]'
            )
            indent = "    "
        lines.extend(indent + node_line(i, k, label) for i, k, label, _ in members)
        if grouped:
            lines.append("  end")
    lines.extend("  " + node_line(i, k, label) for i, k, label, _ in net.nodes if k == "Gateway")
    arrows = {"model": "-->", "tools": "-->", "delegates": "==>", "route": "-.->"}
    for src, dst, label, style in net.edges:
        text = f'|"{_mermaid_text(label)}"|' if label else ""
        lines.append(f"  {src} {arrows[style]}{text} {dst}")
    lines.extend(
        [
            "  classDef agent fill:#dbeafe,stroke:#1d4ed8",
            "  classDef modelapi fill:#fef3c7,stroke:#b45309",
            "  classDef mcpserver fill:#dcfce7,stroke:#15803d",
            "  classDef gateway fill:#f3e8ff,stroke:#7e22ce",
        ]
    )
    return "\n".join(lines) + "\n"


# --- DOT -------------------------------------------------------------------------------

_DOT_STYLE = {
    "Agent": 'shape=box, style="rounded,filled", fillcolor="#dbeafe", color="#1d4ed8"',
    "ModelAPI": 'shape=cylinder, style=filled, fillcolor="#fef3c7", color="#b45309"',
    "MCPServer": 'shape=component, style=filled, fillcolor="#dcfce7", color="#15803d"',
    "Gateway": 'shape=hexagon, style=filled, fillcolor="#f3e8ff", color="#7e22ce"',
}
_DOT_EDGE = {
    "model": "",
    "tools": "",
    "delegates": ', style=bold, color="#1d4ed8"',
    "route": ', style=dashed, color="#7e22ce"',
}


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(net: Net) -> str:
    lines = [
        "digraph kaos {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    namespaces = sorted({ns for _, kind, _, ns in net.nodes if kind != "Gateway"})
    grouped = len(namespaces) > 1
    for index, ns in enumerate(namespaces if grouped else [None]):
        members = [n for n in net.nodes if n[1] != "Gateway" and (ns is None or n[3] == ns)]
        indent = "  "
        if grouped:
            lines.append(f"  subgraph cluster_{index} {{")
            lines.append(f"    label={_dot_string('namespace ' + (ns or 'default'))};")
            indent = "    "
        lines.extend(
            f"{indent}{i} [label={_dot_string(label)}, {_DOT_STYLE[k]}];"
            for i, k, label, _ in members
        )
        if grouped:
            lines.append("  }")
    lines.extend(
        f"  {i} [label={_dot_string(label)}, {_DOT_STYLE[k]}];"
        for i, k, label, _ in net.nodes
        if k == "Gateway"
    )
    for src, dst, label, style in net.edges:
        lines.append(f"  {src} -> {dst} [label={_dot_string(label)}{_DOT_EDGE[style]}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphvizMissing(RuntimeError):
    pass


def render_image(dot_source: str, fmt: str) -> bytes:
    """SVG or PNG bytes from Graphviz's `dot`."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            f"--output {fmt} needs Graphviz's `dot` on PATH (apt-get install graphviz, brew install graphviz); "
            "or print the graph with --format dot or --format mermaid"
        )
    proc = subprocess.run(
        [exe, f"-T{fmt}"], input=dot_source.encode(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
