"""The output tree: `base/` (every environment's common objects) and `overlays/<env>/`.

Environment differences are expressed with kustomize's own fields (namespace, labels,
images, replicas) plus a few generated files (HTTPRoutes, PodDisruptionBudgets, resource
patches), so `kubectl kustomize overlays/<env>` is the whole story of an environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kaos_contract import env as contract

from kaosgen import default_limits, effective, imageref, images, yamlout
from kaosgen.generate import envoy, gateway, modelstorage, network, pods, scaling, workloads
from kaosgen.generate.templating import render
from kaosgen.generate.workloads import RenderedWorkload
from kaosgen.graph import Graph, ModelAPINode, Workload
from kaosgen.models.common import ResourceRequirements
from kaosgen.models.project import Environment, Project

#: A file of the output: its objects (several documents) or one mapping (kustomization).
Files = dict[str, list[dict[str, Any]]]

_PLURAL = {"Agent": "agents", "ModelAPI": "modelapis", "MCPServer": "mcpservers"}
ENV_LABEL = "kaosgen.dev/environment"
REDIS_COMPONENT = "redis"
#: Every Deployment kaosgen renders for a KAOS resource (not vendored components).
WORKLOAD_SELECTOR = "app in (agent,modelapi,mcpserver)"


def workload_path(node: Workload, multi_namespace: bool) -> str:
    stem = f"{node.namespace or 'default'}.{node.name}" if multi_namespace else node.name
    return f"base/{_PLURAL[node.kind]}/{stem}.yaml"


def kustomization(**fields: Any) -> dict[str, Any]:
    defaults = {
        "namespace": None,
        "resources": None,
        "labels": None,
        "annotations": None,
        "images": None,
        "replicas": None,
        "patches": None,
    }
    defaults.update(fields)
    return render("kustomization.json.j2", **defaults)


def base_files(
    rendered: list[RenderedWorkload],
    graph: Graph,
    project: Project,
    passthrough: list[dict[str, Any]],
    components: dict[str, dict[str, str]],
) -> Files:
    files: Files = {}
    multi = len(graph.namespaces()) > 1
    resources: list[str] = []
    if passthrough:
        files["base/resources.yaml"] = passthrough
        resources.append("resources.yaml")
    callers = network.callers(graph)
    for item in rendered:
        path = workload_path(item.node, multi)
        objects = list(item.objects)
        if project.security.network_policies:
            objects.append(network.workload_policy(item.node, graph, project, callers))
        files[path] = objects
        resources.append(path.removeprefix("base/"))
    if project.security.network_policies and rendered:
        namespaces = graph.namespaces()
        files["base/network-policies.yaml"] = [
            network.default_deny(ns or None, project) for ns in namespaces
        ]
        resources.append("network-policies.yaml")
    for directory in sorted(components):
        if directory.startswith("base/"):
            resources.append(directory.removeprefix("base/"))
    files["base/kustomization.yaml"] = [kustomization(resources=resources)]
    return files


def route_namespaces(project: Project, graph: Graph) -> list[str] | None:
    """The namespaces the project's HTTPRoutes land in (each environment's namespace, else
    the resources' own), or None when one is left to whoever applies the output."""
    found: set[str] = set()
    for env in project.environments.values():
        if env.namespace:
            found.add(env.namespace)
            continue
        for namespace in graph.namespaces():
            if not namespace:
                return None
            found.add(namespace)
    return sorted(found)


