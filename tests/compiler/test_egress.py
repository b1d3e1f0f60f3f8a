"""Where the rendered pods may connect (NetworkPolicy egress, read with the Kubernetes
semantics in support.netpol on `kubectl kustomize` output).

MCP servers and ModelAPIs run code that fetches URLs: they may reach DNS, the cluster and
the internet, never the cloud metadata service (the node's credentials), unless
`egress.metadataServer` opts one workload in for workload identity; `egress.allow` narrows
the outside world to a list. Agents reach only their graph, and never metadata either.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from support.compiler import (
    GITOPS,
    PROJECTS,
    Renders,
    assert_hydrated_equals_overlay,
    build_overlay,
    kaos,
    objects_of,
    render_ok,
    validate_json,
    write_docs,
)
from support.netpol import Pod, egress_allowed, pods

#: The metadata endpoints of AWS/GCP/Azure/OCI (IPv4 and AWS IPv6), GKE's metadata server
#: port, EKS Pod Identity, ECS task credentials, Alibaba Cloud, the Azure WireServer.
METADATA = [
    ("169.254.169.254", 80),
    ("169.254.169.254", 443),
    ("169.254.169.252", 988),
    ("127.0.0.1", 988),  # GKE without Dataplane V2: where the node redirects metadata
    ("169.254.170.23", 80),
    ("169.254.170.2", 80),
    ("fd00:ec2::254", 80),
    ("fd00:ec2::23", 80),
    ("100.100.100.200", 80),
    ("168.63.129.16", 32526),
]
KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
NODELOCAL_DNS = "169.254.20.10"
INTERNET = [("203.0.113.5", 443), ("2001:db8::5", 443), ("10.20.30.40", 5432)]
OTHER_POD = Pod("elsewhere", {"app": "db"})


def _workload_pods(objects: list[dict[str, Any]]) -> dict[str, Pod]:
    return {
        name: pod
        for name, pod in pods(objects).items()
        if pod.labels.get("app") in ("agent", "modelapi", "mcpserver")
    }


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_no_rendered_pod_reaches_the_metadata_service(project: str, renders: Renders) -> None:
    for env, objects in renders.overlays(project).items():
        policies = objects_of(objects, "NetworkPolicy")
        if not policies:
            continue
        for name, pod in _workload_pods(objects).items():
            for address, port in METADATA:
                assert not egress_allowed(policies, pod, address, port), (env, name, address)
            for dns in (KUBE_DNS, NODELOCAL_DNS):
                assert egress_allowed(policies, pod, dns, 53, "UDP"), (env, name, dns)
                assert egress_allowed(policies, pod, dns, 53, "TCP"), (env, name, dns)


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_mcp_servers_and_modelapis_reach_the_cluster_and_the_internet(
    project: str, renders: Renders
) -> None:
    """Their default: a tool or a model provider anywhere, and any pod (CNIs that do not
    match pod IPs with ipBlock need the pod rule)."""
    for env, objects in renders.overlays(project).items():
        policies = objects_of(objects, "NetworkPolicy")
        for name, pod in _workload_pods(objects).items():
            if pod.labels["app"] == "agent":
                assert not egress_allowed(policies, pod, "203.0.113.5", 443), (env, name)
                continue
            for address, port in INTERNET:
                assert egress_allowed(policies, pod, address, port), (env, name, address)
            assert egress_allowed(policies, pod, OTHER_POD, 5432), (env, name)


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_policy_cidrs_are_what_the_api_server_accepts(project: str, renders: Renders) -> None:
    """Canonical networks, and each `except` strictly inside its `cidr` (the API server
    refuses the policy otherwise; the OpenAPI schemas do not check it)."""
    for env, objects in renders.overlays(project).items():
        for policy in objects_of(objects, "NetworkPolicy"):
            for rule in policy["spec"].get("egress") or []:
                for peer in rule.get("to") or []:
                    block = peer.get("ipBlock")
                    if block is None:
                        continue
                    cidr = ipaddress.ip_network(block["cidr"])
                    assert str(cidr) == block["cidr"], (env, block)
                    for entry in block.get("except") or []:
                        inner = ipaddress.ip_network(entry)
                        assert str(inner) == entry
                        assert inner.version == cidr.version, (env, block)
                        assert inner != cidr and inner.subnet_of(cidr), (env, block)  # type: ignore[arg-type]


# --- settings --------------------------------------------------------------------------------

MODELAPI = kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}})
TOOLS = kaos(
    "MCPServer",
    "tools",
    {"runtime": "python-string", "params": "def f() -> str:\n    return 'x'\n"},
)
CLOUD = kaos(
    "MCPServer",
    "cloud",
    {"runtime": "python-string", "params": "def g() -> str:\n    return 'y'\n"},
)
AGENT = kaos(
    "Agent",
    "a",
    {
        "modelAPI": "llm",
        "model": "smollm2:135m",
        "mcpServers": ["tools", "cloud"],
        "config": {"telemetry": {"enabled": True, "endpoint": "http://otel:4317"}},
    },
)


def _project(tmp_path: Path, config: str, *docs: dict[str, Any]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n" + config, encoding="utf-8"
    )
    write_docs(tmp_path / "resources.yaml", docs or [MODELAPI, TOOLS, CLOUD, AGENT])
    return tmp_path


def _env(out: Path, env: str) -> tuple[list[dict[str, Any]], dict[str, Pod]]:
    objects = build_overlay(out / "overlays" / env)
    return objects_of(objects, "NetworkPolicy"), pods(objects)


def test_metadata_server_opt_out_is_per_workload_and_environment(tmp_path: Path) -> None:
    """Workload identity: one MCP server reaches the metadata server in prod only."""
    config = GITOPS + (
        "environments:\n  dev: {}\n  prod:\n    workloads:\n"
        "      mcpserver/cloud:\n        egress: {metadataServer: true}\n"
    )
    out = render_ok(_project(tmp_path / "p", config), tmp_path / "out")
    assert_hydrated_equals_overlay(out, "prod")  # what Flux applies has the patch too
    for env in ("dev", "prod"):
        policies, found = _env(out, env)
        cloud_reaches = egress_allowed(policies, found["mcpserver-cloud"], "169.254.169.254", 80)
        assert cloud_reaches == (env == "prod"), env
        for other in ("mcpserver-tools", "modelapi-llm", "agent-a"):
            assert not egress_allowed(policies, found[other], "169.254.169.254", 80), (env, other)
        assert egress_allowed(policies, found["mcpserver-cloud"], "203.0.113.5", 443)


def test_allow_list_narrows_the_outside_world(tmp_path: Path) -> None:
    """security.egress.allow: only those networks (and ports) outside the cluster; DNS and
    pods stay reachable; a metadata address inside an allowed network stays blocked."""
    config = (
        "security:\n  egress:\n    allow:\n"
        "    - {cidr: 203.0.113.0/24, ports: [443]}\n"
        "    - {cidr: 169.254.0.0/15}\n"
    )
    out = render_ok(_project(tmp_path / "p", config), tmp_path / "out")
    policies, found = _env(out, "default")
    for name in ("mcpserver-tools", "modelapi-llm"):
        pod = found[name]
        assert egress_allowed(policies, pod, "203.0.113.5", 443), name
        assert not egress_allowed(policies, pod, "203.0.113.5", 80), name
        assert not egress_allowed(policies, pod, "198.51.100.1", 443), name
        assert egress_allowed(policies, pod, "169.255.0.1", 80), name
        assert not egress_allowed(policies, pod, "169.254.169.254", 80), name
        assert egress_allowed(policies, pod, OTHER_POD, 5432), name
        assert egress_allowed(policies, pod, NODELOCAL_DNS, 53, "UDP"), name


def test_agents_reach_their_graph_and_telemetry_ports_only(tmp_path: Path) -> None:
    out = render_ok(_project(tmp_path / "p", ""), tmp_path / "out")
    policies, found = _env(out, "default")
    agent = found["agent-a"]
    assert egress_allowed(policies, agent, found["modelapi-llm"], 11434)
    assert egress_allowed(policies, agent, found["mcpserver-tools"], 8000)
    assert egress_allowed(policies, agent, "203.0.113.5", 4317)  # the OTLP collector
    assert not egress_allowed(policies, agent, "203.0.113.5", 443)
    assert not egress_allowed(policies, agent, "169.254.169.254", 4317)


def _diagnostics(tmp_path: Path, config: str) -> list[tuple[str, str, str]]:
    _, diags = validate_json(".", cwd=_project(tmp_path, config))
    return [(d["severity"], d["rule"], d["message"]) for d in diags]


def test_egress_settings_are_checked(tmp_path: Path) -> None:
    bad_cidr = _diagnostics(
        tmp_path / "cidr", "security:\n  egress:\n    allow: [{cidr: 10.0.0.1/8}]\n"
    )
    assert any("write the network as 10.0.0.0/8" in m for _, _, m in bad_cidr), bad_cidr
    not_ip = _diagnostics(
        tmp_path / "ip", "security:\n  egress:\n    allow: [{cidr: api.example.com}]\n"
    )
    assert any(s == "error" and "not an IP network" in m for s, _, m in not_ip), not_ip
    agent = _diagnostics(
        tmp_path / "agent", "workloads:\n  agent/a:\n    egress: {metadataServer: true}\n"
    )
    assert ("error", "egress-agent") in {(s, r) for s, r, _ in agent}
    metadata = _diagnostics(
        tmp_path / "md", "security:\n  egress:\n    allow: [{cidr: 169.254.169.254/32}]\n"
    )
    assert ("warning", "egress-metadata") in {(s, r) for s, r, _ in metadata}
    off = _diagnostics(
        tmp_path / "off", "security:\n  networkPolicies: false\n  egress: {metadataServer: true}\n"
    )
    assert ("warning", "egress-no-policies") in {(s, r) for s, r, _ in off}
