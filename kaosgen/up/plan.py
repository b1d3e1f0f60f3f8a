"""One local process per rendered Deployment: what to run, with which env and files.

The plan is read from the environment's objects only (what a cluster would get): each
Deployment's first container, its env (`podenv.py`), its mounted ConfigMaps and Secrets,
its readiness probe, and the Services in front of it. Which workloads another one needs is
read from its env: a URL naming a Service of that workload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kaosgen.up.podenv import Missing, PodIdentity, container_env, expand
from kaosgen.up.values import Values, secret_variable

ROLES = ("agent", "mcpserver", "modelapi")


@dataclass(frozen=True)
class ServicePort:
    service: str
    port: int


@dataclass
class Mount:
    """A volume mounted in the container: its files (ConfigMap, Secret) or empty."""

    path: str
    volume: str
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class Workload:
    name: str  # the Deployment: agent-coordinator
    role: str  # agent | mcpserver | modelapi | redis | other
    resource: str  # the KAOS resource (label value), else the Deployment name
    image: str
    command: list[str]
    args: list[str]
    env: dict[str, str]
    container_port: int
    services: list[ServicePort] = field(default_factory=list)
    probe_path: str | None = None  # HTTP GET path; None: the TCP port answering
    mounts: list[Mount] = field(default_factory=list)
    exposed: bool = False
    #: ModelAPI mode (Proxy, Hosted) and, Hosted, the model it serves.
    mode: str | None = None
    hosted_model: str | None = None
    depends_on: set[str] = field(default_factory=set)


@dataclass
class Plan:
    namespace: str
    workloads: list[Workload]
    missing: list[tuple[str, Missing]] = field(default_factory=list)

    def by_name(self) -> dict[str, Workload]:
        return {w.name: w for w in self.workloads}


def build_plan(objects: list[dict[str, Any]], values: Values) -> Plan:
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    services = [o for o in objects if o.get("kind") == "Service"]
    namespace = next(
        (o["metadata"].get("namespace") for o in deployments if o["metadata"].get("namespace")),
        "default",
    )
    plan = Plan(namespace, [])
    for deployment in sorted(deployments, key=lambda d: d["metadata"]["name"]):
        missing: list[Missing] = []
        workload = _workload(deployment, services, values, missing)
        plan.workloads.append(workload)
        plan.missing.extend((workload.name, m) for m in missing)
    _link(plan)
    return plan


def _workload(
    deployment: dict[str, Any], services: list[dict[str, Any]], values: Values, missing: list
) -> Workload:
    meta = deployment["metadata"]
    pod_spec = deployment["spec"]["template"]["spec"]
    pod_meta = deployment["spec"]["template"].get("metadata") or {}
    labels = {**(meta.get("labels") or {}), **(pod_meta.get("labels") or {})}
    container = pod_spec["containers"][0]
    pod = PodIdentity(
        name=f"{meta['name']}-local",
        namespace=meta.get("namespace") or "default",
        service_account=pod_spec.get("serviceAccountName") or "",
        labels=pod_meta.get("labels") or {},
        annotations=pod_meta.get("annotations") or {},
    )
    env = container_env(container, pod, values, missing)
    ports = container.get("ports") or []
    named = {p.get("name"): int(p["containerPort"]) for p in ports if "containerPort" in p}
    container_port = int(ports[0]["containerPort"]) if ports else 0
    role = labels.get("app", "")
    role = role if role in ROLES else ("redis" if _is_redis(container) else "other")
    resource = labels.get(role) if role in ROLES else None
    workload = Workload(
        name=meta["name"],
        role=role,
        resource=resource or meta["name"],
        image=str(container.get("image", "")),
        command=[expand(str(a), env) for a in container.get("command") or []],
        args=[expand(str(a), env) for a in container.get("args") or []],
        env=env,
        container_port=container_port,
        exposed=str(pod_meta.get("labels", {}).get("kaosgen.dev/exposed")) == "true",
    )
    probe = container.get("readinessProbe") or {}
    if "httpGet" in probe:
        workload.probe_path = str(probe["httpGet"].get("path") or "/")
    workload.mounts = _mounts(container, pod_spec, values, missing)
    workload.services = _services(pod_meta.get("labels") or {}, services, named, container_port)
    if role == "modelapi":
        workload.mode = "Proxy" if any("--config" in a for a in workload.args) else "Hosted"
        for init in pod_spec.get("initContainers") or []:
            for item in init.get("env") or []:
                if item.get("name") == "MODEL" and "value" in item:
                    workload.hosted_model = str(item["value"])
    return workload


def _is_redis(container: dict[str, Any]) -> bool:
    image = str(container.get("image", "")).rsplit("/", 1)[-1]
    return image.split(":", 1)[0].split("@", 1)[0] == "redis"


def _mounts(
    container: dict[str, Any], pod_spec: dict[str, Any], values: Values, missing: list
) -> list[Mount]:
    volumes = {v.get("name"): v for v in pod_spec.get("volumes") or []}
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name")) or {}
        files: dict[str, str] = {}
        if "secret" in volume:
            source = volume["secret"]
            name = str(source.get("secretName"))
            data = _secret_data(name, source, values)
            if data is None and not source.get("optional"):
                keys = [str(i.get("key")) for i in source.get("items") or []] or ["<key>"]
                missing.append(
                    Missing(
                        f"Secret {name} (mounted at {mount.get('mountPath')})",
                        None,
                        "set "
                        + ", ".join(secret_variable(name, k) for k in keys)
                        + " in the environment or an --env-file",
                    )
                )
            files = _project(data or {}, source.get("items"))
        elif "configMap" in volume:
            source = volume["configMap"]
            data = values.config_maps.get(str(source.get("name")))
            if data is None and not source.get("optional"):
                missing.append(
                    Missing(
                        f"ConfigMap {source.get('name')} (mounted at {mount.get('mountPath')})",
                        None,
                        "add the ConfigMap to the project's documents",
                    )
                )
            files = _project(data or {}, source.get("items"))
        if mount.get("subPath"):
            files = {k: v for k, v in files.items() if k == mount["subPath"]}
        mounts.append(Mount(str(mount.get("mountPath")), str(mount.get("name")), files))
    return mounts


def _secret_data(name: str, source: dict[str, Any], values: Values) -> dict[str, str] | None:
    if name in values.secrets:
        return values.secrets[name]
    keys = [str(i.get("key")) for i in source.get("items") or []]
    found = {k: values.secret_key(name, k) for k in keys}
    if keys and all(v is not None for v in found.values()):
        return {k: v for k, v in found.items() if v is not None}
    return None


def _project(data: dict[str, str], items: list[dict[str, Any]] | None) -> dict[str, str]:
    if not items:
        return dict(data)
    return {str(i.get("path")): data[i["key"]] for i in items if i.get("key") in data}


def _services(
    pod_labels: dict[str, Any], services: list[dict[str, Any]], named: dict, default: int
) -> list[ServicePort]:
    result = []
    for service in services:
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            continue
        for port in service["spec"].get("ports") or []:
            result.append(ServicePort(service["metadata"]["name"], int(port["port"])))
    return result


def _link(plan: Plan) -> None:
    """`depends_on`: the workloads whose Service a workload's env or args name."""
    owners = {sp.service: w.name for w in plan.workloads for sp in w.services}
    if not owners:
        return
    names = "|".join(re.escape(s) for s in sorted(owners, key=len, reverse=True))
    pattern = re.compile(rf"://(?:[^@/\s]*@)?({names})(?:\.[A-Za-z0-9.-]*)?:\d+")
    for workload in plan.workloads:
        texts = [*workload.env.values(), *workload.args, *workload.command]
        for text in texts:
            for match in pattern.finditer(text):
                owner = owners[match.group(1)]
                if owner != workload.name:
                    workload.depends_on.add(owner)
