"""The compiler pipeline, in one place.

    project  → find and validate kaosgen.yaml
    load     → YAML files (sorted, bounded, minus `exclude:`) into documents that remember
               line and column; files with no Kubernetes object are refused
    validate → each KAOS document against its schema (every era); others pass through
    resolve  → normalise eras into one graph and link references
    check    → rules over the whole graph (models, delegation, names, secrets, ...);
               then filters: cascades of invalid fields muted, ignored rules dropped
    generate → Kubernetes objects per workload, plus NetworkPolicies
    pin      → image digests from kaosgen.yaml (`images.digests`) into every image
    overlays → base/ and overlays/<env>/ as kustomizations
    hydrate  → per environment Flux or Argo CD delivers, the objects its overlay builds
               to, every transformer applied (hydrate.py)
    shard    → those objects as self-contained kustomizations of bounded size
               (hydrated/<env>/<shard>/, shard.py), and the GitOps objects pointing at
               them (clusters/, gitops.py)
    write    → canonical YAML on disk, or a diff against it (--check), in an output
               directory owned by the project (writer.py, ownership.py)

Each pass takes data and returns data; diagnostics accumulate across passes so one run
reports every problem. Invalid input stops before `generate`, so it never writes.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaosgen.diagnostics import Diagnostics
from kaosgen.filters import apply_ignores, mute_cascades
from kaosgen.graph import Graph
from kaosgen.hydrate import HydrationError
from kaosgen.inputs import reject_foreign_files
from kaosgen.models import API_GROUP, API_VERSION, KINDS
from kaosgen.project import LoadedProject, load_project
from kaosgen.source import STDIN, Document, load_paths

if TYPE_CHECKING:
    from kaosgen.rendered import RenderedFiles

KAOS_GROUP_PREFIX = "kaos.tools/"
PROJECT_GROUP_PREFIX = "kaosgen.dev/"


#: Told `(stage, done, total)` as the pipeline works (the CLI draws a progress line).
ProgressReport = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int = 0, total: int = 0) -> None:
    pass


@dataclass
class Compilation:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    sources: dict[str, str] = field(default_factory=dict)
    project: LoadedProject | None = None
    graph: Graph | None = None
    output_dir: Path | None = None
    files: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors()


# --- validate ------------------------------------------------------------------------


#: What kubectl and the API server take as apiVersion (`[group/]version`) and kind (a
#: DNS-1035 label when lower-cased, as a CRD's kind must be).
_API_VERSION = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-z]([-a-z0-9]*[a-z0-9])?"
)
_KIND = re.compile(r"[A-Za-z]([-A-Za-z0-9]*[A-Za-z0-9])?")
_TYPE_NAMES = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "a mapping",
}


def _type_fields_valid(doc: Document, diags: Diagnostics, *, spelling: bool) -> bool:
    """apiVersion and kind are there and are strings; with `spelling` (a pass-through
    document: KAOS ones have their own checks), also spelt as Kubernetes spells them, else
    kubectl and the API server refuse the object at apply, long after validate. One error
    per document: the first field that is wrong."""
    for name, pattern, example in (
        ("apiVersion", _API_VERSION, "v1 or apps/v1"),
        ("kind", _KIND, "ConfigMap"),
    ):
        if name not in doc.data:
            diags.error(
                "not-an-object",
                f"document has no {name}",
                doc.location(),
                hint="every document needs apiVersion and kind",
            )
        elif not isinstance(value := doc.data[name], str):
            diags.error(
                "not-an-object",
                f"{name} is {_TYPE_NAMES.get(type(value), 'not text')}, not a string",
                doc.location((name,)),
                hint=f"write it as text, e.g. {name}: {example}",
            )
        elif spelling and not pattern.fullmatch(value):
            diags.error(
                "not-an-object",
                f"{name} {value!r} is not a Kubernetes {name}",
                doc.location((name,)),
                hint=f"write it as Kubernetes does, e.g. {name}: {example}",
            )
        else:
            continue
        return False
    return True


def validate_documents(
    documents: list[Document], diags: Diagnostics, progress: ProgressReport = _no_progress
) -> tuple[list[tuple[Any, Document]], list[Document]]:
    """Split KAOS documents (validated against their model) from pass-through documents."""
    from kaosgen.schema_check import check_document

    typed: list[tuple[Any, Document]] = []
    passthrough: list[Document] = []
    for done, doc in enumerate(documents):
        progress("validating documents", done, len(documents))
        if not isinstance(doc.data, dict):
            diags.error(
                "not-an-object",
                "document is not a Kubernetes object (a mapping with apiVersion and kind)",
                doc.location(),
            )
            continue
        api_version, kind = doc.data.get("apiVersion"), doc.data.get("kind")
        if not _type_fields_valid(doc, diags, spelling=False):
            continue
        if api_version.startswith(PROJECT_GROUP_PREFIX):
            # kustomize would be handed kaosgen's own settings as a resource and fail there.
            diags.error(
                "project-document",
                f"a {api_version} {kind} document is kaosgen's own settings, not a resource",
                doc.location(("apiVersion",)),
                hint="project settings live in kaosgen.yaml; remove this document from the inputs",
            )
            continue
        if _kaos_list_items(doc, diags):
            continue
        near_miss = not api_version.startswith(KAOS_GROUP_PREFIX) and _near_kaos(api_version, kind)
        if not api_version.startswith(KAOS_GROUP_PREFIX) and not near_miss:
            if not _type_fields_valid(doc, diags, spelling=True):
                continue
            # A SOPS-encrypted Secret (its `sops:` block) is what the hint asks for.
            encrypted = isinstance(doc.data.get("sops"), dict)
            if (
                kind == "Secret"
                and (doc.data.get("data") or doc.data.get("stringData"))
                and not encrypted
            ):
                diags.warning(
                    "secret-in-output",
                    "this Secret's data will be written into the rendered output",
                    doc.location(("kind",)),
                    hint="keep secrets out of git: use SOPS, Sealed Secrets or External Secrets and reference them",
                )
            passthrough.append(doc)
            continue
        if near_miss:
            diags.error(
                "api-version",
                f"apiVersion {api_version!r} is not a KAOS API version",
                doc.location(("apiVersion",)),
                hint=f"did you mean {API_VERSION!r}?",
            )
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, list(KINDS), n=1) or [
                k for k in KINDS if k.lower() == kind.lower()
            ]
            diags.error(
                "unknown-kind",
                f"unknown KAOS kind {kind!r}",
                doc.location(("kind",)),
                hint=f"did you mean {close[0]!r}?"
                if close
                else f"kaosgen understands {', '.join(sorted(KINDS))}",
            )
            continue
        if api_version != API_VERSION and not near_miss:
            diags.error(
                "api-version",
                f"unsupported apiVersion {api_version!r} for {kind}",
                doc.location(("apiVersion",)),
                hint=f"use {API_VERSION}",
            )
        if api_version != API_VERSION:  # reported above; check the rest as if it were right
            doc = dataclasses.replace(doc, data={**doc.data, "apiVersion": API_VERSION})
        # A document with errors is still checked as far as it can be (recover), so one
        # run reports all its problems; the errors keep it from being rendered.
        model = check_document(doc, KINDS[kind], diags, recover=True)
        if model is not None:
            typed.append((model, doc))
    return typed, passthrough


def _near_kaos(api_version: str, kind: str) -> bool:
    """A near miss of kaos.tools/v1alpha1: `kaos.tool/...`, `KAOS.tools/...`,
    `kaostools/...`, or a KAOS kind with a group-less apiVersion. A fuzzy match (another
    group a typo away) counts only for a KAOS kind, so other CRDs pass through."""
    group, slash, _ = api_version.partition("/")
    if not slash:
        return kind in KINDS or group.lower() == API_GROUP
    folded = group.lower()
    if folded == API_GROUP or re.sub(r"[^a-z0-9]", "", folded) in ("kaostools", "kaostool"):
        return True
    return kind in KINDS and bool(difflib.get_close_matches(folded, [API_GROUP], cutoff=0.8))


# --- generate ------------------------------------------------------------------------


def _source_ref(doc: Document, root: Path) -> str:
    """`<file relative to root>#<document index>`, the same from any working directory."""
    if doc.path == STDIN:
        return f"{STDIN}#{doc.index}"
    return f"{_relative_file(doc.path, root)}#{doc.index}"


@functools.lru_cache(maxsize=4096)
def _relative_file(path: str, root: Path) -> str:
    """(Cached: a file holds many documents, and resolving a path costs system calls.)"""
    resolved, base = Path(path).resolve(), root.resolve()
    try:
        return resolved.relative_to(base).as_posix()
    except ValueError:
        return Path(os.path.relpath(resolved, base)).as_posix()


def generate(graph: Graph, loaded: LoadedProject) -> list:
    from kaosgen import default_limits
    from kaosgen.generate import workloads

    project, root = loaded.project, loaded.source_root or loaded.root
    default_limits.fill(graph, project)
    rendered = []
    for api in graph.modelapis:
        rendered.append(workloads.build_modelapi(api, project, _source_ref(api.doc, root)))
    for server in graph.mcpservers:
        rendered.append(workloads.build_mcpserver(server, project, _source_ref(server.doc, root)))
    for agent in graph.agents:
        rendered.append(workloads.build_agent(agent, project, _source_ref(agent.doc, root)))
    return rendered


def check_pod_security(rendered: list, diags: Diagnostics) -> None:
    """A user's podSpec may break the pod or weaken the defaults: say so at the podSpec."""
    from kaosgen.generate.pods import patch_breakage
    from kaosgen.generate.podsecurity import restricted_violations

    for item in rendered:
        for obj in item.objects:
            if obj.get("kind") != "Deployment":
                continue
            pod_spec = obj["spec"]["template"]["spec"]
            if item.node.pod_spec:
                broken = patch_breakage(pod_spec, item.node.container_name)
                if broken:
                    field = broken[0][0]
                    at = ("spec", "podSpec", *((field,) if field in item.node.pod_spec else ()))
                    diags.error(
                        "pod-spec-patch",
                        f"{item.node.kind} {item.node.name!r}: the podSpec patch breaks the pod: {'; '.join(why for _, why in broken)}",
                        item.node.doc.location(at, key=True),
                        hint="list only what to add or change: containers and volumes merge by name",
                    )
                    continue
            problems = restricted_violations(pod_spec)
            if problems:
                diags.warning(
                    "pod-security",
                    f"{item.node.kind} {item.node.name!r} does not pass the restricted Pod Security Standard: {'; '.join(problems)}",
                    item.node.doc.location(("spec", "podSpec"), key=True),
                )


