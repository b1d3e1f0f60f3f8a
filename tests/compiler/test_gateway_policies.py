"""Exposure: what the gateway routes, how it authenticates, and who may call in-cluster.

- With the gateway on, only agents are routed unless kaosgen.yaml asks for more, per
  workload and per environment; an agent's route forwards only its public API.
- Envoy Gateway SecurityPolicy and BackendTrafficPolicy objects validate against the
  vendored Envoy Gateway CRDs (strict: unknown fields fail), plus the CEL rules and the
  controller's own checks that apply to what kaosgen renders, in code.
- Routing a ModelAPI or MCP server without authentication warns; authentication a gateway
  other than Envoy cannot take is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.compiler import (
    PROJECTS,
    Renders,
    build_overlay,
    dump_all,
    find,
    kaos,
    load_file,
    objects_of,
    overlay_dirs,
    render_ok,
    validate_json,
    write_docs,
)
from support.devtools import validate_crd_object

ENVOY = "gateway.envoyproxy.io/v1alpha1"
_TARGET_KINDS = {
    "SecurityPolicy": {"Gateway", "ListenerSet", "HTTPRoute", "GRPCRoute", "TCPRoute"},
    "BackendTrafficPolicy": {
        "Gateway",
        "ListenerSet",
        "HTTPRoute",
        "GRPCRoute",
        "UDPRoute",
        "TCPRoute",
        "TLSRoute",
    },
}


def _envoy_projects() -> list[str]:
    names = []
    for name, path in PROJECTS.items():
        (config,) = load_file(path / "kaosgen.yaml")
        if (config.get("gateway") or {}).get("vendor") == "envoy":
            names.append(name)
    return sorted(names)


# --- the CEL rules of the Envoy Gateway CRDs, and the controller's checks, in code --------


def envoy_cel_problems(obj: dict[str, Any]) -> list[str]:
    """x-kubernetes-validations of SecurityPolicy / BackendTrafficPolicy that apply to what
    kaosgen renders (gateway.envoyproxy.io_*.yaml, v1alpha1)."""
    problems: list[str] = []
    kind, spec = obj["kind"], obj.get("spec", {})
    has_ref, has_refs = "targetRef" in spec, "targetRefs" in spec
    if not ((has_ref != has_refs) or spec.get("targetSelectors")):
        problems.append("either targetRef or targetRefs must be used")
    refs = ([spec["targetRef"]] if has_ref else []) + list(spec.get("targetRefs") or [])
    for ref in refs:
        if ref.get("group") != "gateway.networking.k8s.io":
            problems.append(f"target group {ref.get('group')!r}")
        if ref.get("kind") not in _TARGET_KINDS[kind]:
            problems.append(f"target kind {ref.get('kind')!r}")
    if "mergeType" in spec and any(r.get("kind") not in ("HTTPRoute", "GRPCRoute") for r in refs):
        problems.append("mergeType can only be used with xRoute targets")
    if kind == "SecurityPolicy":
        for source in (spec.get("apiKeyAuth") or {}).get("extractFrom") or []:
            if sum(k in source for k in ("headers", "params", "cookies")) != 1:
                problems.append("apiKeyAuth.extractFrom: exactly one of headers, params, cookies")
        jwt = spec.get("jwt")
        if jwt is not None:
            if "optional" in jwt and "failOpen" in jwt:
                problems.append("jwt: optional and failOpen together")
            for provider in jwt.get("providers") or []:
                remote, local = "remoteJWKS" in provider, "localJWKS" in provider
                if remote == local:
                    problems.append(
                        f"jwt provider {provider.get('name')}: remoteJWKS xor localJWKS"
                    )
                if "backendRef" in (provider.get("remoteJWKS") or {}):
                    problems.append("remoteJWKS.backendRef is not supported")
                if provider.get("recomputeRoute") and not provider.get("claimToHeaders"):
                    problems.append("recomputeRoute needs claimToHeaders")
        rules = (spec.get("authorization") or {}).get("rules") or []
        if any("jwt" in (r.get("principal") or {}) for r in rules) and jwt is None:
            problems.append("authorization by jwt principal needs jwt")
    else:
        rate = spec.get("rateLimit") or {}
        for rule in (rate.get("local") or {}).get("rules") or []:
            if "response" in (rule.get("cost") or {}):
                problems.append("response cost is not supported for Local Rate Limits")
            if "fromMetadata" in (rule.get("limit") or {}):
                problems.append("limit fromMetadata is not supported for Local Rate Limits")
            for selector in rule.get("clientSelectors") or []:
                if not any(
                    k in selector
                    for k in ("headers", "methods", "path", "sourceCIDR", "queryParams")
                ):
                    problems.append("a clientSelector selects nothing")
        if "compression" in spec and "compressor" in spec:
            problems.append("compression and compressor together")
    return problems


def controller_problems(obj: dict[str, Any], objects: list[dict[str, Any]]) -> list[str]:
    """What Envoy Gateway's controller rejects (a policy it does not attach): a target
    missing from the namespace, duplicate JWT provider names, a plain-HTTP JWKS."""
    problems = []
    namespace = obj["metadata"].get("namespace")
    for ref in obj["spec"].get("targetRefs") or []:
        if not any(
            o["kind"] == ref["kind"]
            and o["metadata"]["name"] == ref["name"]
            and o["metadata"].get("namespace") == namespace
            for o in objects
        ):
            problems.append(f"target {ref['kind']}/{ref['name']} is not in namespace {namespace}")
    providers = (obj["spec"].get("jwt") or {}).get("providers") or []
    names = [p["name"] for p in providers]
    if len(names) != len(set(names)):
        problems.append(f"duplicate JWT provider names {names}")
    for provider in providers:
        if not provider["remoteJWKS"]["uri"].startswith("https://"):
            problems.append(f"JWKS {provider['remoteJWKS']['uri']} is not HTTPS")
    return problems


@pytest.mark.parametrize("project", _envoy_projects())
def test_envoy_policies_validate_against_the_envoy_gateway_crds(
    project: str, renders: Renders
) -> None:
    checked = 0
    failures = []
    for env, objects in renders.overlays(project).items():
        for obj in objects:
            if obj["apiVersion"] != ENVOY:
                continue
            checked += 1
            where = f"{env}: {obj['kind']}/{obj['metadata']['name']}"
            try:
                validate_crd_object(obj)
            except AssertionError as exc:
                failures.append(f"{where}: {exc}")
            failures += [f"{where}: {p}" for p in envoy_cel_problems(obj)]
            failures += [f"{where}: {p}" for p in controller_problems(obj, objects)]
    assert checked, f"{project} uses vendor envoy but renders no Envoy Gateway policy"
    assert not failures, "\n".join(failures)


def test_the_envoy_checks_are_strict_and_catch_bad_policies() -> None:
    good = {
        "apiVersion": ENVOY,
        "kind": "SecurityPolicy",
        "metadata": {"name": "p", "namespace": "n"},
        "spec": {
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}
            ],
            "apiKeyAuth": {
                "credentialRefs": [{"name": "keys"}],
                "extractFrom": [{"headers": ["x-api-key"]}],
            },
        },
    }
    validate_crd_object(good)
    assert envoy_cel_problems(good) == []
    typo = {**good, "spec": {**good["spec"], "apiKeyAuht": {}}}
    with pytest.raises(AssertionError, match="apiKeyAuht"):
        validate_crd_object(typo)
    bad = {
        "kind": "SecurityPolicy",
        "spec": {
            "targetRef": {"group": "", "kind": "Service", "name": "s"},
            "targetRefs": [],
            "apiKeyAuth": {"extractFrom": [{"headers": ["a"], "params": ["b"]}]},
            "jwt": {
                "optional": True,
                "failOpen": True,
                "providers": [{"name": "x", "remoteJWKS": {"uri": "u"}, "localJWKS": {}}],
            },
        },
    }
    problems = " | ".join(envoy_cel_problems(bad))
    for expected in (
        "either targetRef or targetRefs",
        "target group ''",
        "target kind 'Service'",
        "exactly one of headers",
        "optional and failOpen",
        "remoteJWKS xor localJWKS",
    ):
        assert expected in problems
    rate = {
        "kind": "BackendTrafficPolicy",
        "spec": {
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}
            ],
            "rateLimit": {
                "local": {"rules": [{"limit": {"fromMetadata": {}}, "clientSelectors": [{}]}]}
            },
        },
    }
    problems = " | ".join(envoy_cel_problems(rate))
    assert "fromMetadata" in problems and "selects nothing" in problems
    assert controller_problems({"metadata": {"namespace": "n"}, "spec": good["spec"]}, []) == [
        "target HTTPRoute/r is not in namespace n"
    ]


# --- what the production project renders per environment ------------------------------------


def test_policies_follow_the_environment_and_each_route(renders: Renders) -> None:
    """Project auth (API keys and JWT) in staging and prod, none in dev (`auth: {}`); a
    route with `auth: false` gets none; `rateLimit: null` on a route drops its limit."""
    overlays = renders.overlays("production")
    dev = overlays["dev"]
    assert not objects_of(dev, "SecurityPolicy") and not objects_of(dev, "BackendTrafficPolicy")
    for env in ("staging", "prod"):
        objects = overlays[env]
        routes = {o["metadata"]["name"] for o in objects_of(objects, "HTTPRoute")}
        secured = {o["metadata"]["name"]: o for o in objects_of(objects, "SecurityPolicy")}
        limited = {o["metadata"]["name"] for o in objects_of(objects, "BackendTrafficPolicy")}
        assert set(secured) == routes - {"mcp-kaos-image-tools"}, env
        assert limited == routes - {"agent-debugger"}, env
        policy = secured["agent-frontdesk"]["spec"]
        assert policy["apiKeyAuth"] == {
            "credentialRefs": [{"group": "", "kind": "Secret", "name": "api-keys"}],
            "extractFrom": [{"headers": ["x-api-key"]}],
            "sanitize": True,
        }
        assert [p["name"] for p in policy["jwt"]["providers"]] == ["corp", "partner"]
        # The Secret is referenced, never written.
        assert not [o for o in objects if o["kind"] == "Secret"]
    staging = {o["metadata"]["name"] for o in objects_of(overlays["staging"], "HTTPRoute")}
    prod = {o["metadata"]["name"] for o in objects_of(overlays["prod"], "HTTPRoute")}
    # Every MCP server in staging (gateway.routes.mcp there), only the one asked for in prod.
    assert {r for r in staging if r.startswith("mcp-")} == {
        "mcp-python-tools",
        "mcp-kaos-image-tools",
        "mcp-custom-tools",
        "mcp-weather",
    }
    assert {r for r in prod if r.startswith("mcp-")} == {"mcp-kaos-image-tools"}
    assert {r for r in prod if r.startswith("modelapi-")} == {"modelapi-gateway-llm"}


# --- routing defaults, per workload and per environment --------------------------------------

MODELAPI = kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}})
TOOLS = kaos(
    "MCPServer",
    "tools",
    {"runtime": "python-string", "params": "def f() -> str:\n    return 'x'\n"},
)


def _agent(name: str, **spec: Any) -> dict[str, Any]:
    return kaos("Agent", name, {"modelAPI": "llm", "model": "smollm2:135m", **spec})


def _project(tmp_path: Path, config: str, *docs: dict[str, Any]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n" + config, encoding="utf-8"
    )
    write_docs(tmp_path / "resources.yaml", docs or [MODELAPI, TOOLS, _agent("a")])
    return tmp_path


def _routes(out: Path, env: str) -> dict[str, dict[str, Any]]:
    objects = build_overlay(out / "overlays" / env)
    return {o["metadata"]["name"]: o for o in objects_of(objects, "HTTPRoute")}


GATEWAY_ON = "gateway:\n  enabled: true\n  auth: {external: true}\n"


def test_with_the_gateway_on_only_agents_are_routed_by_default(tmp_path: Path) -> None:
    src = _project(
        tmp_path / "p",
        GATEWAY_ON,
        MODELAPI,
        TOOLS,
        _agent("entry", mcpServers=["tools"]),
        _agent("hidden", agentNetwork={"expose": False}),
    )
    out = render_ok(src, tmp_path / "out")
    objects = build_overlay(out / "overlays" / "default")
    assert set(_routes(out, "default")) == {"agent-entry"}
    # The gateway may reach only what is routed, on its port.
    gateway_policies = [
        o
        for o in objects_of(objects, "NetworkPolicy")
        if o["metadata"]["name"].endswith("-gateway")
    ]
    assert [o["metadata"]["name"] for o in gateway_policies] == ["agent-entry-gateway"]
    assert gateway_policies[0]["spec"]["podSelector"] == {
        "matchLabels": {"app": "agent", "agent": "entry"}
    }
    assert gateway_policies[0]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]


def test_modelapis_and_mcp_servers_are_routed_when_asked(tmp_path: Path) -> None:
    """Per workload for every environment, per kind in one environment, and an
    environment's per-workload entry over the project's. KAOS's gatewayRoute.timeout
    still sets the route's timeout."""
    config = GATEWAY_ON + (
        "workloads:\n"
        "  modelapi/llm:\n    route: {enabled: true}\n"
        "environments:\n"
        "  dev: {}\n"
        "  staging:\n    gateway:\n      routes: {mcp: true}\n"
        "  prod:\n    workloads:\n      modelapi/llm:\n        route: {enabled: false}\n"
        "      agent/a:\n        route: {enabled: false}\n"
    )
    llm = kaos(
        "ModelAPI",
        "llm",
        {
            "mode": "Hosted",
            "hostedConfig": {"model": "smollm2:135m"},
            "gatewayRoute": {"timeout": "45s"},
        },
    )
    out = render_ok(_project(tmp_path / "p", config, llm, TOOLS, _agent("a")), tmp_path / "out")
    assert set(_routes(out, "dev")) == {"agent-a", "modelapi-llm"}
    assert set(_routes(out, "staging")) == {"agent-a", "modelapi-llm", "mcp-tools"}
    assert set(_routes(out, "prod")) == set()
    rules = _routes(out, "dev")["modelapi-llm"]["spec"]["rules"]
    assert rules and all(rule["timeouts"] == {"request": "45s"} for rule in rules)


