"""Which project an output directory belongs to, and which files it wrote there.

Each render leaves `.kaosgen-manifest.yaml` in its output directory: the project's
identity (the path to its kaosgen.yaml) and the files the render wrote. kaosgen changes and removes only those files, and refuses to render another
project into the directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = ".kaosgen-manifest.yaml"
API_VERSION = "kaosgen.dev/v1alpha1"
KIND = "OutputManifest"


@dataclass(frozen=True)
class Manifest:
    project: str  # identity (see `identity`)
    files: tuple[str, ...]


class ManifestError(Exception):
    """The manifest on disk is not one kaosgen wrote."""


def identity(loaded: Any, out_dir: Path) -> str:
    """The project's name for ownership: the path from the output directory to its
    kaosgen.yaml (for a project without one, to its input directory, with a trailing
    slash), which survives cloning, moving or copying the project with its output. When
    the output is in another git repository (a GitOps repository) or outside git, it is
    the path within the project's own repository instead, so it does not depend on where
    the checkouts are."""
    from kaosgen.source import real_path

    target = real_path(
        loaded.path if loaded.path is not None else loaded.source_root or loaded.root
    )
    out = real_path(out_dir)
    project_top = _repository_top(target)
    base = out
    if project_top is not None and _repository_top(out) != project_top:
        base = project_top
    rel = Path(os.path.relpath(target, base)).as_posix()
    return rel if loaded.path is not None else rel.rstrip("/") + "/"


def _repository_top(path: Path) -> Path | None:
    """The nearest directory at or above `path` holding `.git` (a directory, or a file in
    worktrees and submodules)."""
    for directory in [path, *path.parents]:
        if os.path.lexists(directory / ".git"):
            return directory
    return None


def render(manifest: Manifest) -> str:
    """The manifest file's text (deterministic: sorted, no timestamps)."""
    from kaosgen import yamlout
    from kaosgen.writer import HEADER

    comment = (
        "# The project this directory belongs to (the path to its kaosgen.yaml):\n"
        "# kaosgen changes or removes only the files listed here, and renders no other\n"
        "# project into this directory (unless --force).\n"
    )
    data = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "project": manifest.project,
        "files": sorted(manifest.files),
    }
    return yamlout.dump_all([data], header=HEADER + comment)


def parse(text: str, display: str) -> Manifest:
    """Read a manifest; ManifestError when it is not one (hand-edited, another tool's)."""
    from kaosgen.diagnostics import Diagnostics
    from kaosgen.source import parse_text

    diags = Diagnostics()
    docs = parse_text(display, text, diags)
    data = docs[0].data if len(docs) == 1 and not diags.has_errors() else None
    if (
        not isinstance(data, dict)
        or data.get("apiVersion") != API_VERSION
        or data.get("kind") != KIND
        or not isinstance(data.get("project"), str)
        or not isinstance(data.get("files"), list)
        or not all(isinstance(f, str) and _safe_relative(f) for f in data["files"])
    ):
        raise ManifestError(f"{display}: not a kaosgen output manifest")
    return Manifest(data["project"], tuple(data["files"]))


def _safe_relative(rel: str) -> bool:
    """A manifest names files below its directory only (never `..`, never absolute)."""
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts
