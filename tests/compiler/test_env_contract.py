"""The environment contract, compiler side: every variable of every rendered agent is
declared in `kaos_contract.env`, in the contract's order, and wired to what exists.

Order (contract §3): identity, the user's env, model, loop and memory, MCP servers, peers,
telemetry and LOG_LEVEL, then kaosgen's additions, then the offline switches; a podSpec's
extra variables come last (strategic merge appends them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kaos_contract import env as contract
from support.compiler import (
    PROJECTS,
    Renders,
    container_env,
    kaos,
    load_file,
    render_ok,
    write_docs,
)

_MODEL = {"MODEL_API_URL", "MODEL_NAME", "MODEL_API_MODE"}
_LOOP = {"AGENTIC_LOOP_MAX_STEPS"} | {
    v.name for v in contract.WIRING if v.name.startswith("MEMORY_")
}


def _group(name: str) -> tuple[int, int]:
    """(group, position in the contract module) of a variable kaosgen derives."""
    order = [v.name for v in contract.AGENT_ENV]
    if name in {v.name for v in contract.IDENTITY}:
        return 1, order.index(name)
    if name in _MODEL:
        return 3, order.index(name)
    if name in _LOOP:
        return 4, order.index(name)
    if name == "MCP_SERVERS" or contract.MCP_SERVER_URL_RE.match(name):
        return 5, 0 if name == "MCP_SERVERS" else 1
    if name in ("PEER_AGENTS", "AGENT_SUB_AGENTS") or contract.PEER_AGENT_CARD_URL_RE.match(name):
        return 6, 0 if name == "PEER_AGENTS" else 1
    if name in {v.name for v in contract.TELEMETRY}:
        return 7, order.index(name)
    if name in contract.AGENT_ENV_BY_NAME:
        return 8, order.index(name)  # kaosgen's additions after the KAOS set
    if name in contract.OFFLINE_ENV:
        return 9, list(contract.OFFLINE_ENV).index(name)
    raise KeyError(name)


def _source_document(project: str, deployment: dict[str, Any]) -> dict[str, Any]:
    ref = deployment["metadata"]["annotations"]["kaosgen.dev/source"]
    file, _, index = ref.rpartition("#")
    docs = load_file(PROJECTS[project] / file)
    return docs[int(index)]


def _user_env_names(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(container.env and old-era config.env names, podSpec agent container env names)."""
    spec = doc["spec"]
    legacy = [e["name"] for e in (spec.get("config") or {}).get("env") or []]
    current = [e["name"] for e in (spec.get("container") or {}).get("env") or []]
    pod = next(
        (
            c
            for c in (spec.get("podSpec") or {}).get("containers") or []
            if c.get("name") == "agent"
        ),
        {},
    )
    return [n for n in legacy if n not in current] + current, [
        e["name"] for e in pod.get("env") or []
    ]