def check_workload_objects(rendered: list, graph: Graph, diags: Diagnostics) -> None:
    """What the cluster would refuse or weaken in the generated objects: a podSpec that
    fails the restricted Pod Security Standard, an object too large (long instructions,
    source code, a pass-through ConfigMap)."""
    from kaosgen import object_limits

    check_pod_security(rendered, diags)
    for item in rendered:
        if object_limits.worth_checking(item.node.doc):
            object_limits.check_objects(item.objects, item.node.doc, diags)
    for doc in graph.passthrough:
        if object_limits.worth_checking(doc):
            from kaosgen.hydrate import HydrationError, expand_lists

            try:  # what kustomize sends to the cluster: a List's items
                objects = [obj for obj, _, _ in expand_lists([doc.data])]
            except HydrationError:  # a shape the layout pass reports
                continue
            object_limits.check_objects(objects, doc, diags)


def _check_generated(graph: Graph, loaded: LoadedProject, diags: Diagnostics) -> None:
    """`validate` reports what `render` would: generate the workloads with a podSpec or
    much text, or every workload and the base when there are pass-through documents (whose
    ids may be taken by kaosgen's objects)."""
    from kaosgen.object_limits import worth_checking

    if graph.passthrough:
        rendered = generate(graph, loaded)
        check_workload_objects(rendered, graph, diags)
        if diags.has_errors():  # a broken pod or an object too large: nothing to lay out
            return
        files, vendored = build_layout(rendered, graph, loaded)
        check_object_ids(files, graph, rendered, diags)
        if not diags.has_errors():
            check_environments(files, vendored, graph, loaded, diags)
        return

    def worth(nodes: list) -> list:
        return [n for n in nodes if n.pod_spec or worth_checking(n.doc)]

    some = Graph(
        agents=worth(graph.agents),
        modelapis=worth(graph.modelapis),
        mcpservers=worth(graph.mcpservers),
    )
    if some.workloads():
        check_workload_objects(generate(some, loaded), graph, diags)


