"""What one environment asks of each workload, worked out in one place.

kaosgen.yaml sets things at several levels: project defaults (`gateway`, `workloads`), an
environment's defaults (`replicas`, `autoscaling`, `gateway`) and an environment's
per-workload entries. Every pass that needs "the route / HPA / replicas of this workload
in this environment" asks here, so the layout, the checks and `kaosgen graph` agree.

Merging is field by field: a field written at a more specific level wins (an explicit
`null` too), nested blocks merge the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from kaosgen.graph import Workload
from kaosgen.models.common import KaosModel
from kaosgen.models.egress import Egress
from kaosgen.models.exposure import GatewayAuth, RateLimit, RouteKinds, RouteSettings
from kaosgen.models.project import Environment, ParentRef, Project, WorkloadOverride
from kaosgen.models.scaling import Autoscaling, ModelStorage

M = TypeVar("M", bound=KaosModel)


def merged(base: M | None, top: M | None) -> M | None:
    """`top` over `base`: the fields written in `top` win; nested models merge."""
    if top is None:
        return base
    if base is None:
        return top
    update = {}
    for name in top.model_fields_set:
        value, old = getattr(top, name), getattr(base, name)
        if isinstance(value, KaosModel) and isinstance(old, KaosModel):
            value = merged(old, value)
        update[name] = value
    return base.model_copy(update=update)


def workload(project: Project, env: Environment, ref: str) -> WorkloadOverride:
    """A workload's settings in `env`: the project's entry, then the environment's."""
    return merged(project.workloads.get(ref), env.workloads.get(ref)) or WorkloadOverride()


# --- gateway ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewaySettings:
    enabled: bool
    parent: ParentRef
    hostnames: list[str]
    routes: RouteKinds
    auth: GatewayAuth | None
    rate_limit: RateLimit | None


def gateway(project: Project, env: Environment) -> GatewaySettings:
    gw, over = project.gateway, env.gateway
    if over is None:
        return GatewaySettings(
            gw.enabled, gw.parent_ref, gw.hostnames, gw.routes, gw.auth, gw.rate_limit
        )
    written = over.model_fields_set
    return GatewaySettings(
        enabled=over.enabled if over.enabled is not None else gw.enabled,
        parent=over.parent_ref or gw.parent_ref,
        hostnames=over.hostnames if over.hostnames is not None else gw.hostnames,
        routes=merged(gw.routes, over.routes) or gw.routes,
        auth=over.auth if "auth" in written else gw.auth,
        rate_limit=over.rate_limit if "rate_limit" in written else gw.rate_limit,
    )


@dataclass(frozen=True)
class Route:
    """A workload's route in one environment."""

    #: Private path groups routed besides the public API (agents): memory, metrics, health.
    paths: tuple[str, ...]
    #: The authentication it gets (None: none).
    auth: GatewayAuth | None
    rate_limit: RateLimit | None
    #: ModelAPIs: the server's whole API, not only its inference paths.
    full_api: bool = False

    @property
    def authenticated(self) -> bool:
        return self.auth is not None and self.auth.authenticates


def route(project: Project, env: Environment, node: Workload) -> Route | None:
    """The workload's route in `env`, or None when it gets none."""
    gw = gateway(project, env)
    if not gw.enabled or not node.exposed:
        return None
    settings = workload(project, env, node.ref).route or RouteSettings()
    enabled = settings.enabled
    if enabled is None:
        enabled = getattr(gw.routes, node.route_segment)
    if not enabled:
        return None
    auth = None if settings.auth is False else gw.auth
    if auth is not None and not auth.authenticates:
        auth = None
    rate_limit = settings.rate_limit if "rate_limit" in settings.model_fields_set else gw.rate_limit
    paths = tuple(sorted(set(settings.paths or ()))) if node.kind == "Agent" else ()
    full_api = bool(settings.full_api) and node.kind == "ModelAPI"
    return Route(paths, auth, rate_limit, full_api)


def routed_anywhere(project: Project, node: Workload) -> bool:
    return any(route(project, env, node) for env in project.environments.values())


# --- scaling ---------------------------------------------------------------------------


def autoscaling(project: Project, env: Environment, node: Workload) -> Autoscaling | None:
    """The HPA the workload gets in `env` (the environment's, merged with its own)."""
    settings = merged(env.autoscaling, workload(project, env, node.ref).autoscaling)
    if settings is None or not settings.enabled:
        return None
    return settings


def autoscaled_anywhere(project: Project, node: Workload) -> bool:
    return any(autoscaling(project, env, node) for env in project.environments.values())


def replicas(project: Project, env: Environment, node: Workload) -> int:
    """The fixed replica count (meaningless where an HPA owns the Deployment)."""
    count = workload(project, env, node.ref).replicas
    return env.replicas if count is None else count


def min_replicas(project: Project, env: Environment, node: Workload) -> int:
    """The fewest pods the environment runs: the HPA's minimum, or the fixed count."""
    hpa = autoscaling(project, env, node)
    if hpa is not None:
        return hpa.min_replicas or 1
    return replicas(project, env, node)


def egress(project: Project, env: Environment | None, node: Workload) -> Egress:
    """Where an MCP server's or ModelAPI's pods may connect in `env` (None: what every
    environment starts from, the base's): security.egress, then the workload's entries."""
    top = project.workloads.get(node.ref)
    settings = merged(top.egress if top else None, _env_egress(env, node.ref))
    return merged(project.security.egress, settings) or project.security.egress


def _env_egress(env: Environment | None, ref: str) -> Egress | None:
    entry = env.workloads.get(ref) if env is not None else None
    return entry.egress if entry is not None else None


def model_storage(project: Project, env: Environment, node: Workload) -> ModelStorage:
    return workload(project, env, node.ref).model_storage or ModelStorage()
