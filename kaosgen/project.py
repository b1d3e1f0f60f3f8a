"""Find and load kaosgen.yaml (optional: defaults apply without it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kaosgen.diagnostics import Diagnostics
from kaosgen.models.project import Project
from kaosgen.schema_check import check_document
from kaosgen.source import (
    PROJECT_FILE,
    Document,
    Ignore,
    display_path,
    parse_text,
    read_text,
    real_path,
)


@dataclass
class LoadedProject:
    project: Project
    root: Path  # paths in kaosgen.yaml (output) are relative to this directory
    path: Path | None
    document: Document | None
    text: str | None
    #: What `kaosgen.dev/source` annotations are relative to: `root`, or without a project
    #: file the inputs' common directory (never the working directory: output must not
    #: depend on where kaosgen runs).
    source_root: Path | None = None

    @property
    def ignored(self) -> Ignore | None:
        """`exclude:` as a test on paths met while walking the inputs (None: no excludes)."""
        if not self.project.exclude:
            return None
        from kaosgen.inputs import exclude_matcher

        return exclude_matcher(self.root, self.project.exclude)


def find_project_file(inputs: list[str], explicit: str | None) -> Path | None:
    """--project wins; else kaosgen.yaml in the first input directory (or a file's directory),
    walking up to the working directory."""
    if explicit:
        return Path(explicit)
    cwd = real_path(Path.cwd())
    for raw in inputs:
        start = Path(raw)
        start = start if start.is_dir() else start.parent
        current = real_path(start)
        while True:
            candidate = current / PROJECT_FILE
            if os.path.lexists(candidate):  # a directory or FIFO by that name is an error
                return candidate
            if current == cwd or current.parent == current or cwd not in current.parents:
                break
            current = current.parent
    candidate = cwd / PROJECT_FILE
    return candidate if os.path.lexists(candidate) else None


def group_inputs(inputs: list[str], explicit: str | None) -> list[list[str]]:
    """Inputs grouped by the project they belong to, in first-seen order.

    Each input is judged under its own kaosgen.yaml (the nearest one above it), so
    `kaosgen validate examples/a examples/b` checks two projects with their own settings.
    With --project, everything is one group.
    """
    if explicit or len(inputs) <= 1:
        return [list(inputs)]
    groups: dict[Path | None, list[str]] = {}
    for raw in inputs:
        found = find_project_file([raw], None)
        groups.setdefault(real_path(found) if found else None, []).append(raw)
    return list(groups.values())


def _inputs_root(inputs: list[str]) -> Path:
    dirs = [p if p.is_dir() else p.parent for p in (real_path(raw) for raw in inputs)]
    return Path(os.path.commonpath(dirs)) if dirs else Path.cwd()


def load_project(
    inputs: list[str],
    explicit: str | None,
    diags: Diagnostics,
    sources: dict[str, str] | None = None,
) -> LoadedProject | None:
    """The project; None when kaosgen.yaml has errors. Its text goes into `sources` (for
    showing offending lines) even then."""
    path = find_project_file(inputs, explicit)
    if path is None:
        return LoadedProject(Project(), Path.cwd(), None, None, None, _inputs_root(inputs))
    display = display_path(path)
    if not os.path.lexists(path):
        diags.error("io", "project file not found", _loc(display))
        return None
    text = read_text(path, display, diags)
    if text is None:
        return None
    if sources is not None:
        sources[display] = text
    docs = parse_text(display, text, diags)
    if not docs:
        if not diags.has_errors():
            return LoadedProject(Project(), path.parent, path, None, text)
        return None
    if len(docs) > 1:
        diags.error(
            "project-file", "kaosgen.yaml must hold exactly one document", docs[1].location()
        )
        return None
    project = check_document(docs[0], Project, diags)
    if project is None:
        return None
    return LoadedProject(project, path.parent, path, docs[0], text)


def _loc(path: str):
    from kaosgen.diagnostics import Location

    return Location(path)
