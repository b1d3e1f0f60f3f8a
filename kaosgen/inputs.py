"""Which files are a project's input, and what may not be mixed up with them.

- `exclude:` in kaosgen.yaml leaves paths out (gitignore patterns, by `pathspec`), so a
  project folder may hold CI files and notes; a YAML file that holds no Kubernetes object
  and is not excluded gets one error that says how to exclude it.
- `kaosgen validate FILE` judges FILE within its project: references resolve against
  the project's other files, and only FILE's problems are shown.
- The output directory may not be, or contain, an input directory: a render would read
  its own output back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kaosgen.diagnostics import Diagnostics, Location
from kaosgen.source import PROJECT_FILE, STDIN, STDIN_ARG, Document, Ignore, real_path


def exclude_matcher(root: Path, patterns: list[str]) -> Ignore:
    """`ignored(path, is_dir)` for gitignore-style `patterns` relative to `root`."""
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    base = real_path(root)

    def ignored(path: Path, is_dir: bool) -> bool:
        # The parent's real path and the entry's own name: a symlinked entry is matched
        # by the name it has in the project.
        full = real_path(path.parent) / path.name
        try:
            rel = full.relative_to(base).as_posix()
        except ValueError:
            return False  # outside the project: its patterns do not apply
        return spec.match_file(rel + "/" if is_dir else rel)

    return ignored


# --- files that are not Kubernetes YAML ---------------------------------------------------


def _looks_like_object(doc: Document) -> bool:
    return isinstance(doc.data, dict) and ("apiVersion" in doc.data or "kind" in doc.data)


def reject_foreign_files(
    documents: list[Document], diags: Diagnostics, project: Any | None
) -> list[Document]:
    """Drop the files none of whose documents has an apiVersion or a kind (a CI config, a
    docker-compose file, notes), with one error per file that says how to exclude it.
    Files with at least one object keep every document (per-document errors follow).
    kaosgen's own rendered files are not input either (`_reject_rendered_output`)."""
    documents = _reject_rendered_output(documents, diags, project)
    documents = _reject_kustomizations(documents, diags, project)
    objects: set[str] = set()
    first: dict[str, Document] = {}
    for doc in documents:
        first.setdefault(doc.path, doc)
        if _looks_like_object(doc):
            objects.add(doc.path)
    foreign = [path for path in first if path not in objects]
    for path in foreign:
        diags.error(
            "not-kubernetes",
            "file holds no Kubernetes object (no document has apiVersion and kind)",
            first[path].location(),
            hint=_exclude_hint(path, project),
        )
    if not foreign:
        return documents
    return [doc for doc in documents if doc.path in objects]


#: kustomize's own documents (Kustomization, Component): build settings, not objects.
KUSTOMIZE_GROUP_PREFIX = "kustomize.config.k8s.io/"


def _reject_kustomizations(
    documents: list[Document], diags: Diagnostics, project: Any | None
) -> list[Document]:
    """A `kustomize.config.k8s.io` document among the inputs would be deployed as an
    object (and rejected by the API server): an error at the document, which is dropped.
    kaosgen writes the kustomizations itself."""
    kept = []
    for doc in documents:
        api_version = doc.api_version
        if not (isinstance(api_version, str) and api_version.startswith(KUSTOMIZE_GROUP_PREFIX)):
            kept.append(doc)
            continue
        diags.error(
            "kustomize-document",
            f"a {api_version} {doc.kind} is kustomize's build settings, not a Kubernetes object",
            doc.location(("apiVersion",)),
            hint="kaosgen writes the kustomizations; give it the resources this one lists, and "
            + _exclude_hint(doc.path, project).replace(
                "if the file is not meant for kaosgen, ", ""
            ),
        )
    return kept


def _reject_rendered_output(
    documents: list[Document], diags: Diagnostics, project: Any | None
) -> list[Document]:
    """Files a render wrote (a copy of an output directory, another project's output) are
    not input: read as input, their kustomizations and objects would be deployed as the
    user's own, twice. One error per output directory (where its manifest is), else per
    file; the files are dropped."""
    from kaosgen.ownership import MANIFEST
    from kaosgen.writer import HEADER

    first_line = HEADER.splitlines()[0]
    rendered: dict[str, list[Document]] = {}
    owners: dict[Path, Path | None] = {}
    for doc in documents:
        if doc.path == STDIN or not doc.text.startswith(first_line):
            continue
        directory = Path(doc.path).parent
        if directory not in owners:
            owners[directory] = next(
                (d for d in (directory, *directory.parents) if (d / MANIFEST).is_file()), None
            )
        owner = owners[directory]
        rendered.setdefault(owner.as_posix() if owner is not None else doc.path, []).append(doc)
    for where, docs in rendered.items():
        files = len({d.path for d in docs})
        directory = files > 1
        if not directory:
            where = docs[0].path
        what = (
            f"{where}/ holds kaosgen's rendered output ({files} file(s))"
            if directory
            else "this file is kaosgen's rendered output"
        )
        diags.error(
            "rendered-output",
            f"{what}, which is not input: read as input, its objects would be deployed "
            "twice and its kustomizations as objects",
            docs[0].location(),
            hint=_exclude_hint(where, project, directory=directory).replace(
                "if the file is not meant for kaosgen, ", ""
            ),
        )
    if not rendered:
        return documents
    dropped = {id(d) for docs in rendered.values() for d in docs}
    return [doc for doc in documents if id(doc) not in dropped]


