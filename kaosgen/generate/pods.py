"""Pod-level building blocks shared by every workload.

Security defaults that pass the Kubernetes "restricted" Pod Security Standard, labels,
probes, the user's `podSpec` strategic merge, and the content hash that rolls pods when
their configuration changes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from kaosgen.graph import Workload
from kaosgen.models.common import EnvVar, ResourceRequirements

MANAGED_BY = {"app.kubernetes.io/managed-by": "kaosgen", "app.kubernetes.io/part-of": "kaos"}
HASH_ANNOTATION = "kaosgen.dev/config-hash"
SOURCE_ANNOTATION = "kaosgen.dev/source"
EXPOSED_LABEL = "kaosgen.dev/exposed"
RESOURCES_LABEL = "kaosgen.dev/resources"
NON_ROOT_UID = 65532

POD_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": NON_ROOT_UID,
    "runAsGroup": NON_ROOT_UID,
    "fsGroup": NON_ROOT_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


#: Label keys kaosgen's selectors and policies rely on (Deployment/Service selectors,
#: NetworkPolicy peers, default deny, gateway ingress): a user's value is ignored (the
#: check pass warns), or a label would detach pods from their Service and policies.
RESERVED_LABEL_KEYS = frozenset(
    {"app", "agent", "modelapi", "mcpserver", "app.kubernetes.io/managed-by"}
)
RESERVED_LABEL_PREFIX = "kaosgen.dev/"


def is_reserved_label(key: str) -> bool:
    return key in RESERVED_LABEL_KEYS or key.startswith(RESERVED_LABEL_PREFIX)


def user_labels(labels: dict[str, str]) -> dict[str, str]:
    """A user's labels without the reserved keys."""
    return {k: v for k, v in labels.items() if not is_reserved_label(k)}


def object_labels(node: Workload, extra: dict[str, str]) -> dict[str, str]:
    """Selector labels first (KAOS's), then the recommended app.kubernetes.io set."""
    labels = dict(node.selector)
    labels.update(
        {
            "app.kubernetes.io/name": node.app,
            "app.kubernetes.io/instance": node.name,
            "app.kubernetes.io/component": node.app,
            **MANAGED_BY,
        }
    )
    labels.update(user_labels(extra))
    labels.update(user_labels(node.labels))
    return labels


