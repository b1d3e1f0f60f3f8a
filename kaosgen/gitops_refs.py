"""What Flux's `dependsOn` and `healthChecks` in kaosgen.yaml name.

Both are names Flux looks up at every reconcile: a name no object can have, an
environment's own Kustomization in its `dependsOn` (it then waits for itself, or for the
agents' Kustomization that waits for it), or a health check on a Deployment the render
does not make (`coordinator` where the Deployment is `agent-coordinator`) rendered, and
then Flux never got ready. Each is said at its line in kaosgen.yaml.
"""

from __future__ import annotations

import re
from typing import Any

from kaosgen.diagnostics import Diagnostics
from kaosgen.graph import Graph
from kaosgen.models.common import DNS1123_SUBDOMAIN
from kaosgen.models.gitops import Flux, GitOps

_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN)


def _name_ok(name: str) -> bool:
    return len(name) <= 253 and bool(_SUBDOMAIN.fullmatch(name))


def check_flux_refs(
    loaded: Any,
    env_name: str,
    cfg: GitOps,
    flux: Flux,
    graph: Graph | None,
    own: list[str],
    diags: Diagnostics,
) -> None:
    """`own`: the names of the environment's Kustomizations."""
    from kaosgen.gitops import _where_set

    for i, name in enumerate(flux.depends_on):
        where = _where_set(loaded, env_name, ("flux", "dependsOn", i))
        if not _name_ok(name):
            diags.error(
                "gitops-name",
                f"environment {env_name!r}: flux.dependsOn {name!r} is not a Kustomization "
                "name (a DNS-1123 subdomain): Flux would wait for it forever",
                where,
                hint=f"name a Flux Kustomization in the namespace {flux.namespace!r}",
            )
        elif name in own:
            diags.error(
                "gitops-depends-on",
                f"environment {env_name!r}: flux.dependsOn {name!r} is one of this "
                "environment's own Kustomizations, which would wait for each other forever",
                where,
                hint="list the Kustomizations to apply before this environment (CRDs, "
                "controllers); kaosgen orders its own",
            )
    if not isinstance(flux.health_checks, list):
        return
    deployments = _deployment_names(graph)
    for i, item in enumerate(flux.health_checks):
        where = _where_set(loaded, env_name, ("flux", "healthChecks", i, "name"))
        if not _name_ok(item.name):
            diags.error(
                "gitops-name",
                f"environment {env_name!r}: health check name {item.name!r} is not an object "
                "name (a DNS-1123 subdomain): Flux would never find it ready",
                where,
            )
            continue
        if (item.api_version, item.kind) != ("apps/v1", "Deployment") or deployments is None:
            continue
        if item.name not in deployments:
            close = [n for n in sorted(deployments) if n.endswith(f"-{item.name}")]
            diags.warning(
                "gitops-health-check",
                f"environment {env_name!r}: health check on the Deployment {item.name!r}, "
                "which this render does not make: Flux waits for it until the timeout at "
                "every reconcile (unless another Kustomization applies it)",
                where,
                hint=f"did you mean {close[0]!r}? (kaosgen names Deployments <app>-<name>)"
                if close
                else "name a rendered Deployment, e.g. healthChecks: workloads",
            )


def _deployment_names(graph: Graph | None) -> set[str] | None:
    """The Deployments the render makes (workloads and pass-through); None: unknown."""
    if graph is None:
        return None
    names = {node.object_name for node in graph.workloads()}
    for doc in graph.passthrough:
        data = doc.data if isinstance(doc.data, dict) else {}
        meta = data.get("metadata")
        if data.get("kind") == "Deployment" and isinstance(meta, dict) and meta.get("name"):
            names.add(str(meta["name"]))
    return names
