"""Objects for each workload: Deployment, Service, ServiceAccount, ConfigMap/Secret.

One builder per KAOS kind computes the container (image, env in KAOS order, probes,
mounts); the shared `_assemble` wraps it into the objects every workload has, applies the
user's podSpec and stamps the content hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kaos_contract import env as contract

from kaosgen import effective, imageref, yamlout
from kaosgen.generate import modelsize, pods
from kaosgen.generate.pods import literal
from kaosgen.generate.templating import prune, render
from kaosgen.graph import AgentNode, MCPServerNode, ModelAPINode, Workload
from kaosgen.models.common import ResourceRequirements
from kaosgen.models.project import Project

LITELLM_CONFIG_DIR = "/etc/litellm"
OLLAMA_HOME = "/home/ollama"
OLLAMA_DATA = f"{OLLAMA_HOME}/.ollama"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"


@dataclass
class RenderedWorkload:
    node: Workload
    objects: list[dict[str, Any]]
    images: list[str] = field(default_factory=list)
    explicit_resources: bool = False


def resource_kind(node: Workload) -> str:
    """Which `resources` default of kaosgen.yaml a workload takes."""
    if isinstance(node, ModelAPINode):
        return "ollama" if node.mode == "Hosted" else "litellm"
    return {"Agent": "agent", "MCPServer": "mcp_server"}[node.kind]


def _meta(node: Workload, project: Project, source: str) -> dict[str, Any]:
    return {
        "namespace": node.namespace,
        "labels": pods.object_labels(node, project.labels),
        "annotations": {**node.annotations, pods.SOURCE_ANNOTATION: source},
    }


def _assemble(
    node: Workload,
    project: Project,
    source: str,
    *,
    main: dict[str, Any],
    init_containers: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    config_objects: list[dict[str, Any]] | None = None,
    service_account: str | None = None,
    automount_token: bool = False,
    wave: str | None = None,
    strategy: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    meta = _meta(node, project, source)
    labels = meta["labels"]
    pod_labels = dict(labels)
    if node.exposed:
        pod_labels[pods.EXPOSED_LABEL] = "true"
    pod_spec = {
        "initContainers": init_containers or None,
        "containers": [main],
        "volumes": [pods.TMP_VOLUME, *(volumes or [])],
    }
    merged = prune(pods.strategic_merge(pod_spec, node.pod_spec) if node.pod_spec else pod_spec)
    config_data = [o.get("data") for o in (config_objects or [])]
    annotations = {pods.HASH_ANNOTATION: pods.content_hash(merged, config_data)}
    dep_annotations = dict(meta["annotations"] or {})
    if wave is not None:
        dep_annotations[SYNC_WAVE] = wave
    deployment = render(
        "deployment.json.j2",
        # An HPA owns the replica count wherever one is rendered: leave it out of the base.
        replicas=None if effective.autoscaled_anywhere(project, node) else 1,
        name=node.object_name,
        namespace=node.namespace,
        labels=labels | ({pods.RESOURCES_LABEL: "spec"} if node.resources else {}),
        annotations=dep_annotations or None,
        selector=node.selector,
        strategy=strategy
        or {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        pod_labels=pod_labels,
        pod_annotations=annotations,
        service_account=service_account or node.object_name,
        automount_token=automount_token,
        pod_security_context=pods.POD_SECURITY_CONTEXT,
        init_containers=None,
        containers=[],
        volumes=None,
    )
    template_spec = deployment["spec"]["template"]["spec"]
    # The merged pod spec replaces the template's pod-level lists wholesale.
    for key in ("initContainers", "containers", "volumes"):
        template_spec.pop(key, None)
    for key, value in merged.items():
        if value is not None:
            template_spec[key] = value
    objects: list[dict[str, Any]] = []
    if service_account is None:
        objects.append(
            render(
                "serviceaccount.json.j2",
                name=node.object_name,
                namespace=node.namespace,
                labels=labels,
                annotations=meta["annotations"],
            )
        )
    objects.extend(config_objects or [])
    objects.append(deployment)
    if node.exposed:
        objects.append(
            render(
                "service.json.j2",
                name=node.object_name,
                namespace=node.namespace,
                labels=labels,
                annotations=meta["annotations"],
                selector=node.selector,
                port=node.port,
            )
        )
    return objects


def _user_env(node: Workload) -> list[dict[str, Any]]:
    return [pods.env_entry(v) for v in node.env]


def telemetry_env(node: Workload) -> list[dict[str, Any]]:
    """OpenTelemetry SDK variables when `telemetry.enabled` (contract §3, item 7)."""
    telemetry = node.telemetry
    if not (telemetry and telemetry.enabled):
        return []
    env = [
        {"name": "OTEL_SDK_DISABLED", "value": "false"},
        {"name": "OTEL_SERVICE_NAME", "value": node.name},
    ]
    if telemetry.endpoint:
        env.append({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": literal(telemetry.endpoint)})
    namespace = node.namespace or "default"
    env.append(
        {
            "name": "OTEL_RESOURCE_ATTRIBUTES",
            "value": f"service.namespace={namespace},kaos.resource.name={node.name}",
        }
    )
    return env


# --- Agent --------------------------------------------------------------------------


def _derived_env(agent: AgentNode, project: Project, user_names: set[str]) -> tuple[list, list]:
    """(identity, wiring): what the compiler sets, in KAOS order (contract §3)."""
    identity: list[dict[str, Any]] = [{"name": "AGENT_NAME", "value": agent.name}]
    if agent.description:
        identity.append({"name": "AGENT_DESCRIPTION", "value": literal(agent.description)})
    if agent.instructions:
        identity.append({"name": "AGENT_INSTRUCTIONS", "value": literal(agent.instructions)})
    wiring: list[dict[str, Any]] = []

    def add(name: str, value: str) -> None:
        wiring.append({"name": name, "value": value})

    api = agent.model_api
    if api is not None:
        add("MODEL_API_URL", contract.service_url(api.object_name, api.port))
    add("MODEL_NAME", literal(agent.model))
    if api is not None:
        # kaosgen's addition, after KAOS's MODEL_API_URL/MODEL_NAME pair (contract order).
        add("MODEL_API_MODE", api.mode)
    add("AGENTIC_LOOP_MAX_STEPS", str(agent.max_steps))
    if agent.memory_explicit:
        add("MEMORY_ENABLED", "true" if agent.memory_enabled else "false")
        add("MEMORY_TYPE", agent.memory_type)
        add("MEMORY_CONTEXT_LIMIT", str(agent.context_limit))
        add("MEMORY_MAX_SESSIONS", str(agent.max_sessions))
        add("MEMORY_MAX_SESSION_EVENTS", str(agent.max_session_events))
    if (
        agent.memory_type == "redis"
        and "MEMORY_REDIS_URL" not in user_names
        and project.components.redis
    ):
        add("MEMORY_REDIS_URL", "redis://kaos-redis:6379/0")
        if redis_password_mounted(agent, project, user_names):
            add("MEMORY_REDIS_PASSWORD_FILE", contract.REDIS_PASSWORD_FILE)
    if agent.mcp_servers:
        servers = sorted(agent.mcp_servers, key=lambda s: s.name)
        add("MCP_SERVERS", contract.join_csv([s.name for s in servers]))
        for server in servers:
            add(
                contract.mcp_server_url_var(server.name),
                contract.service_url(server.object_name, server.port),
            )
    if agent.peers:
        peers = sorted(agent.peers, key=lambda p: p.name)
        add("PEER_AGENTS", contract.join_csv([p.name for p in peers]))
        for peer in peers:
            add(
                contract.peer_card_url_var(peer.name),
                contract.service_url(peer.object_name, peer.port),
            )
    wiring.extend(telemetry_env(agent))
    # The user's LOG_LEVEL and offline switches win; kaosgen's additions follow KAOS's set.
    if "LOG_LEVEL" not in user_names:
        add("LOG_LEVEL", "INFO")
    if agent.tool_call_mode:
        add("TOOL_CALL_MODE", agent.tool_call_mode)
    add("WAIT_FOR_DEPENDENCIES", "true" if agent.wait_for_dependencies else "false")
    # Rendered so the bound is visible; a user's container.env value wins (like LOG_LEVEL).
    if "MODEL_CALL_BUDGET" not in user_names:
        add("MODEL_CALL_BUDGET", str(contract.MODEL_CALL_BUDGET_DEFAULT))
    for name, value in contract.OFFLINE_ENV.items():
        if name not in user_names:
            add(name, value)
    return identity, wiring


def replaced_user_env(agent: AgentNode, project: Project) -> list[str]:
    """Names in the user's container.env that the compiler's wiring replaces."""
    user_names = {v.name for v in agent.env}
    _, wiring = _derived_env(agent, project, user_names)
    wired = {e["name"] for e in wiring}
    return [v.name for v in agent.env if v.name in wired]


def agent_env(agent: AgentNode, project: Project) -> list[dict[str, Any]]:
    """Identity, then the user's container.env, then the wiring (contract §3).

    A user's AGENT_* replaces the compiler's; a user's variable that the wiring also sets
    is dropped (the check pass warns), so no name appears twice.
    """
    user_names = {v.name for v in agent.env}
    identity, wiring = _derived_env(agent, project, user_names)
    wired = {e["name"] for e in wiring}
    return [
        *(e for e in identity if e["name"] not in user_names),
        *(pods.env_entry(v) for v in agent.env if v.name not in wired),
        *wiring,
    ]


REDIS_PASSWORD_VOLUME = "redis-password"


def redis_password_mounted(agent: AgentNode, project: Project, user_names: set[str]) -> bool:
    """Whether the agent gets the Redis component's password Secret as a file: it uses the
    component (no MEMORY_REDIS_URL of its own) and sets no MEMORY_REDIS_PASSWORD itself."""
    return (
        agent.memory_type == "redis"
        and project.components.redis_password is not None
        and not {"MEMORY_REDIS_URL", "MEMORY_REDIS_PASSWORD"} & user_names
    )


def redis_password_volume(project: Project) -> dict[str, Any]:
    """The password Secret as one read-only file, `password` (a file, not an environment
    variable: nothing that dumps the environment sees it)."""
    secret = project.components.redis_password
    assert secret is not None
    return {
        "name": REDIS_PASSWORD_VOLUME,
        "secret": {
            "secretName": secret.name,
            "items": [{"key": secret.key, "path": "password"}],
            "defaultMode": 0o440,
        },
    }


REDIS_PASSWORD_MOUNT = {
    "name": REDIS_PASSWORD_VOLUME,
    "mountPath": contract.REDIS_PASSWORD_DIR,
    "readOnly": True,
}


def build_agent(agent: AgentNode, project: Project, source: str) -> RenderedWorkload:
    image = project.images.agent
    password = redis_password_mounted(agent, project, {v.name for v in agent.env})
    main = pods.container(
        agent,
        image=image,
        env=agent_env(agent, project),
        port=contract.AGENT_PORT_DEFAULT,
        resources=project.resources.agent,
        liveness=pods.http_probe("/health", initial=5),
        readiness=pods.http_probe("/ready", initial=3, period=5),
        mounts=[dict(REDIS_PASSWORD_MOUNT)] if password else None,
    )
    objects = _assemble(
        agent,
        project,
        source,
        main=main,
        volumes=[redis_password_volume(project)] if password else None,
        wave="1" if agent.wait_for_dependencies else None,
    )
    return RenderedWorkload(agent, objects, [agent.image or image], bool(agent.resources))


# --- ModelAPI -----------------------------------------------------------------------


def litellm_config(api: ModelAPINode) -> dict[str, Any]:
    """The LiteLLM proxy config KAOS generates: one model_list entry per model."""
    params_extra: dict[str, str] = {}
    if api.api_base:
        params_extra["api_base"] = "os.environ/PROXY_API_BASE"
    if api.api_key:
        params_extra["api_key"] = "os.environ/PROXY_API_KEY"
    model_list = []
    for model in api.models:
        target = f"{api.provider}/{model}" if api.provider else model
        model_list.append(
            {"model_name": model, "litellm_params": {"model": target, **params_extra}}
        )
    settings: dict[str, Any] = {"drop_params": True}
    if api.telemetry and api.telemetry.enabled:
        settings["callbacks"] = ["otel"]
    return {"model_list": model_list, "litellm_settings": settings}


def build_modelapi(api: ModelAPINode, project: Project, source: str) -> RenderedWorkload:
    meta = _meta(api, project, source)
    if api.mode == "Hosted":
        return _build_ollama(api, project, source)
    env = _user_env(api)
    if api.api_base:
        env.append({"name": "PROXY_API_BASE", "value": literal(api.api_base)})
    config_objects: list[dict[str, Any]] = []
    if api.api_key and api.api_key.value_from is not None:
        env.append(
            {
                "name": "PROXY_API_KEY",
                "valueFrom": api.api_key.value_from.model_dump(by_alias=True, exclude_none=True),
            }
        )
    elif api.api_key and api.api_key.value is not None:
        secret_name = f"{api.object_name}-api-key"
        config_objects.append(
            render(
                "secret.json.j2",
                name=secret_name,
                namespace=api.namespace,
                labels=meta["labels"],
                annotations=meta["annotations"],
                string_data={"api-key": api.api_key.value},
            )
        )
        env.append(
            {
                "name": "PROXY_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "api-key"}},
            }
        )
    if api.telemetry and api.telemetry.enabled and api.telemetry.endpoint:
        # LiteLLM's otel callback reads OTEL_EXPORTER / OTEL_ENDPOINT.
        env.append({"name": "OTEL_EXPORTER", "value": "otlp_http"})
        env.append({"name": "OTEL_ENDPOINT", "value": api.telemetry.endpoint})
    env.extend(telemetry_env(api))
    env.extend(
        {"name": k, "value": v} for k, v in contract.OFFLINE_ENV.items() if k.startswith("LITELLM")
    )
    config_yaml = api.config_yaml
    if config_yaml and config_yaml.from_secret_key_ref:
        ref = config_yaml.from_secret_key_ref
        volume = {
            "name": "litellm-config",
            "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": "config.yaml"}]},
        }
    else:
        text = (
            config_yaml.from_string
            if config_yaml and config_yaml.from_string is not None
            else yamlout.dump(litellm_config(api))
        )
        config_objects.append(
            render(
                "configmap.json.j2",
                name=f"litellm-config-{api.name}",
                namespace=api.namespace,
                labels=meta["labels"],
                annotations=meta["annotations"],
                data={"config.yaml": text},
            )
        )
        volume = {"name": "litellm-config", "configMap": {"name": f"litellm-config-{api.name}"}}
    main = pods.container(
        api,
        image=project.images.litellm,
        env=env,
        port=contract.PROXY_MODELAPI_PORT,
        resources=project.resources.litellm,
        args=[
            "--config",
            f"{LITELLM_CONFIG_DIR}/config.yaml",
            "--port",
            str(contract.PROXY_MODELAPI_PORT),
        ],
        liveness=pods.http_probe("/health/liveliness", initial=10, period=15),
        readiness=pods.http_probe("/health/readiness", initial=5, period=10),
        startup=pods.http_probe("/health/liveliness", initial=5, period=5, failures=60),
        mounts=[{"name": "litellm-config", "mountPath": LITELLM_CONFIG_DIR, "readOnly": True}],
    )
    main["env"] = [*(main["env"] or []), {"name": "HOME", "value": "/tmp"}]
    objects = _assemble(
        api, project, source, main=main, volumes=[volume], config_objects=config_objects, wave="0"
    )
    return RenderedWorkload(
        api, objects, [api.image or project.images.litellm], bool(api.resources)
    )


#: The init container's job: start a loopback-only Ollama, make sure the model is there
#: (OLLAMA_PULL: IfNotPresent pulls a missing model, Always refreshes it, Never only checks),
#: stop. A model kept on a PVC or baked into the image is never pulled again.
_PULL_SCRIPT = """\
ollama serve >/tmp/ollama-pull.log 2>&1 &
pid=$!
tries=0
until ollama list >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 120 ]; then echo "ollama did not start" >&2; cat /tmp/ollama-pull.log >&2; exit 1; fi
  sleep 1