def check_object_ids(
    files: dict[str, list], graph: Graph, rendered: list, diags: Diagnostics
) -> None:
    """kustomize refuses two resources with one id in a kustomization, and the user's
    pass-through documents share the base with kaosgen's objects: a user's object with
    the id of another, or of one kaosgen generates, is an error at the document (it
    rendered, and then no build worked)."""
    from kaosgen.diagnostics import Location
    from kaosgen.hydrate import HydrationError, expand_lists, object_id
    from kaosgen.source import display_path

    docs = {id(d.data): d for d in graph.passthrough}
    owners = {id(o): item.node for item in rendered for o in item.objects}
    seen: dict[tuple[Any, ...], tuple[Any, Any, tuple[Any, ...]]] = {}
    for path, objects in files.items():
        if not path.startswith("base/") or path.endswith("/kustomization.yaml"):
            continue
        try:
            loaded = [(o, s, w) for o, s, w in expand_lists(objects)]
        except HydrationError:
            continue  # a malformed List: reported where it is hydrated
        for obj, source, where in loaded:
            key = object_id(obj)
            first = seen.setdefault(key, (obj, source, where))
            if first[0] is obj:
                continue
            mine, other = (
                ((obj, source, where), first)
                if id(source) in docs
                else (first, (obj, source, where))
            )
            doc = docs.get(id(mine[1]))
            kind, name = key[1], key[3]
            if doc is None:  # two of kaosgen's own objects: a bug
                diags.error(
                    "duplicate-object",
                    f"kaosgen generates two {kind} objects named {name!r}",
                    Location(path),
                    hint="this is a kaosgen bug: please report it with the project that shows it",
                )
                continue
            other_doc = docs.get(id(other[1]))
            if other_doc is not None:
                there = other_doc.location((*other[2], "metadata", "name"))
                also = f"another document defines it too ({display_path(there.path)}:{there.line})"
            else:
                node = owners.get(id(other[0]))
                also = (
                    "kaosgen generates a "
                    + kind
                    + " with this name"
                    + (f" for the {node.kind} {node.name!r}" if node is not None else "")
                )
            namespace = f" in namespace {key[2]!r}" if key[2] != "default" else ""
            diags.error(
                "duplicate-object",
                f"{kind} {name!r}{namespace}: {also}; kustomize refuses two objects with one "
                "id (apiVersion, kind, namespace, name), so no environment would build",
                doc.location((*mine[2], "metadata", "name")),
                hint="rename this object",
            )