def _resolve(route: dict[str, Any], method: str, path: str) -> str | None:
    """Where the gateway sends `method path` by this route (Gateway API matching: an Exact
    match beats a prefix, a longer prefix a shorter one, a method match none), or None."""
    best: tuple[tuple, dict, dict] | None = None
    for rule in route["spec"]["rules"]:
        for match in rule["matches"]:
            kind, value = match["path"]["type"], match["path"]["value"]
            if match.get("method") not in (None, method):
                continue
            if kind == "Exact" and path != value:
                continue
            if kind == "PathPrefix" and not (path == value or path.startswith(value + "/")):
                continue
            rank = (kind == "Exact", len(value), "method" in match)
            if best is None or rank > best[0]:
                best = (rank, rule, match)
    if best is None:
        return None
    _, rule, match = best
    (rewrite,) = [f["urlRewrite"]["path"] for f in rule["filters"] if f["type"] == "URLRewrite"]
    if rewrite["type"] == "ReplaceFullPath":
        return rewrite["replaceFullPath"]
    rest = path[len(match["path"]["value"]) :]
    return rewrite["replacePrefixMatch"].rstrip("/") + rest or "/"


def test_an_agent_route_forwards_only_its_public_api(tmp_path: Path) -> None:
    config = GATEWAY_ON + (
        "environments:\n"
        "  dev: {}\n"
        "  debug:\n    workloads:\n      agent/a:\n        route: {paths: [memory, metrics]}\n"
    )
    out = render_ok(_project(tmp_path / "p", config), tmp_path / "out")
    base = "/default/agent/a"
    dev = _routes(out, "dev")["agent-a"]
    assert len(dev["spec"]["rules"]) <= 16  # Gateway API's limit
    public = {
        ("POST", "/v1/chat/completions"): "/v1/chat/completions",
        ("GET", "/v1/models"): "/v1/models",
        ("GET", "/.well-known/agent.json"): "/.well-known/agent.json",
        ("GET", "/.well-known/agent-card.json"): "/.well-known/agent-card.json",
        ("GET", "/.well-known/agent"): "/.well-known/agent",
        # Reserved for A2A JSON-RPC: a POST to the card's URL.
        ("POST", ""): "/",
        ("POST", "/"): "/",
    }
    private = {
        ("GET", "/memory/events"): "/memory/events",
        ("GET", "/memory/sessions"): "/memory/sessions",
        ("GET", "/metrics"): "/metrics",
        ("GET", "/health"): None,
        ("GET", "/ready"): None,
    }
    for (method, path), inner in public.items():
        assert _resolve(dev, method, base + path) == inner, (method, path)
    for method, path in private:
        assert _resolve(dev, method, base + path) is None, (method, path)
    for method, path in [
        ("GET", ""),
        ("GET", "/"),
        ("POST", "/a2a"),
        ("GET", "/v1x"),
        ("GET", "/mcp"),
    ]:
        assert _resolve(dev, method, base + path) is None, (method, path)
    debug = _routes(out, "debug")["agent-a"]
    for (method, path), inner in {**public, **private}.items():
        assert _resolve(debug, method, base + path) == inner, (method, path)