def http_probe(
    path: str, *, initial: int = 5, period: int = 10, failures: int = 3
) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def tcp_probe(*, initial: int = 5, period: int = 10) -> dict[str, Any]:
    return {
        "tcpSocket": {"port": "http"},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def literal(value: str) -> str:
    """User text as an env value or arg the kubelet must not expand.

    Kubernetes replaces `$(VAR)` in env values, command and args and turns `$$` into `$`;
    doubling every `$` makes the container see exactly the user's text.
    """
    return value.replace("$", "$$")


def env_entry(var: EnvVar) -> dict[str, Any]:
    """An EnvVar as Kubernetes data, keys in Kubernetes' spelling."""
    entry: dict[str, Any] = {"name": var.name}
    if var.value_from is not None:
        entry["valueFrom"] = var.value_from.model_dump(by_alias=True, exclude_none=True)
    else:
        entry["value"] = var.value if var.value is not None else ""
    return entry


def resources_data(resources: ResourceRequirements) -> dict[str, Any]:
    data = resources.model_dump(by_alias=True, exclude_none=True)
    # Quantities are strings in Kubernetes; 1 and "1" are the same CPU.
    for section in ("limits", "requests"):
        if section in data:
            data[section] = {k: str(v) for k, v in sorted(data[section].items())}
    return data


def container(
    node: Workload,
    *,
    image: str,
    env: list[dict[str, Any]],
    port: int,
    resources: ResourceRequirements,
    liveness: dict[str, Any],
    readiness: dict[str, Any],
    command: list[str] | None = None,
    args: list[str] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    startup: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name or node.container_name,
        "image": node.image or image,
        "imagePullPolicy": "IfNotPresent",
        "command": node.command if node.command is not None else command,
        "args": node.args if node.args is not None else args,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": env or None,
        "resources": resources_data(node.resources or resources),
        "livenessProbe": liveness,
        "readinessProbe": readiness,
        "startupProbe": startup,
        "securityContext": copy.deepcopy(CONTAINER_SECURITY_CONTEXT),
        "volumeMounts": [TMP_MOUNT, *(mounts or [])],
    }


# --- strategic merge of the user's podSpec ------------------------------------------

#: Lists merged by a key (Kubernetes' patchMergeKey); all other lists are replaced.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """Apply a strategic merge patch the way `kubectl patch --type strategic` does for PodSpec.

    Maps merge recursively; lists with a merge key merge item by item (`$patch: delete`
    removes an item); `null` deletes a field; other lists replace.
    """
    if isinstance(patch, dict) and isinstance(base, dict):
        if patch.get("$patch") == "replace":
            return {k: v for k, v in patch.items() if k != "$patch"}
        result = dict(base)
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = strategic_merge(result[key], value, key)
            else:
                result[key] = _strip_directives(value)
        return result
    if isinstance(patch, list) and isinstance(base, list) and field in _MERGE_KEYS:
        merge_key = _MERGE_KEYS[field]
        result = list(base)
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                result.append(item)
                continue
            index = next(
                (
                    i
                    for i, b in enumerate(result)
                    if isinstance(b, dict) and b.get(merge_key) == item[merge_key]
                ),
                None,
            )
            if item.get("$patch") == "delete":
                if index is not None:
                    result.pop(index)
            elif index is None:
                result.append(_strip_directives(item))
            else:
                base_item = result[index]
                if field == "volumes":
                    base_item = _without_other_source(base_item, item)
                result[index] = strategic_merge(base_item, item, field)
        return result
    return _strip_directives(patch)


def volume_sources(volume: dict[str, Any]) -> list[str]:
    """The source fields of a volume (`emptyDir`, `nfs`, ...): Kubernetes allows one."""
    return sorted(k for k in volume if k != "name" and not k.startswith("$"))


def _without_other_source(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A volume the patch gives another source keeps only its name: merging would give it
    two sources, which the API server refuses (a volume source is one of many)."""
    sources = [k for k in volume_sources(patch) if patch[k] is not None]
    if not sources or set(sources) & set(volume_sources(base)):
        return base
    return {"name": base["name"]}


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def content_hash(*parts: Any) -> str:
    """A short stable digest of what the pods run; a change in it rolls the Deployment."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def patch_breakage(pod_spec: dict[str, Any], main: str) -> list[tuple[str, str]]:
    """What a podSpec patch removed that the pod cannot run without, as (the podSpec
    field, why): kaosgen's container `main` (`containers: null`, `$patch: delete`,
    `$patch: replace`), a container's image (`image: null`, or a container added without
    one), or a volume a container still mounts (the API server refuses that Deployment)."""
    problems: list[tuple[str, str]] = []
    containers = pod_spec.get("containers")
    containers = containers if isinstance(containers, list) else []
    if not any(isinstance(c, dict) and c.get("name") == main for c in containers):
        problems.append(("containers", f"it removes the container {main!r} that runs the workload"))
    volumes = pod_spec.get("volumes")
    names = {v.get("name") for v in volumes or () if isinstance(v, dict)}
    init = pod_spec.get("initContainers")
    init = init if isinstance(init, list) else []
    for field, listed in (("initContainers", init), ("containers", containers)):
        for c in listed:
            if isinstance(c, dict) and not c.get("image"):
                problems.append((field, f"container {c.get('name')!r} has no image"))
    for c in [*init, *containers]:
        mounts = c.get("volumeMounts") if isinstance(c, dict) else None
        for mount in mounts if isinstance(mounts, list) else ():
            if isinstance(mount, dict) and mount.get("name") not in names:
                problems.append(
                    (
                        "volumes",
                        f"container {c.get('name')!r} mounts the volume {mount.get('name')!r}, "
                        "which it removes",
                    )
                )
    return problems