def gateway_platform_files(project: Project, graph: Graph) -> Files:
    """The kustomization of the vendored Envoy Gateway piece, named after gateway.parentRef.

    The Gateway is placed with a patch, not kustomize's `namespace:`, which would also
    stamp a namespace on the cluster-scoped GatewayClass. Its listener takes routes only
    from the project's namespaces: open to all, any tenant could publish on it. With
    `gateway.tls` that listener is HTTPS on 443, and port 80 only redirects there (one
    HTTPRoute, `<name>-https`).
    """
    parent = project.gateway.parent_ref
    namespace = parent.namespace or "envoy-gateway-system"
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/metadata/name", "value": parent.name},
        {"op": "add", "path": "/metadata/namespace", "value": namespace},
    ]
    namespaces = route_namespaces(project, graph)
    allowed: dict[str, Any] = {"from": "All"}
    if namespaces is not None:
        selector = {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}
        allowed = {"from": "Selector", "selector": {"matchExpressions": [selector]}}
    files: Files = {}
    resources = ["gateway.yaml"]
    tls = project.gateway.tls
    if tls is None:
        if namespaces is not None:
            ops.append(
                {
                    "op": "replace",
                    "path": "/spec/listeners/0/allowedRoutes/namespaces",
                    "value": allowed,
                }
            )
    else:
        certificate = {"kind": "Secret", "name": tls.certificate_secret}
        listeners = [
            # Only the redirect below, in the Gateway's namespace, attaches here.
            {"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": _SAME_NAMESPACE},
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 443,
                "tls": {"mode": "Terminate", "certificateRefs": [certificate]},
                "allowedRoutes": {"namespaces": allowed},
            },
        ]
        ops.append({"op": "replace", "path": "/spec/listeners", "value": listeners})
        resources.append("https-redirect.yaml")
        files["platform/gateway/https-redirect.yaml"] = [_https_redirect(parent.name, namespace)]
    files["platform/gateway/kustomization.yaml"] = [
        kustomization(
            resources=resources,
            patches=[
                {
                    "patch": yamlout.dump(ops),
                    "target": {"kind": "Gateway", "name": "kaos-gateway"},
                }
            ],
        )
    ]
    return files


_SAME_NAMESPACE = {"namespaces": {"from": "Same"}}


def _https_redirect(gateway: str, namespace: str) -> dict[str, Any]:
    """The route of the Gateway's port 80: every request redirected to HTTPS (301)."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": f"{gateway}-https",
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "kaosgen",
                "app.kubernetes.io/part-of": "kaos",
            },
        },
        "spec": {
            "parentRefs": [{"name": gateway, "namespace": namespace, "sectionName": "http"}],
            "rules": [
                {
                    "filters": [
                        {
                            "type": "RequestRedirect",
                            "requestRedirect": {"scheme": "https", "statusCode": 301},
                        }
                    ]
                }
            ],
        },
    }


def _registry_name(ref: imageref.ImageReference, registry: str) -> str:
    """The name under a mirror: the registry replaced, the repository path kept
    (`docker.io/library/redis` -> `<registry>/library/redis`)."""
    return registry.rstrip("/") + "/" + ref.repository


#: redis-server with the password of the mounted Secret; no password, no Redis (an empty
#: --requirepass would start it open).
REDIS_WITH_PASSWORD = """\
password="$(cat "$REDIS_PASSWORD_FILE")" && [ -n "$password" ] || {
  echo "no Redis password in $REDIS_PASSWORD_FILE" >&2; exit 1; }