PROXY = kaos(
    "ModelAPI",
    "llm",
    {
        "mode": "Proxy",
        "proxyConfig": {
            "models": ["smollm2:135m"],
            "apiKey": {"valueFrom": {"secretKeyRef": {"name": "k", "key": "k"}}},
        },
    },
)
#: Inference both ModelAPI modes answer (the OpenAI-compatible API).
OPENAI_INFERENCE = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/smollm2:135m"),
]
OLLAMA_INFERENCE = [
    *OPENAI_INFERENCE,
    ("POST", "/api/generate"),
    ("POST", "/api/chat"),
    ("POST", "/api/embed"),
    ("POST", "/api/embeddings"),
    ("GET", "/api/tags"),
    ("POST", "/api/show"),
    ("GET", "/api/version"),
]
#: Model management: an authenticated caller must not fill the disk or delete the model.
OLLAMA_MANAGEMENT = [
    ("POST", "/api/pull"),
    ("POST", "/api/push"),
    ("POST", "/api/create"),
    ("POST", "/api/copy"),
    ("DELETE", "/api/delete"),
    ("POST", "/api/blobs/sha256:00"),
    ("GET", "/api/ps"),
    ("GET", "/api/generatex"),
]
LITELLM_INFERENCE = [
    *OPENAI_INFERENCE,
    ("POST", "/chat/completions"),
    ("POST", "/completions"),
    ("POST", "/embeddings"),
    ("GET", "/models"),
]
#: LiteLLM's admin API and the provider's stateful APIs (files, batches, fine-tuning).
LITELLM_ADMIN = [
    ("POST", "/key/generate"),
    ("POST", "/user/new"),
    ("POST", "/model/new"),
    ("POST", "/config/update"),
    ("GET", "/model/info"),
    ("POST", "/v1/files"),
    ("POST", "/v1/batches"),
    ("POST", "/v1/fine_tuning/jobs"),
    ("GET", "/health"),
]


