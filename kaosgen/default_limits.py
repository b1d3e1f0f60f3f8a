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
from kaosgen.models.project import Environment, Project, WorkloadResources
from kaosgen.quantity import parse_quantity

KINDS = ("agent", "mcp_server", "litellm", "ollama")


def kaosgen_defaults(node: Workload, project: Project) -> ResourceRequirements:
    """kaosgen's default resources for the workload's main container. A Hosted
    ModelAPI's ephemeral-storage limit holds its model's emptyDir (the pod is evicted
    when the volume outgrows it)."""
    if isinstance(node, ModelAPINode):
        if node.mode == "Hosted":
            from kaosgen.generate import modelsize

            disk = modelsize.model_disk(node.pull_model)
            return modelsize.with_model_disk(project.resources.ollama, disk)
        return project.resources.litellm
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


def _above(request: str | int | float, limit: str | int | float) -> bool:
    try:
        return parse_quantity(request) > parse_quantity(limit)
    except ValueError:  # reported by the check pass; nothing renders then
        return False


def below_requests(resources: ResourceRequirements) -> list[str]:
    """Resources whose limit is below their request in one block (the API server refuses)."""
    requests, limits = resources.requests or {}, resources.limits or {}
    return sorted(n for n in requests if n in limits and _above(requests[n], limits[n]))


def completed_kinds(kinds: WorkloadResources) -> WorkloadResources:
    """kaosgen.yaml's `resources` per kind, each without limits completed from kaosgen's."""
    builtin = WorkloadResources()
    update = {
        kind: completed(getattr(kinds, kind), getattr(builtin, kind))
        for kind in KINDS
        if needs_limits(getattr(kinds, kind))
    }
    return kinds.model_copy(update=update) if update else kinds


def layered(under: ResourceRequirements, over: ResourceRequirements) -> ResourceRequirements:
    """`over` patched onto `under` as kustomize merges a container's resources: key by key."""
    return ResourceRequirements(
        requests={**(under.requests or {}), **(over.requests or {})} or None,
        limits={**(under.limits or {}), **(over.limits or {})} or None,
        claims=over.claims if over.claims is not None else under.claims,
    )


def prior(node: Workload, project: Project, env: Environment) -> ResourceRequirements:
    """The main container's resources in `env` before its `workloads.<ref>.resources`."""
    from kaosgen.generate.workloads import hosted_resources, resource_kind

    if node.resources is not None:
        return completed(node.resources, kaosgen_defaults(node, project))
    kind = resource_kind(node)
    value = getattr(completed_kinds(env.resources or project.resources), kind)
    if env.resources is not None:  # the environment's patch lands on the base's values
        base = getattr(completed_kinds(project.resources), kind)
        if kind == "ollama":
            base = hosted_resources(node, base)  # type: ignore[arg-type]
        value = layered(base, value)
    return hosted_resources(node, value) if kind == "ollama" else value  # type: ignore[arg-type]


def override(
    node: Workload, project: Project, env: Environment, resources: ResourceRequirements
) -> tuple[ResourceRequirements, dict[str, str | int | float]]:
    """(the patch for a workload's `resources` setting, the limits kaosgen raised in it).

    A limit the setting leaves to an earlier level (kaosgen's default, the container's)
    that is below the request the setting asks for is raised to it; a limit written in
    the setting itself is the user's (`check` reports one below the request).
    """
    final = layered(prior(node, project, env), resources)
    own = resources.limits or {}
    raised = {
        name: request
        for name, request in (final.requests or {}).items()
        if name not in own
        and name in (final.limits or {})
        and _above(request, (final.limits or {})[name])
    }
    if not raised:
        return resources, {}
    return resources.model_copy(update={"limits": {**own, **raised}}), raised


def fill(graph: Graph, project: Project) -> None:
    """Give every workload whose container.resources has no limits kaosgen's, and every
    kaosgen.yaml `resources` default without limits kaosgen's."""
    for node in graph.workloads():
        if node.resources is not None and needs_limits(node.resources):
            node.resources = completed(node.resources, kaosgen_defaults(node, project))
    project.resources = completed_kinds(project.resources)
    for env in project.environments.values():
        if env.resources is not None:
            env.resources = completed_kinds(env.resources)