def _agents(renders: Renders, project: str):
    for env, objects in renders.overlays(project).items():
        for obj in objects:
            if obj["kind"] == "Deployment" and obj["metadata"]["labels"].get("app") == "agent":
                yield env, obj, objects


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_every_agent_variable_is_declared_and_in_contract_order(
    project: str, renders: Renders
) -> None:
    checked = 0
    for env, deployment, _ in _agents(renders, project):
        where = f"{env}: {deployment['metadata']['name']}"
        names = [e["name"] for e in container_env(deployment, "agent")]
        assert len(names) == len(set(names)), f"{where}: a variable appears twice: {names}"
        user, from_pod_spec = _user_env_names(_source_document(project, deployment))
        derived = [n for n in names if n not in user and n not in from_pod_spec]
        undeclared = []
        for name in derived:
            try:
                _group(name)
            except KeyError:
                undeclared.append(name)
        assert not undeclared, f"{where}: not in kaos_contract.env: {undeclared}"
        # Identity first (a user's AGENT_* replaces kaosgen's in place of the user's env).
        identity = [n for n in derived if _group(n)[0] == 1]
        assert names[: len(identity)] == identity, where
        assert names[0] == "AGENT_NAME" or "AGENT_NAME" in user
        # Then the user's variables, in their order, except those the wiring replaces.
        wired = {n for n in derived if _group(n)[0] > 1}
        user_kept = [n for n in user if n not in wired or n not in names]
        rest = names[len(identity) :]
        assert rest[: len(user_kept)] == user_kept, f"{where}: user env out of place: {names}"
        # Then kaosgen's wiring in contract order, then the podSpec's additions.
        wiring = rest[len(user_kept) :]
        tail = [n for n in wiring if n in from_pod_spec and n not in user]
        wiring = wiring[: len(wiring) - len(tail)]
        ranks = [_group(n) for n in wiring]
        assert ranks == sorted(ranks), f"{where}: wiring out of contract order: {wiring}"
        assert "MODEL_API_URL" in wiring and "MODEL_NAME" in wiring
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_wiring_points_at_services_that_exist(project: str, renders: Renders) -> None:
    for env, deployment, objects in _agents(renders, project):
        where = f"{env}: {deployment['metadata']['name']}"
        namespace = deployment["metadata"].get("namespace", "default")
        services = {
            o["metadata"]["name"]: [p["port"] for p in o["spec"]["ports"]]
            for o in objects
            if o["kind"] == "Service" and o["metadata"].get("namespace", "default") == namespace
        }
        env_vars = {e["name"]: e.get("value") for e in container_env(deployment, "agent")}

        def resolves(url: str, services: dict[str, list[int]] = services) -> bool:
            host, _, port = url.removeprefix("http://").partition(":")
            # Namespace-relative: right whatever namespace an overlay moves the agent to.
            return "." not in host and host in services and int(port.rstrip("/")) in services[host]

        assert resolves(env_vars["MODEL_API_URL"]), (where, env_vars["MODEL_API_URL"])
        servers = contract.split_csv(env_vars.get("MCP_SERVERS"))
        assert servers == sorted(servers)
        for server in servers:
            url = env_vars[contract.mcp_server_url_var(server)]
            assert resolves(url), (where, server, url)
        declared = {
            contract.MCP_SERVER_URL_RE.match(n).group("name")
            for n in env_vars
            if contract.MCP_SERVER_URL_RE.match(n)
        }
        assert declared == set(servers), where
        peers = contract.split_csv(env_vars.get("PEER_AGENTS"))
        assert peers == sorted(peers)
        for peer in peers:
            url = env_vars[contract.peer_card_url_var(peer)]
            assert resolves(url), (where, peer, url)
        if "OTEL_RESOURCE_ATTRIBUTES" in env_vars:
            attributes = dict(
                kv.split("=", 1) for kv in env_vars["OTEL_RESOURCE_ATTRIBUTES"].split(",")
            )
            assert attributes["service.namespace"] == namespace, (where, attributes)


def test_model_api_mode_is_part_of_the_contract() -> None:
    assert "MODEL_API_MODE" in {v.name for v in contract.WIRING}


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_every_agent_has_a_model_call_budget(project: str, renders: Renders) -> None:
    for env, deployment, _ in _agents(renders, project):
        names = [e["name"] for e in container_env(deployment, "agent")]
        assert names.count("MODEL_CALL_BUDGET") == 1, (env, deployment["metadata"]["name"])


def test_a_model_call_budget_in_container_env_replaces_the_default(tmp_path: Path) -> None:
    docs = [
        kaos("ModelAPI", "ollama", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}}),
        kaos(
            "Agent",
            "lead",
            {
                "modelAPI": "ollama",
                "model": "smollm2:135m",
                "container": {"env": [{"name": "MODEL_CALL_BUDGET", "value": "60"}]},
            },
        ),
        kaos("Agent", "helper", {"modelAPI": "ollama", "model": "smollm2:135m"}),
    ]
    write_docs(tmp_path / "in" / "resources.yaml", docs)
    out = render_ok(tmp_path / "in", tmp_path / "out")
    env = {}
    for name in ("lead", "helper"):
        entries = _base_env(out, "agents", name, "agent")
        env[name] = [e["value"] for e in entries if e["name"] == "MODEL_CALL_BUDGET"]
    assert env == {"lead": ["60"], "helper": [str(contract.MODEL_CALL_BUDGET_DEFAULT)]}