@pytest.mark.parametrize(
    ("modelapi", "inference", "management"),
    [(MODELAPI, OLLAMA_INFERENCE, OLLAMA_MANAGEMENT), (PROXY, LITELLM_INFERENCE, LITELLM_ADMIN)],
    ids=["hosted", "proxy"],
)
def test_a_modelapi_route_forwards_only_inference_unless_full_api(
    tmp_path: Path, modelapi: dict, inference: list, management: list
) -> None:
    """A routed ModelAPI forwards inference, never model management or admin APIs; an
    environment's `route.fullApi: true` forwards everything under the prefix."""
    config = GATEWAY_ON + (
        "workloads:\n  modelapi/llm:\n    route: {enabled: true}\n"
        "environments:\n"
        "  dev: {}\n"
        "  lab:\n    workloads:\n      modelapi/llm:\n        route: {fullApi: true}\n"
    )
    out = render_ok(_project(tmp_path / "p", config, modelapi, _agent("a")), tmp_path / "out")
    base = "/default/modelapi/llm"
    dev = _routes(out, "dev")["modelapi-llm"]
    assert len(dev["spec"]["rules"]) <= 16  # Gateway API's limit
    for method, path in inference:
        assert _resolve(dev, method, base + path) == path, (method, path)
    for method, path in [*management, ("GET", ""), ("GET", "/")]:
        assert _resolve(dev, method, base + path) is None, (method, path)
    lab = _routes(out, "lab")["modelapi-llm"]
    for method, path in [*inference, *management]:
        assert _resolve(lab, method, base + path) == path, (method, path)