exec redis-server "$@" --requirepass "$password"
"""
#: Ready means PONG to an authenticated PING.
REDIS_READY_WITH_PASSWORD = (
    'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" redis-cli ping | grep -q PONG'
)


def redis_component_files(project: Project) -> Files:
    """The Redis piece's kustomization when it takes a password from a Secret.

    The Secret is mounted as a file (never an environment variable); redis-server gets it
    as `--requirepass` from a shell that reads the file (redis-server then overwrites its
    process title, so it is not in /proc/<pid>/cmdline), and the readiness probe
    authenticates with it. Agents mount the same Secret (MEMORY_REDIS_PASSWORD_FILE).
    """
    if project.components.redis_password is None:
        return {}
    container = "/spec/template/spec/containers/0"
    ops = [
        {"op": "test", "path": f"{container}/name", "value": "redis"},
        {
            "op": "add",
            "path": "/spec/template/spec/volumes/-",
            "value": workloads.redis_password_volume(project),
        },
        {
            "op": "add",
            "path": f"{container}/volumeMounts/-",
            "value": dict(workloads.REDIS_PASSWORD_MOUNT),
        },
        {
            "op": "add",
            "path": f"{container}/env",
            "value": [{"name": "REDIS_PASSWORD_FILE", "value": contract.REDIS_PASSWORD_FILE}],
        },
        {
            "op": "add",
            "path": f"{container}/command",
            "value": ["/bin/sh", "-c", REDIS_WITH_PASSWORD, "redis-server"],
        },
        {
            "op": "replace",
            "path": f"{container}/readinessProbe/exec/command",
            "value": ["/bin/sh", "-c", REDIS_READY_WITH_PASSWORD],
        },
    ]
    return {
        f"base/{REDIS_COMPONENT}/kustomization.yaml": [
            kustomization(
                resources=["redis.yaml"],
                patches=[
                    {
                        "patch": yamlout.dump(ops),
                        "target": {"kind": "Deployment", "name": "kaos-redis"},
                    }
                ],
            )
        ]
    }


def image_overrides(env: Environment, project: Project, used: list[str]) -> list[dict[str, Any]]:
    """kustomize `images:` entries: per-environment image swaps and registry rewrites.

    `used` are the base's images (pinned where `images.digests` says). kustomize keeps a
    tag and digest through `newName`; `newTag` replaces the tag and drops the digest,
    `digest` replaces the digest (and the tag, unless `newTag` comes with it)."""
    targets = {ref: ref for ref in used}
    targets.update(images.environment_targets(env, project, used))
    entries: dict[str, dict[str, Any]] = {}
    for base_ref, target in sorted(targets.items()):
        if target == base_ref and not env.registry:
            continue
        base, new = imageref.parse(base_ref), imageref.parse(target)
        new_name = _registry_name(new, env.registry) if env.registry else new.name
        entry: dict[str, Any] = {"name": base.name}
        if new_name != base.name:
            entry["newName"] = new_name
        if (new.tag, new.digest) != (base.tag, base.digest):
            if new.tag or not new.digest:
                entry["newTag"] = new.tag or "latest"
            if new.digest:
                entry["digest"] = new.digest
        if len(entry) > 1:
            entries[base.name] = entry
    return [entries[k] for k in sorted(entries)]


def _resources_patch(container: str, resources: ResourceRequirements) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "kaosgen-resources"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": container, "resources": pods.resources_data(resources)}]
                }
            }
        },
    }


def _telemetry_namespace_patches(env: Environment, rendered: list[RenderedWorkload]) -> list:
    """OTEL_RESOURCE_ATTRIBUTES names the namespace: correct it where the overlay moves the
    workload to another one. A JSON patch by index (guarded by a `test` of the name) keeps
    the env order, which a strategic merge would not."""
    if not env.namespace:
        return []
    patches = []
    for item in rendered:
        node = item.node
        current = f"service.namespace={node.namespace or 'default'},"
        for obj in item.objects:
            if obj["kind"] != "Deployment":
                continue
            containers = obj["spec"]["template"]["spec"]["containers"]
            for c, container in enumerate(containers):
                for i, var in enumerate(container.get("env") or []):
                    value = var.get("value") or ""
                    if var["name"] != "OTEL_RESOURCE_ATTRIBUTES" or not value.startswith(current):
                        continue
                    fixed = f"service.namespace={env.namespace}," + value[len(current) :]
                    if fixed == value:
                        continue
                    at = f"/spec/template/spec/containers/{c}/env/{i}"
                    ops = [
                        {"op": "test", "path": f"{at}/name", "value": var["name"]},
                        {"op": "replace", "path": f"{at}/value", "value": fixed},
                    ]
                    patches.append(
                        {
                            "patch": yamlout.dump(ops),
                            "target": {"kind": "Deployment", "name": node.object_name},
                        }
                    )
    return patches


#: The files of an overlay that hold per-workload objects, in kustomization order.
OVERLAY_FILES = (
    "httproutes.yaml",  # HTTPRoute per routed workload
    "gateway-policies.yaml",  # Envoy Gateway SecurityPolicy / BackendTrafficPolicy per route
    "network-policies.yaml",  # NetworkPolicy letting the gateway reach each routed workload
    "autoscalers.yaml",  # HorizontalPodAutoscaler per autoscaled workload
    "pdbs.yaml",  # PodDisruptionBudget per workload with two or more pods
    "model-storage.yaml",  # PersistentVolumeClaim per Hosted ModelAPI that asks for one
)


@dataclass
class WorkloadOverlay:
    """What one environment adds for one workload: objects by overlay file, patches."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: kustomize `patches:` entries, and the patch files some of them name.
    patches: list[dict[str, Any]] = field(default_factory=list)
    patch_files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: The fixed replica count kustomize sets for it (None: the environment's, or an HPA's).
    replicas: int | None = None
    autoscaled: bool = False

    def add(self, file: str, obj: dict[str, Any] | None) -> None:
        if obj is not None:
            self.objects.setdefault(file, []).append(obj)


