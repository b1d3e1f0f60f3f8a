"""Whether an explicit `gitops.repository.path` is where the output really is.

Flux and Argo CD read paths from the repository root. When kaosgen.yaml is not at the
root, `repository.path` must be set by hand (gitops.py warns when it is not); a wrong
value (a typo, a project moved to another folder) passed validate and render, and every
sync then failed with "path not found". When kaosgen finds the git repository above the
project, it compares the value with the output directory's place in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kaosgen.diagnostics import Diagnostics


def repository_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding `.git` (a directory or a file)."""
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def check_explicit_paths(loaded: Any, repo: Path | None, diags: Diagnostics) -> None:
    """Warn where an environment's explicit repository.path is not the output directory."""
    from kaosgen import gitops

    project = loaded.project
    if repo is None or loaded.path is None or loaded.document is None:
        return
    root = Path(loaded.root).resolve()
    try:
        actual = (root / project.output).resolve().relative_to(repo).as_posix() or "."
    except ValueError:  # the output is outside the repository: gitops-path-outside's job
        return
    reported: set[tuple[int, int]] = set()
    for env_name in sorted(project.environments):
        cfg = gitops._safe_effective(project, env_name)
        if cfg is None or cfg.repository.path is None:
            continue
        flux, argo = gitops._enabled_flux(cfg), gitops._enabled_argo(cfg)
        git_flux = flux is not None and flux.source.kind == "GitRepository"
        if not (git_flux or argo is not None):
            continue
        written = gitops.output_path(cfg, project)
        if written == actual:
            continue
        where = gitops._where_set(loaded, env_name, ("repository", "path"))
        if (where.line, where.column) in reported:
            continue
        reported.add((where.line, where.column))
        diags.warning(
            "gitops-path",
            f"environment {env_name!r}: gitops.repository.path {cfg.repository.path!r} is not "
            f"where the output is in the git repository ({actual!r}, from {repo.as_posix()}); "
            "Flux and Argo CD would not find the rendered files",
            where,
            hint=f"set gitops.repository.path: {actual}",
        )
