"""The output tree: `base/` (every environment's common objects) and `overlays/<env>/`.

Environment differences are expressed with kustomize's own fields (namespace, labels,
images, replicas) plus a few generated files (HTTPRoutes, PodDisruptionBudgets, resource
patches), so `kubectl kustomize overlays/<env>` is the whole story of an environment.
"""

from __future__ import annotations

from typing import Any

from kaosgen import imageref, images, yamlout
from kaosgen.generate import gateway, network, pods
from kaosgen.generate.templating import render
from kaosgen.generate.workloads import RenderedWorkload
from kaosgen.graph import Graph, Workload
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


def gateway_platform_files(project: Project) -> Files:
    """The kustomization of the vendored Envoy Gateway piece, named after gateway.parentRef.

    The Gateway is placed with a patch, not kustomize's `namespace:`, which would also
    stamp a namespace on the cluster-scoped GatewayClass.
    """
    parent = project.gateway.parent_ref
    ops = [
        {"op": "replace", "path": "/metadata/name", "value": parent.name},
        {
            "op": "add",
            "path": "/metadata/namespace",
            "value": parent.namespace or "envoy-gateway-system",
        },
    ]
    return {
        "platform/gateway/kustomization.yaml": [
            kustomization(
                resources=["gateway.yaml"],
                patches=[
                    {
                        "patch": yamlout.dump(ops),
                        "target": {"kind": "Gateway", "name": "kaos-gateway"},
                    }
                ],
            )
        ]
    }


def _registry_name(ref: imageref.ImageReference, registry: str) -> str:
    """The name under a mirror: the registry replaced, the repository path kept
    (`docker.io/library/redis` -> `<registry>/library/redis`)."""
    return registry.rstrip("/") + "/" + ref.repository


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


def _replicas(node: Workload, env: Environment) -> int:
    override = env.workloads.get(node.ref)
    if override and override.replicas is not None:
        return override.replicas
    return env.replicas


def pod_disruption_budget(
    node: Workload, project: Project, cache: dict[tuple, Any]
) -> dict[str, Any]:
    """The same in every environment that runs more than one replica: rendered once."""
    key = ("pdb", node.kind, *node.key)
    if key not in cache:
        cache[key] = render(
            "poddisruptionbudget.json.j2",
            name=node.object_name,
            namespace=node.namespace,
            labels=pods.object_labels(node, project.labels),
            selector=node.selector,
        )
    return cache[key]


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


def _resource_kind(item: RenderedWorkload) -> str:
    node = item.node
    if node.kind == "ModelAPI":
        return "ollama" if getattr(node, "mode", "") == "Hosted" else "litellm"
    return {"Agent": "agent", "MCPServer": "mcp_server"}[node.kind]


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
    resources = ["../../base"]
    # Gateway routes and the policy that lets the gateway in.
    gw = project.gateway
    override = env.gateway
    enabled = override.enabled if override and override.enabled is not None else gw.enabled
    if enabled:
        parent = (
            override.parent_ref if override and override.parent_ref else None
        ) or gw.parent_ref
        hostnames = (
            override.hostnames if override and override.hostnames is not None else gw.hostnames
        )
        routes = []
        for item in rendered:
            node = item.node
            if not node.exposed:
                continue
            namespace = env.namespace or node.namespace or "default"
            routes.append(
                gateway.httproute(
                    node, project, namespace=namespace, parent=parent, hostnames=hostnames
                )
            )
        if routes:
            files[prefix + "httproutes.yaml"] = routes
            resources.append("httproutes.yaml")
        if project.security.network_policies:
            files[prefix + "network-policies.yaml"] = [
                gateway.gateway_ingress_policy(project, parent.namespace, ns or None)
                for ns in graph.namespaces()
            ]
            resources.append("network-policies.yaml")
    # Replicas: the environment's default for every workload in one patch, and kustomize
    # `replicas:` entries only for per-workload overrides. (One entry per workload makes
    # kustomize quadratic: each entry scans every resource.)
    replicas = []
    pdbs = []
    for item in rendered:
        node = item.node
        count = _replicas(node, env)
        override = env.workloads.get(node.ref)
        if override and override.replicas is not None:
            replicas.append({"name": node.object_name, "count": count})
        if count > 1:
            pdbs.append(pod_disruption_budget(node, project, cache))
    patches: list[dict[str, Any]] = []
    if env.replicas != 1 and rendered:
        patches.append(
            {
                "patch": yamlout.dump(
                    [{"op": "replace", "path": "/spec/replicas", "value": env.replicas}]
                ),
                "target": {"kind": "Deployment", "labelSelector": WORKLOAD_SELECTOR},
            }
        )
    if pdbs:
        files[prefix + "pdbs.yaml"] = pdbs
        resources.append("pdbs.yaml")
    # Resources: environment defaults per workload kind, then per-workload overrides.
    if env.resources is not None:
        for kind in ("agent", "mcp_server", "litellm", "ollama"):
            wanted = getattr(env.resources, kind)
            if wanted == getattr(project.resources, kind):
                continue
            names = sorted(
                i.node.object_name
                for i in rendered
                if _resource_kind(i) == kind and not i.explicit_resources
            )
            if not names:
                continue
            container = {"agent": "agent", "mcp_server": "mcp-server"}.get(kind, "model-api")
            path = f"patches/{kind.replace('_', '-')}-resources.yaml"
            files[prefix + path] = [_resources_patch(container, wanted)]
            patches.append(
                {
                    "path": path,
                    "target": {"kind": "Deployment", "name": "^(" + "|".join(names) + ")$"},
                }
            )
    for item in rendered:
        node = item.node
        override_wl = env.workloads.get(node.ref)
        if override_wl and override_wl.resources is not None:
            path = f"patches/{node.object_name}-resources.yaml"
            files[prefix + path] = [_resources_patch(node.container_name, override_wl.resources)]
            patches.append(
                {"path": path, "target": {"kind": "Deployment", "name": node.object_name}}
            )
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