# --- overlays ------------------------------------------------------------------------


def build_layout(
    rendered: list, graph: Graph, loaded: LoadedProject
) -> dict[str, list[dict[str, Any]]]:
    from kaosgen import components, layout

    project = loaded.project
    vendored = components.pin_images(components.selected(project), project.images.digests)
    files = layout.base_files(
        rendered, graph, project, [d.data for d in graph.passthrough], vendored
    )
    from kaosgen import images

    # Every image the base runs (workloads and vendored pieces): registry rewrites cover them.
    base_images = sorted(
        images.workload_images(rendered)
        | set(components.images({k: v for k, v in vendored.items() if k.startswith("base/")}))
    )
    if "platform/gateway" in vendored:
        files.update(layout.gateway_platform_files(project, graph))
    if "base/redis" in vendored:
        files.update(layout.redis_component_files(project))
    shared: dict[tuple, Any] = {}
    for env_name, env in sorted(project.environments.items()):
        files.update(
            layout.overlay_files(env_name, env, rendered, graph, project, base_images, shared)
        )
    return files, vendored


# --- hydrate → shard ----------------------------------------------------------------


def hydrate_environments(
    files: dict[str, list[dict[str, Any]]],
    vendored: dict[str, dict[str, str]],
    environments: list[str],
    shared: set[int] | None = None,
    floats: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """Environment -> what `kubectl kustomize overlays/<env>` builds, computed here.
    `shared` receives the ids of containers shared between objects (serialize);
    `floats`: whether an input document held a float (see hydrate.json_numbers)."""
    from kaosgen import hydrate

    return hydrate.hydrate(files, vendored, environments, shared, floats)


def shard_environments(
    hydrated: dict[str, list[dict[str, Any]]],
    sizes: dict[str, int],
    graph: Graph,
    loaded: LoadedProject,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list]]:
    """(`hydrated/<env>/<shard>/` files, each environment's shards)."""
    from kaosgen import shard

    project = loaded.project
    files: dict[str, list[dict[str, Any]]] = {}
    shards = {}
    for env_name, objects in hydrated.items():
        namespace = project.environments[env_name].namespace
        shards[env_name] = shard.plan(graph, objects, sizes[env_name], namespace)
        files.update(shard.files(env_name, shards[env_name]))
    return files, shards


