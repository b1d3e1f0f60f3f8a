"""kaosgen's version: one source, the package metadata (`[project] version` in pyproject.toml).

The compiler (`kaosgen --version`, the default image tags it renders) and the runtime
(`/health`, the agent card) both read it here, so a given kaosgen renders the images of its
own release and those images report that same version. The release workflow refuses a tag
that differs from it. It is a plain release number on every commit (never a per-commit dev
version), so rendered output stays byte-stable between releases.

Stdlib only, like the rest of the contract.
"""

from __future__ import annotations

import functools
from pathlib import Path

DISTRIBUTION = "kaosgen"
#: What a source tree that is not installed (no package metadata) reports.
UNKNOWN = "0+unknown"


@functools.cache
def kaosgen_version() -> str:
    """The installed distribution's version; a bare source checkout reads its pyproject.toml."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return _source_tree_version() or UNKNOWN


def _source_tree_version() -> str | None:
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != DISTRIBUTION or not isinstance(project.get("version"), str):
        return None
    return project["version"]