def workload_overlay(
    item: RenderedWorkload,
    env: Environment,
    project: Project,
    gw: effective.GatewaySettings,
    cache: dict[tuple, Any],
) -> WorkloadOverlay:
    """Everything environment `env` renders for one workload, and where it goes."""
    node = item.node
    out = WorkloadOverlay()
    settings = effective.workload(project, env, node.ref)
    policies = project.security.network_policies
    # Routes: the HTTPRoute, its Envoy Gateway policies, the gateway's way in.
    route = effective.route(project, env, node)
    if route is not None:
        namespace = env.namespace or node.namespace or "default"
        out.add(
            "httproutes.yaml",
            gateway.httproute(
                node,
                project,
                namespace=namespace,
                parent=gw.parent,
                hostnames=gw.hostnames,
                route=route,
            ),
        )
        if project.gateway.vendor == "envoy":
            out.add("gateway-policies.yaml", envoy.security_policy(node, project, route))
            if route.rate_limit is not None:
                out.add(
                    "gateway-policies.yaml",
                    envoy.rate_limit_policy(node, project, route.rate_limit),
                )
        if policies:
            out.add(
                "network-policies.yaml",
                gateway.gateway_ingress_policy(node, project, gw.parent, cache),
            )
    # In-cluster callers: added to the workload's own NetworkPolicy.
    if policies and settings.callers:
        out.patches.append(network.callers_patch(node, settings.callers))
    # Where an MCP server's or ModelAPI's pods may connect, when this environment differs.
    if policies and node.kind != "Agent":
        patch = network.egress_patch(node, project, env)
        if patch is not None:
            out.patches.append(patch)
    # Scale: an HPA, or a fixed count; a PDB wherever two or more pods run.
    hpa = effective.autoscaling(project, env, node)
    if hpa is not None:
        out.autoscaled = True
        out.add("autoscalers.yaml", scaling.horizontal_pod_autoscaler(node, project, hpa))
    else:
        out.replicas = settings.replicas
    if effective.min_replicas(project, env, node) > 1:
        out.add("pdbs.yaml", scaling.pod_disruption_budget(node, project, cache))
    # Resources set for this workload in kaosgen.yaml.
    if settings.resources is not None:
        path = f"patches/{node.object_name}-resources.yaml"
        resources, _ = default_limits.override(node, project, env, settings.resources)
        out.patch_files[path] = [_resources_patch(node.container_name, resources)]
        out.patches.append(
            {"path": path, "target": {"kind": "Deployment", "name": node.object_name}}
        )
    # Where a Hosted ModelAPI keeps its model.
    if isinstance(node, ModelAPINode) and node.mode == "Hosted":
        storage = effective.model_storage(project, env, node)
        out.add("model-storage.yaml", modelstorage.persistent_volume_claim(node, project, storage))
        explicit = node.resources is not None or "ephemeral-storage" in (
            (settings.resources.limits or {}) if settings.resources else {}
        )
        current = default_limits.prior(node, project, env)
        if settings.resources is not None:
            current = default_limits.layered(current, settings.resources)
        disk = modelstorage.emptydir_disk_limit(storage, current, explicit)
        patch = modelstorage.deployment_patch(node, storage, disk)
        if patch is not None:
            path = f"patches/{node.object_name}-model-storage.yaml"
            out.patch_files[path] = [patch]
            out.patches.append({"path": path})
    return out


