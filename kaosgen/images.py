"""The images a project deploys, and their digests.

- pin: every container image kaosgen renders (workloads and vendored components) whose
  reference has a digest in kaosgen.yaml's `images.digests` becomes `ref@digest` in the
  base. kustomize keeps tag and digest through an environment's registry rewrite
  (`newName`), and replaces both where an environment swaps the image (`newTag`/`digest`).
- list: what each environment deploys, read from the rendered tree the way
  `kustomize build overlays/<env>` reads it: resources, then each kustomization's
  `images:` entries. Objects you wrote yourself (pass-through resources) are listed too,
  marked unmanaged: kaosgen never rewrites them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kaosgen import imageref
from kaosgen.models.project import Environment, Project

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
#: The rendered file that holds your own (pass-through) objects; see layout.base_files.
PASSTHROUGH_FILE = "base/resources.yaml"
#: Environment `images:` keys -> the project-wide setting they override.
ENV_IMAGE_KEYS = {
    "agent": "agent",
    "mcpServer": "mcp_server",
    "litellm": "litellm",
    "ollama": "ollama",
}


# --- pin -----------------------------------------------------------------------------


def pin_ref(ref: str, digests: Mapping[str, str]) -> str:
    """`ref@digest` when the project pins `ref`; a reference with a digest stays as written."""
    if "@" in ref:
        return ref
    digest = digests.get(ref)
    return f"{ref}@{digest}" if digest else ref


def unpinned(ref: str, digests: Mapping[str, str]) -> str:
    """Undo `pin_ref`: the reference as written, before `images.digests` applied."""
    tagged, _, digest = ref.partition("@")
    return tagged if digest and digests.get(tagged) == digest else ref


#: Kinds whose pod template sits at `spec.template.spec`, and kinds that run no containers:
#: the walk goes straight there (renders of thousands of workloads call it per object).
_TEMPLATE_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
)
_NO_CONTAINERS = frozenset(
    {
        "Service",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "HTTPRoute",
        "Namespace",
    }
)


def containers(obj: Any) -> Iterator[dict[str, Any]]:
    """Every container mapping with an `image` in an object (any kind, any depth), the
    fields kustomize's image transformer visits."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind in _NO_CONTAINERS:
        return
    if kind in _TEMPLATE_KINDS:
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec")
        if isinstance(pod, dict):
            yield from _pod_containers(pod)
        return
    yield from _walk(obj)


def _pod_containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in CONTAINER_LISTS:
        for item in pod.get(key) or ():
            if isinstance(item, dict) and isinstance(item.get("image"), str):
                yield item