def _hydration_failed(
    exc: Exception, graph: Graph, loaded: LoadedProject, diags: Diagnostics
) -> None:
    """Say where: the document to blame, else kaosgen.yaml's gitops block."""
    from kaosgen.diagnostics import Location

    by_data = {id(d.data): d for d in graph.passthrough}
    blamed = [(getattr(exc, "obj", None), getattr(exc, "path", ()))]
    if getattr(exc, "other", None) is not None:
        blamed.append(exc.other)  # type: ignore[attr-defined]
    doc, path = next(((by_data[id(o)], p) for o, p in blamed if id(o) in by_data), (None, ()))
    rule = getattr(exc, "rule", "hydrate")
    if rule == "duplicate-object" and doc is not None:
        diags.error(rule, str(exc), doc.location(path), hint="rename this object")
        return
    if doc is not None:
        location = doc.location(path)
        hint = "kubectl kustomize cannot build this either: fix the document"
    else:
        location = (
            loaded.document.location(("gitops",), key=True)
            if loaded.document is not None and loaded.project.gitops is not None
            else Location(str(loaded.path or "kaosgen.yaml"))
        )
        hint = "this is a kaosgen bug: please report it with the project that shows it"
    diags.error("hydrate", f"cannot compute the hydrated objects: {exc}", location, hint=hint)


def check_environments(
    files: dict[str, list[dict[str, Any]]],
    vendored: dict[str, dict[str, str]],
    graph: Graph,
    loaded: LoadedProject,
    diags: Diagnostics,
    environments: list[str] | None = None,
) -> None:
    """What kustomize refuses in an environment's build (two objects with one id, a
    namespace that makes two one, a subject it cannot name) is an error at the document,
    whether or not Flux or Argo CD builds the environment: hydrate computes each build.
    Only needed with pass-through documents (kaosgen's own objects always build)."""
    try:
        hydrate_environments(files, vendored, environments or sorted(loaded.project.environments))
    except HydrationError as exc:
        _hydration_failed(exc, graph, loaded, diags)