def _replica_patches(
    env: Environment, project: Project, overlays: list[tuple[RenderedWorkload, WorkloadOverlay]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kustomize `replicas:` entries, patches) for the workloads no HPA owns.

    The environment's default goes into one patch for every workload (one entry per
    workload makes kustomize quadratic: each entry scans every resource); kustomize
    `replicas:` entries carry per-workload counts. A workload whose base Deployment has
    no replicas (an HPA owns it in another environment) always gets an explicit count.
    """
    entries = [
        {"name": item.node.object_name, "count": wo.replicas}
        for item, wo in overlays
        if wo.replicas is not None
    ]
    default = [
        item.node
        for item, wo in overlays
        if not wo.autoscaled
        and wo.replicas is None
        and (env.replicas != 1 or effective.autoscaled_anywhere(project, item.node))
    ]
    if not default:
        return entries, []
    missing = any(effective.autoscaled_anywhere(project, n) for n in default)
    op = {"op": "add" if missing else "replace", "path": "/spec/replicas", "value": env.replicas}
    if not any(wo.autoscaled for _, wo in overlays):
        # Every workload (kustomize applies the `replicas:` entries after the patches).
        target: dict[str, Any] = {"kind": "Deployment", "labelSelector": WORKLOAD_SELECTOR}
    else:
        names = sorted(n.object_name for n in default)
        target = {"kind": "Deployment", "name": "^(" + "|".join(names) + ")$"}
    return entries, [{"patch": yamlout.dump([op]), "target": target}]


def _kind_resource_patches(
    env: Environment, project: Project, rendered: list[RenderedWorkload], files: Files, prefix: str
) -> list[dict[str, Any]]:
    """An environment's `resources` defaults per workload kind, for workloads that set none.

    A Hosted ModelAPI's resources follow its model's size with the environment's defaults
    as the floor (as the base does with the project's).
    """
    if env.resources is None:
        return []
    patches = []
    for kind in ("agent", "mcp_server", "litellm", "ollama"):
        wanted = getattr(env.resources, kind)
        base = getattr(project.resources, kind)
        if wanted == base:
            continue
        groups: dict[str, tuple[ResourceRequirements, list[str]]] = {}
        for item in rendered:
            if workloads.resource_kind(item.node) != kind or item.explicit_resources:
                continue
            value = wanted
            if kind == "ollama":
                value = workloads.hosted_resources(item.node, wanted)
                if value == workloads.hosted_resources(item.node, base):
                    continue
            key = value.model_dump_json()
            groups.setdefault(key, (value, []))[1].append(item.node.object_name)
        container = {"agent": "agent", "mcp_server": "mcp-server"}.get(kind, "model-api")
        stem = kind.replace("_", "-")
        for i, (value, names) in enumerate(groups.values()):
            path = f"patches/{stem}-resources{f'-{i + 1}' if i else ''}.yaml"
            files[prefix + path] = [_resources_patch(container, value)]
            patches.append(
                {
                    "path": path,
                    "target": {"kind": "Deployment", "name": "^(" + "|".join(sorted(names)) + ")$"},
                }
            )
    return patches


def overlay_files(
    env_name: str,
    env: Environment,
    rendered: list[RenderedWorkload],
    graph: Graph,
    project: Project,
    base_images: list[str],
    cache: dict[tuple, Any] | None = None,
) -> Files:
    """One environment's overlay. `cache` shares objects that are equal across environments."""
    cache = {} if cache is None else cache
    prefix = f"overlays/{env_name}/"
    files: Files = {}
    gw = effective.gateway(project, env)
    overlays = [(item, workload_overlay(item, env, project, gw, cache)) for item in rendered]
    resources = ["../../base"]
    for name in OVERLAY_FILES:
        objects = [obj for _, wo in overlays for obj in wo.objects.get(name, [])]
        if objects:
            files[prefix + name] = objects
            resources.append(name)
    replicas, patches = _replica_patches(env, project, overlays)
    patches.extend(_kind_resource_patches(env, project, rendered, files, prefix))
    for _, wo in overlays:
        patches.extend(wo.patches)
        files.update({prefix + path: objs for path, objs in wo.patch_files.items()})
    patches.extend(_telemetry_namespace_patches(env, rendered))
    labels = [
        {
            "pairs": {ENV_LABEL: env_name, **pods.user_labels(env.labels)},
            "includeSelectors": False,
            "includeTemplates": True,
        }
    ]
    files[prefix + "kustomization.yaml"] = [
        kustomization(
            namespace=env.namespace,
            resources=resources,
            labels=labels,
            annotations=env.annotations or None,
            images=image_overrides(env, project, base_images) or None,
            replicas=replicas or None,
            patches=patches or None,
        )
    ]
    return files
