"""Limits for a user's container resources that set none.

Every pod kaosgen renders has limits. A `container.resources` block replaces kaosgen's
defaults, so one with only requests would leave the pod unbounded: it gets the default
limits of its workload kind instead, each raised to at least the user's request (a limit
below the request is refused by the API server). A block with neither (`resources: {}`,
or only `claims`) gets the default requests too. The check pass says so in a note.
"""

from __future__ import annotations

from kaosgen.graph import Graph, ModelAPINode, Workload
from kaosgen.models.common import ResourceRequirements
from kaosgen.models.project import Project
from kaosgen.quantity import parse_quantity


def kaosgen_defaults(node: Workload, project: Project) -> ResourceRequirements:
    """kaosgen's default resources for the workload's main container."""
    if isinstance(node, ModelAPINode):
        return project.resources.ollama if node.mode == "Hosted" else project.resources.litellm
    return project.resources.agent if node.kind == "Agent" else project.resources.mcp_server


def needs_limits(resources: ResourceRequirements | None) -> bool:
    return resources is not None and resources.limits is None


def limits_for(requests: dict, defaults: ResourceRequirements) -> dict[str, str | int | float]:
    """The default limits, each raised to the request for the same resource if higher."""
    limits: dict[str, str | int | float] = {}
    for name, default in (defaults.limits or {}).items():
        request = requests.get(name)
        try:
            higher = request is not None and parse_quantity(request) > parse_quantity(default)
        except ValueError:  # reported by the check pass; nothing renders then
            higher = False
        limits[name] = request if higher else default
    return limits


def completed(
    resources: ResourceRequirements, defaults: ResourceRequirements
) -> ResourceRequirements:
    """`resources` with limits (and, when it had none, requests) from `defaults`."""
    if resources.requests is None:
        return resources.model_copy(
            update={"requests": defaults.requests, "limits": defaults.limits}
        )
    return resources.model_copy(update={"limits": limits_for(resources.requests, defaults)})


def fill(graph: Graph, project: Project) -> None:
    """Give every workload whose container.resources has no limits kaosgen's."""
    for node in graph.workloads():
        if node.resources is not None and needs_limits(node.resources):
            node.resources = completed(node.resources, kaosgen_defaults(node, project))