def _kaos_list_items(doc: Document, diags: Diagnostics) -> bool:
    """A `kind: *List` (how `kubectl get agents -o yaml` exports) holding KAOS or kaosgen
    documents: an error at each such item. kustomize would deploy them as raw kaos.tools
    objects, uncompiled; kaosgen compiles documents, not items of a List."""
    kind, items = doc.data.get("kind"), doc.data.get("items")
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(items, list)):
        return False
    found = False
    for i, item in enumerate(items):
        api_version = item.get("apiVersion") if isinstance(item, dict) else None
        if not isinstance(api_version, str) or not api_version.startswith(
            (KAOS_GROUP_PREFIX, PROJECT_GROUP_PREFIX)
        ):
            continue
        found = True
        diags.error(
            "kaos-in-list",
            f"a {api_version} {item.get('kind')} inside a {kind} is not compiled "
            "(it would be deployed as a raw KAOS object)",
            doc.location(("items", i)),
            hint="unwrap the List: write each item as its own document (separated by ---)",
        )
    return found


def delivery_files(
    files: dict[str, list[dict[str, Any]]],
    vendored: dict[str, dict[str, str]],
    graph: Graph,
    loaded: LoadedProject,
    diags: Diagnostics,
    *,
    hydrate_all: bool = False,
    shared: set[int] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """hydrate → shard → the GitOps objects: what Flux and Argo CD build and apply.
    `hydrate_all`: every environment, delivered or not (the equivalence tests)."""
    project = loaded.project
    if not project.uses_gitops and not hydrate_all:
        if graph.passthrough:
            check_environments(files, vendored, graph, loaded, diags)
        return {}
    from kaosgen import gitops
    from kaosgen.shard import DEFAULT_SHARD_SIZE

    sizes = gitops.delivered_environments(project) if project.uses_gitops else {}
    if hydrate_all:
        sizes = {env: sizes.get(env, DEFAULT_SHARD_SIZE) for env in project.environments}
    try:
        floats = (
            any(d.floats for d in graph.passthrough)
            or any(w.doc.floats for w in graph.workloads())
            or (loaded.document is not None and loaded.document.floats)
        )
        hydrated = hydrate_environments(files, vendored, sorted(sizes), shared, floats)
    except HydrationError as exc:
        _hydration_failed(exc, graph, loaded, diags)
        return {}
    others = sorted(set(project.environments) - set(sizes))
    if graph.passthrough and others:
        check_environments(files, vendored, graph, loaded, diags, others)
        if diags.has_errors():
            return {}
    out, shards = shard_environments(hydrated, sizes, graph, loaded)
    if project.uses_gitops:
        out.update(gitops.cluster_files(graph, project, shards))
    return out


def serialize(
    files: dict[str, list[dict[str, Any]]],
    vendored: dict[str, dict[str, str]],
    shared: set[int] | None = None,
) -> RenderedFiles:
    """Path -> YAML text, each file written when first read (the write pass overlaps
    creating files with serializing the next ones). `shared`: ids of containers several
    objects hold (hydrate): written once."""
    from kaosgen.rendered import RenderedFiles
    from kaosgen.writer import HEADER

    texts = {
        f"{directory}/{rel}": HEADER + text
        for directory, component_files in vendored.items()
        for rel, text in component_files.items()
    }
    return RenderedFiles(files, texts, shared or set())


# --- the whole pipeline --------------------------------------------------------------


def compile_project(
    inputs: list[str],
    *,
    project_file: str | None = None,
    output: str | None = None,
    render: bool = True,
    progress: ProgressReport | None = None,
    hydrate_all: bool = False,
) -> Compilation:
    """`hydrate_all`: write `hydrated/` for every environment, not only the ones Flux or
    Argo CD delivers (the equivalence tests)."""
    result = _compile(
        inputs,
        project_file=project_file,
        output=output,
        render=render,
        progress=progress or _no_progress,
        hydrate_all=hydrate_all,
    )
    if result.project is not None:
        apply_ignores(result.project, result.diagnostics)
    return result


def _compile(
    inputs: list[str],
    *,
    project_file: str | None,
    output: str | None,
    render: bool,
    progress: ProgressReport,
    hydrate_all: bool = False,
) -> Compilation:
    result = Compilation()
    diags = result.diagnostics
    # project
    loaded = load_project(inputs, project_file, diags, result.sources)
    result.project = loaded
    exclude: list[Path] = []
    if loaded is not None:
        configured = _relative(loaded.root / loaded.project.output)
        result.output_dir = Path(output) if output else configured
        # Never read rendered output back as input: neither -o DIR nor the configured one.
        exclude = [result.output_dir, configured]
        _check_output_dir(loaded, configured, inputs, diags, overridden=output is not None)
    # load
    progress("reading files", 0, 0)
    load = load_paths(inputs, exclude=exclude, ignored=loaded.ignored if loaded else None)
    diags.extend(load.diagnostics)
    result.sources.update(load.sources)
    documents = reject_foreign_files(load.documents, diags, loaded)
    # validate
    typed, passthrough = validate_documents(documents, diags, progress)
    if loaded is None:
        return result
    checked = len(diags.items)
    # resolve
    from kaosgen import resolve, rules

    progress("resolving references", 0, 0)
    graph = resolve.resolve(typed, diags)
    graph.passthrough = passthrough
    result.graph = graph
    # check
    progress("checking rules", 0, 0)
    rules.check(graph, loaded.project, diags, loaded.document)
    if loaded.project.uses_gitops:
        from kaosgen import gitops

        gitops.check(loaded, diags, graph)
    mute_cascades(documents, diags, checked)
    if diags.has_errors():
        return result
    if not render:
        _check_generated(graph, loaded, diags)
        return result
    # generate
    progress(f"generating {len(graph.workloads())} workloads", 0, 0)
    rendered = generate(graph, loaded)
    check_workload_objects(rendered, graph, diags)
    if diags.has_errors():
        return result
    # pin
    from kaosgen import images

    rendered = images.pin_workloads(rendered, loaded.project.images.digests)
    # overlays
    progress("laying out overlays", 0, 0)
    files, vendored = build_layout(rendered, graph, loaded)
    check_object_ids(files, graph, rendered, diags)
    if diags.has_errors():
        return result
    # hydrate → shard
    progress("hydrating environments", 0, 0)
    shared: set[int] = set()
    files.update(
        delivery_files(
            files, vendored, graph, loaded, diags, hydrate_all=hydrate_all, shared=shared
        )
    )
    result.files = serialize(files, vendored, shared)
    return result


def _check_output_dir(
    loaded: LoadedProject,
    configured: Path,
    inputs: list[str],
    diags: Diagnostics,
    *,
    overridden: bool = False,
) -> None:
    """`output:` in kaosgen.yaml may not be, or contain, an input directory, nor be (or
    be inside) a file: validate must refuse what render cannot write (`overridden`: -o
    names another directory to write)."""
    from kaosgen.inputs import output_overlap

    if loaded.document is None:
        return
    where = loaded.document.location(("output",))
    overlap = output_overlap(configured, [*inputs, str(loaded.root)])
    if overlap is not None:
        diags.error(
            "output-dir",
            f"the output directory {loaded.project.output!r} is or contains the input directory {overlap!r}: "
            "a render would read its own output back",
            where,
            hint="render into a directory of its own, such as `output: deploy`",
        )
    blocker = None if overridden else _not_a_directory(configured)
    if blocker is not None:
        diags.error(
            "output-dir",
            f"the output directory {loaded.project.output!r} cannot be created: "
            f"{blocker.as_posix()} exists and is not a directory",
            where,
            hint="render into a directory of its own, such as `output: deploy`",
        )


def _not_a_directory(path: Path) -> Path | None:
    """The path, or its nearest existing ancestor, when that exists and is not a
    directory (a file, a device, a dangling link): nothing can be written there."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return None if candidate.is_dir() else candidate
    return None


def _relative(path: Path) -> Path:
    """Show output paths relative to the working directory when they are below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path