def test_full_api_is_for_modelapis_only(tmp_path: Path) -> None:
    config = GATEWAY_ON + (
        "workloads:\n  mcpserver/tools:\n    route: {enabled: true, fullApi: true}\n"
    )
    found = _diagnostics(tmp_path, config)
    assert any(
        sev == "error" and rule == "route-paths" and "fullApi is for ModelAPIs" in message
        for sev, rule, message in found
    ), found


# --- diagnostics ----------------------------------------------------------------------------


def _diagnostics(tmp_path: Path, config: str, *docs: dict[str, Any]) -> list[tuple[str, str, str]]:
    _, diags = validate_json(".", cwd=_project(tmp_path, config, *docs))
    return [(d["severity"], d["rule"], d["message"]) for d in diags]


def test_routing_a_modelapi_or_mcp_server_without_authentication_warns(tmp_path: Path) -> None:
    config = (
        "gateway:\n  enabled: true\n  routes: {modelapi: true}\n"
        "workloads:\n  mcpserver/tools:\n    route: {enabled: true}\n"
    )
    found = _diagnostics(tmp_path / "open", config)
    assert ("warning", "route-unauthenticated",
            "ModelAPI 'llm' is routed through the gateway without authentication (environment "
            "'default'): anyone who reaches the gateway can spend your LLM budget") in found  # fmt: skip
    assert ("warning", "route-unauthenticated",
            "MCPServer 'tools' is routed through the gateway without authentication "
            "(environment 'default'): anyone who reaches the gateway can run its tools") in found  # fmt: skip
    assert ("warning", "route-unauthenticated",
            "environment 'default' routes agent 'a' through the gateway without "
            "authentication: anyone who reaches the gateway can use them") in found  # fmt: skip
    # Authenticated by kaosgen (Envoy) or by the gateway itself: no warning.
    envoy = config.replace(
        "enabled: true\n",
        "enabled: true\n  vendor: envoy\n  auth: {apiKey: {secretRef: {name: keys}}}\n"
        "  tls: {certificateSecret: agents-tls}\n",
        1,
    )
    assert not [d for d in _diagnostics(tmp_path / "envoy", envoy) if d[0] == "warning"]
    external = config.replace("enabled: true\n", "enabled: true\n  auth: {external: true}\n", 1)
    assert not [d for d in _diagnostics(tmp_path / "external", external) if d[0] == "warning"]


