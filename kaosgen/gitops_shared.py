"""Two projects of one repository that give their GitOps objects the same names.

Every project defaults to `gitops.name: kaos`, so two projects with a `dev` environment
both render the Flux Kustomizations `kaos-dev-...` in `flux-system` and the Argo CD
Application `kaos-dev` in `argocd`. Applied to one cluster, each replaces the other's
object, and its prune then deletes the other project's workloads. validate looks for the
other kaosgen.yaml files of the git repository (a bounded walk) and warns at gitops.name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kaosgen.diagnostics import Diagnostics
from kaosgen.source import PROJECT_FILE

#: A bound on the walk (a huge monorepo is searched only this far: the check is a
#: warning, never a cost on every commit).
MAX_DIRECTORIES = 5000


def claims(project: Any) -> dict[tuple[str, str, str], str]:
    """(what, controller namespace, name) -> environment, for the names that collide."""
    from kaosgen import gitops

    found: dict[tuple[str, str, str], str] = {}
    use_set = bool(
        project.gitops and project.gitops.argocd and project.gitops.argocd.application_set
    )
    for env_name in sorted(project.environments):
        cfg = gitops._safe_effective(project, env_name)
        if cfg is None:
            continue
        flux, argo = gitops._enabled_flux(cfg), gitops._enabled_argo(cfg)
        if flux is not None:
            found.setdefault(
                ("Flux Kustomizations", flux.namespace, f"{cfg.name}-{env_name}"), env_name
            )
        if argo is not None and use_set:
            found.setdefault(
                ("Argo CD ApplicationSet", argo.namespace, project.gitops.name), env_name
            )
        elif argo is not None:
            found.setdefault(
                ("Argo CD Application", argo.namespace, f"{cfg.name}-{env_name}"), env_name
            )
    return found


def check_shared_names(loaded: Any, repo: Path | None, diags: Diagnostics) -> None:
    """Warn at gitops.name where another project of `repo` renders the same names."""
    from kaosgen.hooks import discover_projects
    from kaosgen.project import load_project

    if repo is None or loaded.path is None or loaded.document is None:
        return
    mine = claims(loaded.project)
    root = Path(loaded.root).resolve()
    others = [d / PROJECT_FILE for d in discover_projects(repo, MAX_DIRECTORIES) if d != root]
    for path in others if mine else ():
        other = load_project([str(path.parent)], str(path), Diagnostics())
        if other is None:
            continue  # its own validate reports it
        shared = sorted(set(mine) & set(claims(other.project)))
        if not shared:
            continue
        what, namespace, name = shared[0]
        doc = loaded.document
        where = (
            doc.location(("gitops", "name"))
            if ("gitops", "name") in doc.values
            else doc.location(("gitops",), key=True)
        )
        diags.warning(
            "gitops-name-shared",
            f"{path.relative_to(repo).as_posix()} renders {what} named {name!r} in "
            f"namespace {namespace!r} too (environment {mine[shared[0]]!r}): applied to one "
            "cluster, each project replaces the other's, and prune deletes the other "
            "project's objects",
            where,
            hint="give each project its own gitops.name",
        )