def _walk(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in CONTAINER_LISTS and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and isinstance(item.get("image"), str):
                        yield item
            else:
                yield from _walk(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _walk(item)


def pin_objects(objects: list[dict[str, Any]], digests: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects with pinned images (copied where something changes; input untouched)."""
    if not digests:
        return objects
    import copy

    out = []
    for obj in objects:
        if any(pin_ref(c["image"], digests) != c["image"] for c in containers(obj)):
            obj = copy.deepcopy(obj)
            for container in containers(obj):
                container["image"] = pin_ref(container["image"], digests)
        out.append(obj)
    return out


def pin_workloads(rendered: list, digests: Mapping[str, str]) -> list:
    """The generate pass's workloads with `images.digests` applied."""
    if not digests:
        return rendered
    return [replace(item, objects=pin_objects(item.objects, digests)) for item in rendered]


def workload_images(rendered: list) -> set[str]:
    """Every image the rendered workloads run (main, init and sidecar containers)."""
    return {c["image"] for item in rendered for obj in item.objects for c in containers(obj)}


def environment_targets(env: Environment, project: Project, used: Iterable[str]) -> dict[str, str]:
    """Base image -> what this environment runs instead (its `images:` overrides), before
    any registry rewrite. Both sides carry their `images.digests` pins."""
    digests = project.images.digests
    used = set(used)
    targets: dict[str, str] = {}
    for key, override in sorted(env.images.items()):
        base_ref = pin_ref(getattr(project.images, ENV_IMAGE_KEYS[key]), digests)
        if base_ref in used:
            targets[base_ref] = pin_ref(override, digests)
    return targets


# --- what kustomize does with `images:` -----------------------------------------------


def apply_image_entries(image: str, entries: Iterable[Mapping[str, Any]]) -> str:
    """`image` after kustomize's `images:` entries (kustomize v5 semantics: entries match
    the name exactly; `newTag` alone drops a digest, `digest` alone drops the tag)."""
    try:
        ref = imageref.parse(image)
    except ValueError:
        return image
    for entry in entries:
        if entry.get("name") != ref.name:
            continue
        name, tag, digest = entry.get("newName") or ref.name, ref.tag, ref.digest
        new_tag, new_digest = entry.get("newTag"), entry.get("digest")
        if new_tag and new_digest:
            tag, digest = str(new_tag), new_digest
        elif new_tag:
            tag, digest = str(new_tag), None
        elif new_digest:
            tag, digest = None, new_digest
        image = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        ref = imageref.parse(image)
    return image


# --- list ----------------------------------------------------------------------------


@dataclass
class DeployedImage:
    image: str  # as the environment's pods run it
    used_by: list[str] = field(default_factory=list)  # `Kind/name`
    managed: bool = True  # False: only in objects you wrote yourself

    @property
    def pinned(self) -> bool:
        return "@" in self.image

    def as_json(self) -> dict[str, Any]:
        try:
            ref = imageref.parse(self.image)
            parts: dict[str, Any] = {"name": ref.name, "tag": ref.tag, "digest": ref.digest}
        except ValueError:
            parts = {"name": self.image, "tag": None, "digest": None}
        return {
            "image": self.image,
            **parts,
            "pinned": self.pinned,
            "managed": self.managed,
            "usedBy": self.used_by,
        }


@dataclass(frozen=True)
class _Use:
    image: str
    owner: str
    managed: bool


def _load_all(text: str) -> list[Any]:
    from ruamel.yaml import YAML

    return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc is not None]


def _uses(
    files: Mapping[str, str], directory: str, seen: frozenset[str] = frozenset()
) -> list[_Use]:
    """The images a kustomization directory builds, after its own `images:` entries."""
    path = f"{directory}/kustomization.yaml"
    if path not in files or directory in seen:
        return []
    kustomization = (_load_all(files[path]) or [{}])[0]
    uses: list[_Use] = []
    for resource in kustomization.get("resources") or []:
        target = posixpath.normpath(posixpath.join(directory, resource))
        if f"{target}/kustomization.yaml" in files:
            uses.extend(_uses(files, target, seen | {directory}))
        elif target in files:
            for obj in _load_all(files[target]):
                if not isinstance(obj, dict):
                    continue
                meta = obj.get("metadata") or {}
                owner = f"{obj.get('kind')}/{meta.get('name')}"
                managed = target != PASSTHROUGH_FILE
                uses.extend(_Use(c["image"], owner, managed) for c in containers(obj))
    entries = kustomization.get("images") or []
    return [replace(u, image=apply_image_entries(u.image, entries)) for u in uses]


def deployed(files: Mapping[str, str], env: str) -> list[DeployedImage]:
    """Every image `kustomize build overlays/<env>` runs, sorted, with the objects using it.

    `files` is a render's output tree (path relative to the output directory -> text)."""
    by_image: dict[str, DeployedImage] = {}
    for use in _uses(files, f"overlays/{env}"):
        item = by_image.setdefault(use.image, DeployedImage(use.image, [], False))
        if use.owner not in item.used_by:
            item.used_by.append(use.owner)
        item.managed = item.managed or use.managed
    for item in by_image.values():
        item.used_by.sort()
    return [by_image[k] for k in sorted(by_image)]


# --- what `kaosgen images pin` resolves ------------------------------------------------


def base_images(files: Mapping[str, str]) -> dict[str, set[str]]:
    """Images kaosgen renders into `base/` (not your pass-through objects) -> their users."""
    out: dict[str, set[str]] = {}
    for use in _uses(files, "base"):
        if use.managed:
            out.setdefault(use.image, set()).add(use.owner)
    return out


def pin_targets(
    files: Mapping[str, str], project: Project, envs: Iterable[str]
) -> dict[str, set[str]]:
    """Each reference (without digest) the environments `envs` deploy whose digest comes
    from `images.digests` -> its users. A reference written with a digest is pinned already
    and not listed; a registry rewrite keeps the digest of the reference it rewrites."""
    digests = project.images.digests
    base = base_images(files)
    wanted: dict[str, set[str]] = {}
    for name in envs:
        targets = environment_targets(project.environments[name], project, base)
        for base_ref, users in base.items():
            ref = unpinned(targets.get(base_ref, base_ref), digests)
            if "@" not in ref:
                wanted.setdefault(ref, set()).update(users)
    return wanted