def test_misplaced_route_settings_are_errors(tmp_path: Path) -> None:
    config = (
        "gateway:\n  enabled: true\n  auth: {apiKey: {secretRef: {name: keys}}}\n"
        "  rateLimit: {requests: 10}\n"
        "workloads:\n"
        "  modelapi/llm:\n    route: {enabled: true, paths: [memory]}\n"
        "  agent/hidden:\n    route: {enabled: true}\n"
        "  agent/ghost:\n    route: {enabled: true}\n"
    )
    found = {(sev, rule) for sev, rule, _ in _diagnostics(
        tmp_path, config, MODELAPI, _agent("hidden", agentNetwork={"expose": False})
    )}  # fmt: skip
    assert {
        ("error", "gateway-vendor"),  # auth and rateLimit without vendor: envoy
        ("error", "route-paths"),
        ("error", "route-not-exposed"),
        ("error", "ref-workload"),
    } <= found


def test_jwt_providers_need_https_and_distinct_names(tmp_path: Path) -> None:
    provider = "{name: p, remoteJWKS: {uri: 'https://idp.example.com/jwks'}}"
    config = (
        f"gateway:\n  enabled: true\n  vendor: envoy\n  auth:\n    jwt:\n"
        f"      providers: [{provider}, {provider}]\n"
    )
    found = _diagnostics(tmp_path / "twice", config)
    assert ("error", "gateway-auth", "JWT provider name 'p' is used twice") in found
    plain = config.replace("https://", "http://")
    assert "schema-pattern" in {rule for _, rule, _ in _diagnostics(tmp_path / "http", plain)}