def _base_env(out: Path, kind_dir: str, name: str, container: str) -> list[dict[str, Any]]:
    """A rendered base Deployment's container env; no variable may appear twice."""
    [deployment] = [
        d for d in load_file(out / "base" / kind_dir / f"{name}.yaml") if d["kind"] == "Deployment"
    ]
    entries = container_env(deployment, container)
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), names
    return entries


def test_mcp_servers_get_their_service_and_namespace_and_routes_rewrite_host_to_it(
    tmp_path: Path,
) -> None:
    tools = "def echo(text: str) -> str:\n    return text\n"
    docs = [
        kaos("MCPServer", "plain", {"runtime": "python-string", "params": tools}),
        kaos("MCPServer", "unrouted", {"runtime": "python-string", "params": tools}),
        kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}}),
        kaos("Agent", "a", {"modelAPI": "llm", "model": "smollm2:135m"}),
        kaos(
            "MCPServer",
            "custom-hosts",
            {
                "runtime": "python-string",
                "params": tools,
                "container": {"env": [{"name": "MCP_ALLOWED_HOSTS", "value": "mine.example"}]},
            },
        ),
    ]
    write_docs(tmp_path / "in" / "resources.yaml", docs)
    (tmp_path / "in" / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
        "gateway: {enabled: true, hostnames: [agents.example.com], auth: {external: true}}\n"
        "workloads:\n  mcpserver/plain: {route: {enabled: true}}\n"
        "  mcpserver/custom-hosts: {route: {enabled: true}}\n"
        "environments:\n  dev: {gateway: {hostnames: [dev.example.com]}}\n  prod: {}\n"
        "  off: {gateway: {enabled: false, hostnames: [never.example.com]}}\n"
        "  private:\n    gateway: {hostnames: [private.example.com]}\n"
        "    workloads: {mcpserver/plain: {route: {enabled: false}}}\n"
    )
    out = render_ok(tmp_path / "in", tmp_path / "out")
    rendered = {
        name: {e["name"]: e for e in _base_env(out, "mcpservers", name, "mcp-server")}
        for name in ("plain", "unrouted", "custom-hosts")
    }
    plain = rendered["plain"]
    assert plain[contract.MCP_SERVICE_NAME]["value"] == "mcpserver-plain"
    assert plain[contract.POD_NAMESPACE]["valueFrom"] == {
        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
    }
    # No gateway hostnames in the pod: the route rewrites Host to the Service's name, so a
    # request through the gateway passes the check whatever hostname the client used.
    assert contract.MCP_ALLOWED_HOSTS not in plain
    assert rendered["unrouted"][contract.MCP_SERVICE_NAME]["value"] == "mcpserver-unrouted"
    for env_name in ("dev", "prod"):
        routes = load_file(out / "overlays" / env_name / "httproutes.yaml")
        (mcp,) = [r for r in routes if r["metadata"]["name"] == "mcp-plain"]
        (rule,) = mcp["spec"]["rules"]
        (rewrite,) = [f["urlRewrite"] for f in rule["filters"] if f["type"] == "URLRewrite"]
        assert rewrite["hostname"] == "mcpserver-plain"
        agent_routes = [r for r in routes if r["metadata"]["name"].startswith("agent-")]
        assert agent_routes
        for route in agent_routes:  # agents keep the client's Host (their card's URL)
            for rule in route["spec"]["rules"]:
                assert all("hostname" not in f.get("urlRewrite", {}) for f in rule["filters"])
    assert rendered["custom-hosts"][contract.MCP_ALLOWED_HOSTS]["value"] == "mine.example"
