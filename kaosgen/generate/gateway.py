"""Gateway API HTTPRoutes in the KAOS shape, one per exposed workload and environment.

Routes are environment-specific (parent Gateway, hostnames, and a path prefix that names
the namespace), so they are rendered into each overlay rather than the base.
"""

from __future__ import annotations

from typing import Any

from kaosgen.generate import pods
from kaosgen.generate.templating import render
from kaosgen.graph import Workload
from kaosgen.models.project import ParentRef, Project


def route_path(node: Workload, namespace: str) -> str:
    return f"/{namespace}/{node.route_segment}/{node.name}"


def httproute(
    node: Workload,
    project: Project,
    *,
    namespace: str,
    parent: ParentRef,
    hostnames: list[str],
) -> dict[str, Any]:
    timeout = node.gateway_timeout or project.gateway.timeouts.get(node.route_segment, "120s")
    parent_ref = {
        "name": parent.name,
        "namespace": parent.namespace,
        "sectionName": parent.section_name,
    }
    return render(
        "httproute.json.j2",
        name=node.route_name,
        namespace=node.namespace,
        labels=pods.object_labels(node, project.labels),
        annotations=None,
        parent_ref={k: v for k, v in parent_ref.items() if v is not None},
        hostnames=hostnames or None,
        path_prefix=route_path(node, namespace),
        service=node.object_name,
        port=node.port,
        timeouts=None if timeout == "0s" else {"request": timeout},
    )


def gateway_ingress_policy(
    project: Project, gateway_namespace: str | None, namespace: str | None
) -> dict[str, Any]:
    """Let the Gateway's namespace reach exposed workloads (label kaosgen.dev/exposed)."""
    source: dict[str, Any] = (
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": gateway_namespace}}}
        if gateway_namespace
        else {"podSelector": {}}
    )
    return render(
        "networkpolicy.json.j2",
        name="kaosgen-allow-gateway",
        namespace=namespace,
        labels={**pods.MANAGED_BY, **pods.user_labels(project.labels)},
        annotations=None,
        pod_selector={"matchLabels": {pods.EXPOSED_LABEL: "true"}},
        policy_types=["Ingress"],
        ingress=[{"from": [source]}],
        egress=None,
    )