def test_projects_render_the_same_whatever_the_key_order(tmp_path: Path) -> None:
    """The merged settings do not depend on where in kaosgen.yaml a block is written."""
    a = GATEWAY_ON + "workloads:\n  modelapi/llm:\n    route: {enabled: true, auth: false}\n"
    b = "workloads:\n  modelapi/llm:\n    route: {auth: false, enabled: true}\n" + GATEWAY_ON
    one = render_ok(_project(tmp_path / "a", a), tmp_path / "out-a")
    two = render_ok(_project(tmp_path / "b", b), tmp_path / "out-b")
    assert dump_all(build_overlay(one / "overlays/default")) == dump_all(
        build_overlay(two / "overlays/default")
    )
    assert find(build_overlay(one / "overlays/default"), "HTTPRoute", "modelapi-llm")


def test_a_kaos_gateway_route_on_an_unrouted_workload_says_how_to_route_it(
    tmp_path: Path,
) -> None:
    """KAOS routes every workload; a KAOS document's spec.gatewayRoute on a ModelAPI that
    kaosgen does not route gets a warning at that field, with the kaosgen.yaml to write."""
    llm = kaos(
        "ModelAPI",
        "llm",
        {
            "mode": "Hosted",
            "hostedConfig": {"model": "smollm2:135m"},
            "gatewayRoute": {"timeout": "9s"},
        },
    )
    src = _project(tmp_path / "p", GATEWAY_ON, llm, _agent("a"))
    _, diags = validate_json(".", cwd=src)
    (unused,) = [d for d in diags if d["rule"] == "gateway-route-unused"]
    assert unused["message"] == (
        "ModelAPI 'llm' has spec.gatewayRoute but no environment routes it: kaosgen routes "
        "ModelAPIs only when kaosgen.yaml asks"
    )
    assert "workloads.modelapi/llm.route.enabled: true" in unused["hint"]
    lines = (src / "resources.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[unused["line"] - 1].strip() == "gatewayRoute:"
    routed = _project(
        tmp_path / "routed",
        GATEWAY_ON + "workloads:\n  modelapi/llm:\n    route: {enabled: true}\n",
        llm,
        _agent("a"),
    )
    _, diags = validate_json(".", cwd=routed)
    assert not [d for d in diags if d["rule"] == "gateway-route-unused"]


# --- HTTPS on the rendered Gateway ------------------------------------------------------------


def test_gateway_tls_serves_https_and_port_80_only_redirects(tmp_path: Path) -> None:
    config = (
        "gateway:\n  enabled: true\n  vendor: envoy\n"
        "  auth: {apiKey: {secretRef: {name: keys}}}\n"
        "  tls: {certificateSecret: agents-tls}\n"
    )
    out = render_ok(_project(tmp_path / "p", config), tmp_path / "out")
    platform = build_overlay(out / "platform" / "gateway")
    for obj in platform:
        if obj["kind"] != "GatewayClass":
            validate_crd_object(obj)
    (gateway,) = [o for o in platform if o["kind"] == "Gateway"]
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    assert listeners["https"]["port"] == 443 and listeners["https"]["protocol"] == "HTTPS"
    assert listeners["https"]["tls"]["certificateRefs"] == [
        {"kind": "Secret", "name": "agents-tls"}
    ]
    # Port 80 takes only routes of the Gateway's own namespace: the redirect.
    assert listeners["http"]["allowedRoutes"] == {"namespaces": {"from": "Same"}}
    (redirect,) = [o for o in platform if o["kind"] == "HTTPRoute"]
    assert redirect["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert redirect["spec"]["parentRefs"][0]["sectionName"] == "http"
    (rule,) = redirect["spec"]["rules"]
    assert rule["filters"] == [
        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    ]
    # Every workload route attaches to the HTTPS listener only.
    (env,) = overlay_dirs(out)
    routes = [o for o in build_overlay(env) if o["kind"] == "HTTPRoute"]
    assert routes and all(
        [p.get("sectionName") for p in r["spec"]["parentRefs"]] == ["https"] for r in routes
    )


def test_gateway_tls_checks(tmp_path: Path) -> None:
    auth = "  auth: {apiKey: {secretRef: {name: keys}}}\n"
    plain = _diagnostics(tmp_path / "plain", "gateway:\n  enabled: true\n  vendor: envoy\n" + auth)
    assert [d[:2] for d in plain] == [("warning", "gateway-plaintext")]
    # TLS is for the Gateway kaosgen renders; a listener it does not have attaches nothing.
    tls = "  tls: {certificateSecret: agents-tls}\n"
    foreign = _diagnostics(tmp_path / "foreign", "gateway:\n  enabled: true\n" + tls + auth)
    assert ("error", "gateway-vendor") in [d[:2] for d in foreign]
    section = (
        "gateway:\n  enabled: true\n  vendor: envoy\n"
        "  parentRef: {name: kaos-gateway, namespace: envoy-gateway-system, sectionName: http}\n"
    )
    found = _diagnostics(tmp_path / "section", section + tls + auth)
    assert ("error", "gateway-listener",
            "sectionName 'http' is not a listener the rendered Gateway takes routes on: it has "
            "'https' (port 80 only redirects)") in found  # fmt: skip
    other = section.replace("sectionName: http", "sectionName: web")
    found = _diagnostics(tmp_path / "other", other + auth)
    assert ("error", "gateway-listener",
            "sectionName 'web' is not a listener the rendered Gateway takes routes on: it has "
            "'http'") in found  # fmt: skip


@pytest.mark.parametrize("project", _envoy_projects())
def test_the_rendered_gateway_validates_against_the_gateway_api_crds(
    project: str, renders: Renders
) -> None:
    platform = build_overlay(renders.output(project) / "platform" / "gateway")
    assert {o["kind"] for o in platform} >= {"GatewayClass", "Gateway"}
    for obj in platform:
        if obj["kind"] != "GatewayClass":
            validate_crd_object(obj)


def test_a_gateway_in_the_workloads_namespace_admits_only_its_proxies(tmp_path: Path) -> None:
    """parentRef without a namespace: the Gateway's proxies (GEP-1762 label) reach the
    routed MCP server; another pod of the namespace does not get past the gateway's
    authentication to its tools."""
    from support.netpol import Pod, ingress_allowed, pods

    config = (
        "gateway:\n  enabled: true\n  auth: {external: true}\n  parentRef: {name: edge}\n"
        "  routes: {mcp: true}\n"
        "environments:\n  dev: {namespace: agents}\n"
    )
    out = render_ok(_project(tmp_path / "p", config), tmp_path / "out")
    objects = build_overlay(out / "overlays" / "dev")
    policies = objects_of(objects, "NetworkPolicy")
    tools = pods(objects)["mcpserver-tools"]
    proxy = Pod("agents", {"gateway.networking.k8s.io/gateway-name": "edge"})
    assert ingress_allowed(policies, tools, proxy, 8000)
    assert not ingress_allowed(policies, tools, Pod("agents", {"app": "web"}), 8000)
    assert not ingress_allowed(policies, tools, Pod("agents", {}), 8000)
