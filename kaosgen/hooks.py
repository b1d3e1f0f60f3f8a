"""What the pre-commit hooks run (`kaosgen hook validate|render-check FILES...`).

pre-commit passes the changed files. A KAOS file only makes sense within its project (an
Agent's ModelAPI may live in another file), so the hooks map each changed file to the
project that holds it, the nearest `kaosgen.yaml` above it, and check whole projects:

- `validate`: every project with a changed YAML file (its inputs and kaosgen.yaml; not
  its rendered output); KAOS files outside any project are validated with the other KAOS
  files of their directory.
- `render-check`: every project with any changed file (inputs, kaosgen.yaml, or its
  rendered output); fails when the committed output differs from a fresh render.

pre-commit never passes a deleted file (and skips a hook that has no files), so a commit
that only deletes an agent's file would pass with the agent still in the output. The
hooks run always (`always_run`) and ask git for the deletions themselves
(`deleted_files`); a commit with nothing of a project still costs one `git diff`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kaosgen.source import PROJECT_FILE, YAML_SUFFIXES, InputError, read_input_bytes
from kaosgen.writer import is_generated

_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox"}


@dataclass
class Targets:
    projects: list[Path] = field(default_factory=list)  # directories holding kaosgen.yaml
    loose_dirs: list[Path] = field(default_factory=list)  # KAOS files outside any project


def _is_kaos_file(path: Path) -> bool:
    """A KAOS file, or one the project must judge: kaosgen.yaml, and a .yaml name that is
    not a readable regular file (a FIFO, a device, a link loop), which validating its
    project reports. Reads are bounded: never all of a huge file, never a FIFO."""
    if not path.name.endswith(YAML_SUFFIXES):
        return False
    if path.name == PROJECT_FILE:
        return True
    if is_generated(path):
        return False
    try:
        return b"kaos.tools/" in read_input_bytes(path)
    except InputError:
        return True


def project_of(path: Path, top: Path) -> Path | None:
    """The directory of the nearest kaosgen.yaml at or above `path`, not above `top`."""
    current = (path if path.is_dir() else path.parent).resolve()
    top = top.resolve()
    while True:
        if os.path.lexists(current / PROJECT_FILE):  # also a broken one: it is reported
            return current
        if current == top or top not in current.parents:
            return None
        current = current.parent


def discover_projects(top: Path, limit: int | None = None) -> list[Path]:
    """The project directories below `top`, in name order; at most `limit` directories
    are visited (a bounded search of a huge repository)."""
    found = []
    for visited, (root, dirs, files) in enumerate(os.walk(top)):
        if limit is not None and visited >= limit:
            break
        if PROJECT_FILE in files or PROJECT_FILE in dirs:
            found.append(Path(root).resolve())
        dirs[:] = sorted(
            d for d in dirs if d not in _SKIP_DIRS and d != PROJECT_FILE and not d.startswith(".")
        )
    return found


def targets(files: Iterable[str], *, top: Path, kaos_only: bool) -> Targets:
    projects: dict[Path, None] = {}
    loose: dict[Path, None] = {}
    for raw in files:
        path = Path(raw)
        project = project_of(path, top)
        if not os.path.lexists(path):  # deleted (deleted_files): its project changed
            if project is not None and (not kaos_only or path.name.endswith(YAML_SUFFIXES)):
                projects[project] = None
        elif kaos_only and project is not None:
            # Any YAML file of a project is its input (or refused by it), except output.
            if path.name.endswith(YAML_SUFFIXES) and not is_generated(path):
                projects[project] = None
        elif kaos_only:
            if _is_kaos_file(path):
                loose[path.parent.resolve()] = None
        elif project is not None:
            projects[project] = None
    return Targets(sorted(projects), sorted(loose))


class HookError(Exception):
    """The hook cannot tell what changed."""


def under_pre_commit(environ: Mapping[str, str] = os.environ) -> bool:
    """pre-commit sets PRE_COMMIT=1 for its hooks; no files then means none changed."""
    return environ.get("PRE_COMMIT") == "1"


def deleted_files(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The files the checked change deletes, relative to the repository root (where
    pre-commit runs hooks): between PRE_COMMIT_FROM_REF and PRE_COMMIT_TO_REF when
    pre-commit compares refs (CI), else the staged deletions (`git commit`). A moved file
    counts as deleted at its old path (`--no-renames`), so the project it left is checked.
    Outside pre-commit: none (the caller names what to check)."""
    if not under_pre_commit(environ):
        return []
    cmd = ["git", "diff", "--name-only", "--no-ext-diff", "--no-renames", "-z", "--diff-filter=D"]
    start, end = environ.get("PRE_COMMIT_FROM_REF"), environ.get("PRE_COMMIT_TO_REF")
    cmd.extend([f"{start}...{end}"] if start and end else ["--staged"])
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise HookError(f"cannot list the deleted files (`{' '.join(cmd)}`): {exc}") from exc
    if proc.returncode != 0:
        why = os.fsdecode(proc.stderr).strip() or f"exit status {proc.returncode}"
        raise HookError(f"cannot list the deleted files (`{' '.join(cmd)}`): {why}")
    return [name for name in os.fsdecode(proc.stdout).split("\0") if name]


def rel(path: Path) -> str:
    try:
        text = os.path.relpath(path)
    except ValueError:  # pragma: no cover
        text = str(path)
    return text