done
status=0
policy="${OLLAMA_PULL:-IfNotPresent}"
if [ "$policy" != Always ] && ollama show "$MODEL" >/dev/null 2>&1; then
  echo "model $MODEL is present in $OLLAMA_MODELS"
elif [ "$policy" = Never ]; then
  echo "model $MODEL is not in $OLLAMA_MODELS and pull is Never: bake it into the image or pre-load the volume" >&2
  status=1
else
  ollama pull "$MODEL"
  status=$?
fi
kill "$pid"
wait "$pid" 2>/dev/null
exit "$status"
"""
OLLAMA_CONTAINER = ModelAPINode.container_name
PULL_CONTAINER = "pull-model"
OLLAMA_DATA_VOLUME = "ollama-data"
#: Ollama's home holds nothing but the model directory, which is its own volume.
OLLAMA_HOME_SIZE = "64Mi"


def hosted_resources(api: ModelAPINode, floor: ResourceRequirements) -> ResourceRequirements:
    """An Ollama server's resources: from the model tag's size when it says one (never
    below `floor`, the project's defaults), else `floor`; the ephemeral-storage limit
    holds the model's emptyDir."""
    size = modelsize.parse(api.pull_model)
    resources = modelsize.hosted_resources(size, floor) if size else floor
    return modelsize.with_model_disk(resources, modelsize.model_disk(api.pull_model))


def _build_ollama(api: ModelAPINode, project: Project, source: str) -> RenderedWorkload:
    image = api.image or project.images.ollama

    def ollama_env(host: str) -> list[dict[str, Any]]:
        return [
            {"name": "HOME", "value": OLLAMA_HOME},
            {"name": "OLLAMA_HOST", "value": f"{host}:{contract.HOSTED_MODELAPI_PORT}"},
            {"name": "OLLAMA_MODELS", "value": f"{OLLAMA_DATA}/models"},
        ]

    resources = api.resources or hosted_resources(api, project.resources.ollama)
    data_mount = {"name": OLLAMA_DATA_VOLUME, "mountPath": OLLAMA_DATA}
    home_mount = {"name": "ollama-home", "mountPath": OLLAMA_HOME}
    main = pods.container(
        api,
        image=project.images.ollama,
        env=[*ollama_env("0.0.0.0"), *_user_env(api)],
        port=contract.HOSTED_MODELAPI_PORT,
        resources=resources,
        liveness=pods.http_probe("/", initial=10, period=15),
        readiness=pods.http_probe("/", initial=5, period=10),
        mounts=[home_mount, data_mount],
    )
    pull = {
        "name": PULL_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", _PULL_SCRIPT],
        # The pull step's server listens on loopback only.
        "env": [*ollama_env("127.0.0.1"), {"name": "MODEL", "value": literal(api.pull_model)}],
        "resources": pods.resources_data(resources),
        "securityContext": dict(pods.CONTAINER_SECURITY_CONTEXT),
        "volumeMounts": [pods.TMP_MOUNT, home_mount, data_mount],
    }
    # Bounded: a pull (or a model bigger than its tag says) cannot fill the node's disk.
    volumes = [
        {"name": "ollama-home", "emptyDir": {"sizeLimit": OLLAMA_HOME_SIZE}},
        {
            "name": OLLAMA_DATA_VOLUME,
            "emptyDir": {"sizeLimit": modelsize.model_disk(api.pull_model)},
        },
    ]
    objects = _assemble(
        api,
        project,
        source,
        main=main,
        init_containers=[pull],
        volumes=volumes,
        wave="0",
        strategy={"type": "Recreate"},
    )
    return RenderedWorkload(api, objects, [image], bool(api.resources))


# --- MCPServer ----------------------------------------------------------------------


def _mcp_host_env(server: MCPServerNode) -> list[dict[str, Any]]:
    """What the runtime's DNS-rebinding protection needs: the Service's name and the pod's
    namespace (its in-cluster DNS names). Requests through the gateway arrive with the
    Service's name too (`gateway.httproute` rewrites Host). A user's own
    value in container.env replaces kaosgen's."""
    user = {v.name for v in server.env}
    namespace_ref = {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
    env: list[dict[str, Any]] = [
        {"name": contract.MCP_SERVICE_NAME, "value": server.object_name},
        {"name": contract.POD_NAMESPACE, "valueFrom": namespace_ref},
    ]
    return [e for e in env if e["name"] not in user]


def mcp_http_probes(image: str, runtime: str, project: Project) -> bool:
    """Whether the server's image answers GET /health: kaosgen's MCP runtime does (any tag or
    digest of images.mcpServer), and so does a kaosgen.yaml runtime declaring httpHealth,
    on its own image. Every other image (custom, KAOS's python-string image, node) gets TCP
    probes, as the KAOS operator renders them."""

    def repository(ref: str) -> tuple[str, str]:
        parsed = imageref.parse(ref)
        return parsed.registry, parsed.repository

    if repository(image) == repository(project.images.mcp_server):
        return True
    declared = project.images.mcp_runtimes.get(runtime)
    return bool(
        declared and declared.http_health and repository(image) == repository(declared.image)
    )


def build_mcpserver(server: MCPServerNode, project: Project, source: str) -> RenderedWorkload:
    env: list[dict[str, Any]] = []
    command: list[str] | None = None
    args: list[str] | None = None
    runtime = server.runtime
    image = project.images.mcp_server
    port = contract.MCP_PORT_DEFAULT
    if runtime in ("python-string", "python-secret", "python-package"):
        env.append({"name": contract.MCP_SERVER_NAME, "value": server.name})
        env.append({"name": contract.MCP_PORT, "value": str(port)})
        env.extend(_mcp_host_env(server))
        if runtime == "python-string":
            env.append({"name": contract.MCP_TOOLS_STRING, "value": literal(server.params or "")})
        elif runtime == "python-secret" and server.source_secret is not None:
            ref = server.source_secret.model_dump(by_alias=True, exclude_none=True)
            env.append({"name": contract.MCP_TOOLS_STRING, "valueFrom": {"secretKeyRef": ref}})
        else:
            env.append(
                {
                    "name": contract.MCP_PACKAGE,
                    "value": literal(server.package or server.params or ""),
                }
            )
        env.extend(
            {"name": k, "value": v}
            for k, v in contract.OFFLINE_ENV.items()
            if k.startswith("FASTMCP")
        )
    elif runtime == "node-package":
        image = project.images.mcp_node
        command = ["npx", "--no-install", server.package or ""]
        env.append({"name": "PORT", "value": str(port)})
    elif runtime == "custom":
        image = server.image or ""
    else:
        spec = project.images.mcp_runtimes[runtime]
        image = spec.image
        command = spec.command
        params = literal(server.params or "")
        args = [a.replace("{params}", params) for a in spec.args] if spec.args else None
        if spec.params_env:
            env.append({"name": spec.params_env, "value": params})
    env.extend(telemetry_env(server))
    env.extend(_user_env(server))
    http_health = mcp_http_probes(server.image or image, runtime, project)
    health = contract.MCP_HEALTH_PATH
    probe = pods.http_probe(health) if http_health else pods.tcp_probe()
    main = pods.container(
        server,
        image=image,
        env=env,
        port=port,
        resources=project.resources.mcp_server,
        command=command,
        args=args,
        liveness=probe,
        readiness=pods.http_probe(health, initial=2, period=5)
        if http_health
        else pods.tcp_probe(initial=2, period=5),
    )
    objects = _assemble(
        server,
        project,
        source,
        main=main,
        service_account=server.service_account_name,
        automount_token=bool(server.service_account_name),
        wave="0",
    )
    return RenderedWorkload(server, objects, [server.image or image], bool(server.resources))
