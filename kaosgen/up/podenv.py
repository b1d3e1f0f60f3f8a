"""A container's environment as the kubelet builds it, from the rendered pod spec.

`envFrom` first, then `env` in order; `valueFrom` reads ConfigMaps, Secrets (`values.py`)
and the pod's own fields; `$(VAR)` in a value, a command or an argument is replaced by a
variable defined before it (`$$` escapes, an unknown reference stays as written).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Any

from kaosgen.up.values import Values, secret_variable

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion of `text` against the variables `env` defines."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


@dataclass
class PodIdentity:
    """What the downward API tells a pod about itself, here."""

    name: str
    namespace: str
    service_account: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def field(self, path: str) -> str | None:
        simple = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "metadata.uid": f"local-{self.name}",
            "spec.nodeName": socket.gethostname(),
            "spec.serviceAccountName": self.service_account,
            "status.podIP": "127.0.0.1",
            "status.podIPs": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
            "status.hostIPs": "127.0.0.1",
        }
        if path in simple:
            return simple[path]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if match:
            source = self.labels if match[1] == "labels" else self.annotations
            return source.get(match[2], "")
        return None


@dataclass
class Missing:
    """A value the pod needs that is nowhere to be found (the plan reports them all)."""

    what: str  # "Secret llm-provider key api-key"
    variable: str | None  # the container variable, or None for a mounted file
    hint: str


def container_env(
    container: dict[str, Any], pod: PodIdentity, values: Values, missing: list[Missing]
) -> dict[str, str]:
    """The container's variables, in the kubelet's order; what cannot be found is
    appended to `missing` (an optional reference is just left out)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if "configMapRef" in source:
            ref = source["configMapRef"]
            data = values.config_maps.get(ref.get("name"))
            if data is None and not ref.get("optional"):
                missing.append(
                    Missing(
                        f"ConfigMap {ref.get('name')}",
                        None,
                        "add the ConfigMap to the project's documents",
                    )
                )
            env.update({prefix + k: v for k, v in (data or {}).items()})
        elif "secretRef" in source:
            ref = source["secretRef"]
            data = values.secrets.get(ref.get("name"))
            if data is None and not ref.get("optional"):
                missing.append(
                    Missing(
                        f"Secret {ref.get('name')} (envFrom)",
                        None,
                        "keep it in the project's documents to run it locally",
                    )
                )
            env.update({prefix + k: v for k, v in (data or {}).items()})
    for item in container.get("env") or []:
        name = item.get("name")
        if not isinstance(name, str):
            continue
        if "value" in item or "valueFrom" not in item:
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        value = _value_from(name, item["valueFrom"], container, pod, values, missing)
        if value is not None:
            env[name] = value
    return env


def _value_from(
    name: str,
    source: dict[str, Any],
    container: dict[str, Any],
    pod: PodIdentity,
    values: Values,
    missing: list[Missing],
) -> str | None:
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        secret, key = str(ref.get("name")), str(ref.get("key"))
        value = values.secret_key(secret, key, name)
        if value is None and not ref.get("optional"):
            missing.append(
                Missing(
                    f"Secret {secret} key {key}",
                    name,
                    f"set {name} or {secret_variable(secret, key)} in the environment or an --env-file",
                )
            )
        return value
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        value = values.config_map_key(str(ref.get("name")), str(ref.get("key")))
        if value is None and not ref.get("optional"):
            missing.append(
                Missing(
                    f"ConfigMap {ref.get('name')} key {ref.get('key')}",
                    name,
                    "add the ConfigMap (with that key) to the project's documents",
                )
            )
        return value
    if "fieldRef" in source:
        return pod.field(str(source["fieldRef"].get("fieldPath")))
    if "resourceFieldRef" in source:
        resource = str(source["resourceFieldRef"].get("resource", ""))
        kind, _, what = resource.partition(".")
        value = ((container.get("resources") or {}).get(kind) or {}).get(what)
        return str(value) if value is not None else "0"
    return None
