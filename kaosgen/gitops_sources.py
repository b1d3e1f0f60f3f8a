"""Environments whose Flux sources share a name but not a spec.

`gitops.flux.source.name` set at the top level names the GitRepository (or
OCIRepository) of every environment alike, while each environment's branch (or URL, or
tag) can differ. On one cluster the environments then apply one object with different
specs: each apply undoes the other's, and every environment deploys whichever branch was
applied last. validate warns where the name is set.
"""

from __future__ import annotations

from typing import Any

from kaosgen.diagnostics import Diagnostics


def check_source_names(loaded: Any, diags: Diagnostics) -> None:
    from kaosgen import gitops

    project = loaded.project
    seen: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
    for env_name in sorted(project.environments):
        cfg = gitops._safe_effective(project, env_name)
        flux = gitops._enabled_flux(cfg)
        if cfg is None or flux is None:
            continue
        source = gitops.flux_source(cfg, env_name)
        meta = source["metadata"]
        key = (source["kind"], meta["namespace"], meta["name"])
        if key not in seen:
            seen[key] = (env_name, source["spec"])
            continue
        first, spec = seen[key]
        if spec == source["spec"]:
            continue
        differ = sorted(
            k for k in spec.keys() | source["spec"].keys() if spec.get(k) != source["spec"].get(k)
        )
        diags.warning(
            "gitops-source-name",
            f"environments {first!r} and {env_name!r} both render the Flux {key[0]} "
            f"{key[2]!r} in namespace {key[1]!r} with a different {', '.join(differ)}: on one "
            "cluster each environment's apply undoes the other's, and both deploy whichever "
            "was applied last",
            gitops._where_set(loaded, env_name, ("flux", "source", "name")),
            hint="remove gitops.flux.source.name (the default, <gitops.name>-<environment>, "
            "differs per environment) or set a distinct one in each environment's gitops",
        )
