"""HorizontalPodAutoscalers and PodDisruptionBudgets for a workload in an environment.

An HPA (autoscaling/v2) scales the workload's Deployment on CPU and/or memory utilisation
(percent of the requests). Where one is rendered, the Deployment and the overlay leave
`replicas` out (the layout pass), so Flux and Argo CD never fight the HPA. A
PodDisruptionBudget (maxUnavailable 1) follows the minimum: it is rendered where an
environment runs at least two pods of the workload.
"""

from __future__ import annotations

from typing import Any

from kaosgen.generate import pods
from kaosgen.generate.templating import render
from kaosgen.graph import Workload
from kaosgen.models.project import Project
from kaosgen.models.scaling import Autoscaling

#: Kubernetes' own target when an HPA names no metric.
DEFAULT_CPU_UTILISATION = 80


def metrics(settings: Autoscaling) -> list[dict[str, Any]]:
    targets = {"cpu": settings.cpu, "memory": settings.memory}
    if settings.cpu is None and settings.memory is None:
        targets["cpu"] = DEFAULT_CPU_UTILISATION
    return [
        {
            "type": "Resource",
            "resource": {
                "name": name,
                "target": {"type": "Utilization", "averageUtilization": value},
            },
        }
        for name, value in targets.items()
        if value is not None
    ]


def horizontal_pod_autoscaler(
    node: Workload, project: Project, settings: Autoscaling
) -> dict[str, Any]:
    return render(
        "horizontalpodautoscaler.json.j2",
        name=node.object_name,
        namespace=node.namespace,
        labels=pods.object_labels(node, project.labels),
        min_replicas=settings.min_replicas or 1,
        # The check pass makes sure it is set and not below the minimum.
        max_replicas=settings.max_replicas or settings.min_replicas or 1,
        metrics=metrics(settings),
    )


def pod_disruption_budget(
    node: Workload, project: Project, cache: dict[tuple, Any]
) -> dict[str, Any]:
    """The same in every environment that runs more than one pod: rendered once."""
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