def _exclude_hint(path: str, project: Any | None, *, directory: bool = False) -> str:
    """How to leave the file (or directory) out: `project` is None when kaosgen.yaml
    exists but is broken."""
    slash = "/" if directory else ""
    if path == STDIN:
        return "pass KAOS or Kubernetes documents on stdin"
    if project is not None and project.path is None:
        return (
            "if the file is not meant for kaosgen, move it out of the inputs, or create "
            f"{PROJECT_FILE} with `exclude: [{Path(path).as_posix()}{slash}]`"
        )
    rel = Path(path).as_posix()
    if project is not None:
        try:
            rel = real_path(path).relative_to(real_path(project.root)).as_posix()
        except ValueError:
            return "if the file is not meant for kaosgen, do not pass it"
    return f"if the file is not meant for kaosgen, exclude it: add `exclude: [{rel}{slash}]` to {PROJECT_FILE}"


# --- `validate FILE` within its project --------------------------------------------------


def compile_in_project(inputs: list[str], project_file: str | None, progress: Any = None) -> Any:
    """Validate `inputs` (one project's) the way a render of their project sees them.

    Files inside a kaosgen.yaml project are compiled with the project's other inputs, so
    their references resolve as they do in a render; only the diagnostics of the files
    named (and of kaosgen.yaml) are kept, with one warning that counts the errors
    elsewhere. Directories, stdin and files outside a project are compiled as they are.
    """
    from kaosgen.diagnostics import Diagnostics
    from kaosgen.pipeline import compile_project
    from kaosgen.project import load_project
    from kaosgen.source import display_path

    files = [raw for raw in inputs if raw != STDIN_ARG and not Path(raw).is_dir()]
    project = None
    if files and len(files) == len(inputs):
        project = load_project(inputs, project_file, Diagnostics())
    if project is None or project.path is None:
        return compile_project(inputs, project_file=project_file, render=False, progress=progress)
    root = real_path(project.root)
    if not all(root in real_path(raw).parents for raw in files):
        return compile_project(inputs, project_file=project_file, render=False, progress=progress)
    scope = display_path(root)
    compilation = compile_project(
        [*inputs, scope], project_file=str(project.path), render=False, progress=progress
    )
    shown = {display_path(Path(raw)) for raw in files} | {display_path(project.path)}
    compilation.diagnostics = focus(compilation.diagnostics, shown, scope)
    return compilation


def focus(diags: Diagnostics, shown: set[str], scope: str) -> Diagnostics:
    """Only the diagnostics of the files named (and kaosgen.yaml); one warning counts the
    errors elsewhere in the project, which a render of it would also meet."""
    kept = Diagnostics()
    hidden = 0
    for diag in diags.items:
        if diag.location.path in shown:
            kept.add(diag.severity, diag.rule, diag.message, diag.location, diag.hint)
        elif diag.severity.value == "error":
            hidden += 1
    if hidden:
        kept.warning(
            "other-files",
            f"{hidden} error(s) in other files of this project are not shown",
            Location(scope),
            hint=f"run `kaosgen validate {scope}` to see them",
        )
    return kept


# --- `render FILE` renders FILE's project -------------------------------------------------


def render_scope(inputs: list[str], project_file: str | None) -> tuple[list[str], str | None]:
    """What a render of `inputs` (one project's) compiles, and the directory it widened to.

    The output directory holds one project's whole render, so rendering one file or a
    subdirectory of a kaosgen.yaml project alone would remove every other file's objects
    from it. Inputs that lie inside a project are widened to the project's directory
    (the second value names it, for a note); stdin and inputs outside a project stay as
    they are.
    """
    from kaosgen.diagnostics import Diagnostics
    from kaosgen.project import load_project
    from kaosgen.source import display_path

    if not inputs or STDIN_ARG in inputs:
        return inputs, None
    project = load_project(inputs, project_file, Diagnostics())
    if project is None or project.path is None:
        return inputs, None
    root = real_path(project.root)
    reals = [real_path(raw) for raw in inputs]
    if not all(real == root or root in real.parents for real in reals) or root in reals:
        return inputs, None
    scope = display_path(root)
    return [scope], scope


# --- the output directory ------------------------------------------------------------------


def output_overlap(output: Path, inputs: Iterable[str]) -> str | None:
    """The input directory that `output` is or contains, if any (a render would read its
    own output back and grow with every run)."""
    out = real_path(output)
    for raw in inputs:
        if raw == STDIN_ARG:
            continue
        path = Path(raw)
        directory = path if path.is_dir() else path.parent
        real = real_path(directory)
        if real == out or out in real.parents:
            return os.path.relpath(directory) if directory != Path("") else "."
    return None
