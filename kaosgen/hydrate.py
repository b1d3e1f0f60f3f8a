"""Hydrate: per environment, the objects `kubectl kustomize overlays/<env>` would print.

kustomize is slow on large inputs (quadratic in the number of resources, and slower
again for every transformer), so what Flux and Argo CD build must leave it nothing to
do. kaosgen writes every kustomization itself, so it can apply them itself: this module
is a small kustomize for exactly the fields kaosgen writes (`resources`, `namespace`,
`patches` (JSON 6902 and strategic merge), `labels`, `commonAnnotations`, `images`,
`replicas`), run over the output files in memory. Anything else in a kustomization is
a bug in kaosgen, reported as one rather than built wrongly.

The equivalence test (tests/compiler/test_hydrated.py) builds both with the real
kubectl for every example and test project and compares the objects.
"""

from __future__ import annotations

import gc
import marshal
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any

#: Objects by output path (a kustomization is a file of one mapping).
Files = dict[str, list[dict[str, Any]]]
Obj = dict[str, Any]

_SUPPORTED = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "labels",
    "commonAnnotations",
    "images",
    "replicas",
    "patches",
}

#: Kinds kustomize's built-in schema knows as cluster-scoped: `namespace:` leaves them.
#: (A CRD's kind is namespaced to kustomize, as here.)
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "SelfSubjectAccessReview",
        "SelfSubjectRulesReview",
        "StorageClass",
        "SubjectAccessReview",
        "TokenReview",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)

#: Where kustomize's `labels` (includeTemplates) and `commonAnnotations` reach into
#: workload templates, by kind (kustomize's templateLabels / commonAnnotations configs).
_TEMPLATE_PATHS = {
    "ReplicationController": (("spec", "template", "metadata"),),
    "Deployment": (("spec", "template", "metadata"),),
    "ReplicaSet": (("spec", "template", "metadata"),),
    "DaemonSet": (("spec", "template", "metadata"),),
    "StatefulSet": (("spec", "template", "metadata"),),
    "Job": (("spec", "template", "metadata"),),
    "CronJob": (
        ("spec", "jobTemplate", "metadata"),
        ("spec", "jobTemplate", "spec", "template", "metadata"),
    ),
}
_REPLICA_KINDS = frozenset({"Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"})

#: Strategic-merge keys of the lists kaosgen's patches touch (others are replaced).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
}


class HydrationError(Exception):
    """An object kustomize could not transform either (`obj`, when one is to blame), or a
    kustomization this module does not understand (a kaosgen bug)."""

    def __init__(self, message: str, obj: Any = None, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.obj = obj
        self.path = path


def _describe(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = obj.get("kind") if isinstance(obj, dict) else None
    return f"{kind or 'an object'} {name!r}" if name else str(kind or "an object")


def check_shape(obj: Any) -> None:
    """What the transformers rely on, and kustomize too: a mapping whose metadata, labels
    and annotations are mappings."""
    if not isinstance(obj, dict):
        raise HydrationError("a document that is not a mapping", obj)
    meta = obj.get("metadata")
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise HydrationError(f"{_describe(obj)}: metadata is not a mapping", obj, ("metadata",))
    for field in ("labels", "annotations"):
        if meta.get(field) is not None and not isinstance(meta[field], dict):
            raise HydrationError(
                f"{_describe(obj)}: metadata.{field} is not a mapping", obj, ("metadata", field)
            )


def copy(value: Any) -> Any:
    """A deep copy of plain data (dicts, lists, scalars): marshal does it in C, many times
    faster than copy.deepcopy."""
    return marshal.loads(marshal.dumps(value))


class Own:
    """Copy on write. The objects a build starts from are shared (with the output files,
    with other environments' builds): a transformer writes only into containers this build
    copied, so what it leaves alone stays shared, and hydrating costs little more than the
    changes it makes."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._keep: list[Any] = []  # alive while the build runs: ids stay unique

    def mine(self, value: Any) -> Any:
        """A shallow copy of a dict or list, writable by this build."""
        copied = dict(value) if isinstance(value, dict) else list(value)
        self._ids.add(id(copied))
        self._keep.append(copied)
        return copied

    def child(self, parent: Any, key: Any, create: bool = False) -> Any:
        """`parent[key]` made writable (`parent` must be), or a new {} if `create`."""
        value = parent[key] if isinstance(parent, list) else parent.get(key)
        if not isinstance(value, (dict, list)):
            if not create:
                raise HydrationError(f"no container at {key!r}")
            value = {}
            self._ids.add(id(value))
            self._keep.append(value)
            parent[key] = value
        elif id(value) not in self._ids:
            value = self.mine(value)
            parent[key] = value
        return value

    def shared_below(self, objects: Iterable[Obj], into: set[int]) -> None:
        """Add the ids of the containers these objects share with others: those hanging
        from what this build copied, not copied themselves."""
        stack: list[Any] = list(objects)
        while stack:
            node = stack.pop()
            for value in node.values() if isinstance(node, dict) else node:
                if isinstance(value, (dict, list)) and value:
                    if id(value) in self._ids:
                        stack.append(value)
                    else:
                        into.add(id(value))

    def path(self, obj: Obj, keys: Iterable[Any], create: bool = False) -> Any:
        node = obj
        for key in keys:
            node = self.child(node, key, create)
        return node


class Tree:
    """The output files in memory: generated objects plus vendored text files."""

    def __init__(self, files: Files, vendored: dict[str, dict[str, str]]) -> None:
        self.files = files
        self.texts = {
            f"{directory}/{rel}": text
            for directory, pieces in vendored.items()
            for rel, text in pieces.items()
        }
        self._parsed: dict[str, list[Obj]] = {}
        self._built: dict[str, list[Obj]] = {}
        #: Ids of the containers the built objects share (yamlout.sharing).
        self.shared: set[int] = set()

    def objects(self, path: str) -> list[Obj]:
        if path in self.files:
            return self.files[path]
        if path not in self._parsed:
            if path not in self.texts:
                raise HydrationError(f"{path}: no such file in the output")
            self._parsed[path] = _load_all(self.texts[path])
        return self._parsed[path]

    def is_directory(self, path: str) -> bool:
        return (
            f"{path}/kustomization.yaml" in self.files or f"{path}/kustomization.yaml" in self.texts
        )

    def build(self, directory: str) -> list[Obj]:
        """The objects `kubectl kustomize <directory>` prints (in kustomize's input order).
        Shared: never change them (start another build from them with Own.mine)."""
        if directory not in self._built:
            self._built[directory] = self._build(directory)
        return self._built[directory]

    def _build(self, directory: str) -> list[Obj]:
        (kust,) = self.objects(f"{directory}/kustomization.yaml")
        unknown = sorted(k for k, v in kust.items() if v is not None and k not in _SUPPORTED)
        if unknown:
            raise HydrationError(f"{directory}/kustomization.yaml: cannot hydrate {unknown}")
        own = Own()
        objects: list[Obj] = []
        for resource in kust.get("resources") or []:
            path = posixpath.normpath(posixpath.join(directory, resource))
            if self.is_directory(path):
                found = self.build(path)
            else:
                found = self.objects(path)
                for obj in found:
                    check_shape(obj)
            objects.extend(own.mine(o) for o in found)
        if kust.get("namespace"):
            set_namespace(objects, kust["namespace"])
        for patch in kust.get("patches") or []:
            body = self._patch_body(directory, patch)
            objects = apply_patch(objects, body, patch.get("target"), own)
        for label in kust.get("labels") or []:
            if label.get("includeSelectors"):
                raise HydrationError(f"{directory}: labels with includeSelectors")
            templates = bool(label.get("includeTemplates"))
            add_metadata(objects, "labels", label["pairs"], templates, own)
        if kust.get("commonAnnotations"):
            add_metadata(objects, "annotations", kust["commonAnnotations"], True, own)
        set_images(objects, kust.get("images") or [], own)
        for entry in kust.get("replicas") or []:
            set_replicas(objects, entry["name"], entry["count"], own)
        if directory.startswith("overlays/"):  # what is written (a base's own are below)
            own.shared_below(objects, self.shared)
        return objects

    def _patch_body(self, directory: str, patch: dict[str, Any]) -> Any:
        if "patch" in patch:
            return _load_one(patch["patch"])
        (body,) = self.objects(posixpath.normpath(posixpath.join(directory, patch["path"])))
        return body


def _yaml():
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=False)


def _load_all(text: str) -> list[Obj]:
    return [d for d in _yaml().load_all(text) if d is not None]


def _load_one(text: str) -> Any:
    return _yaml().load(text)


# --- transformers ----------------------------------------------------------------------


def set_namespace(objects: Iterable[Obj], namespace: str) -> None:
    for obj in objects:
        if obj.get("kind") not in CLUSTER_SCOPED:
            meta = obj.get("metadata") or {}
            # Right after the name, where a reader looks for it.
            head = {"name": meta["name"]} if "name" in meta else {}
            obj["metadata"] = {
                **head,
                "namespace": namespace,
                **{k: v for k, v in meta.items() if k not in ("name", "namespace")},
            }


def add_metadata(
    objects: Iterable[Obj], field: str, pairs: dict[str, str], templates: bool, own: Own
) -> None:
    """`labels` / `commonAnnotations`: onto every object, and into templates if asked."""
    for obj in objects:
        targets = [own.child(obj, "metadata", create=True)]
        if templates:
            for path in _TEMPLATE_PATHS.get(obj.get("kind"), ()):
                targets.append(own.path(obj, path, create=True))
        for meta in targets:
            own.child(meta, field, create=True).update(pairs)


def split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) the way kustomize splits an image (its `image.Split`)."""
    slash = image.find("/")
    offset = slash if slash > 0 else 0
    search = image[offset:]
    at, colon = search.find("@"), search.find(":")
    if at < 0 and colon < 0:
        return image, "", ""
    if at >= 0 and (at < colon or colon < 0):
        return image[: offset + at], "", image[offset + at + 1 :]
    if at >= 0:
        return (
            image[: offset + colon],
            image[offset + colon + 1 : offset + at],
            image[offset + at + 1 :],
        )
    return image[: offset + colon], image[offset + colon + 1 :], ""


def _new_image(image: str, entry: dict[str, Any]) -> str | None:
    name, tag, digest = split_image(image)
    if name != entry["name"]:
        return None
    name = entry.get("newName") or name
    new_tag, new_digest = entry.get("newTag") or "", entry.get("digest") or ""
    if new_tag or new_digest:
        tag, digest = new_tag, new_digest
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


#: Where kinds kustomize knows keep their pod spec; any other kind is searched whole.
_POD_SPECS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
#: Kinds with no containers anywhere (most of what kaosgen renders): nothing to search.
_NO_CONTAINERS = frozenset(
    {
        "ConfigMap",
        "Secret",
        "Service",
        "ServiceAccount",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "PersistentVolumeClaim",
        "HTTPRoute",
        "Role",
        "RoleBinding",
    }
)


def set_images(objects: Iterable[Obj], entries: list[dict[str, Any]], own: Own) -> None:
    """The `images:` entries, in order, over every container and init container."""

    def changed(container: Any) -> str | None:
        image = container.get("image") if isinstance(container, dict) else None
        if not isinstance(image, str):
            return None
        new = image
        for entry in entries:
            new = _new_image(new, entry) or new
        return new if new != image else None

    def found(node: Any) -> Iterator[tuple[Any, str]]:
        """(holder, key) of every containers / initContainers list below node."""
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("containers", "initContainers") and isinstance(value, list):
                    yield node, key
                yield from found(value)
        elif isinstance(node, list):
            for item in node:
                yield from found(item)

    if not entries:
        return
    for obj in objects:
        kind = obj.get("kind")
        if kind in _NO_CONTAINERS:
            continue
        path = _POD_SPECS.get(kind)
        if path is None:
            # Any kind: containers wherever they are (kustomize's legacy image filter).
            if any(changed(c) for holder, key in found(obj) for c in holder[key]):
                private = copy(obj)
                obj.clear()
                obj.update(private)
                for holder, key in found(obj):
                    for container in holder[key]:
                        new = changed(container)
                        if new is not None:
                            container["image"] = new
            continue
        spec: Any = obj
        for key in path:
            spec = spec.get(key) if isinstance(spec, dict) else None
        if not isinstance(spec, dict):
            continue
        for key in ("containers", "initContainers"):
            containers = spec.get(key)
            if not isinstance(containers, list):
                continue
            for i, container in enumerate(containers):
                new = changed(container)
                if new is not None:
                    writable = own.path(obj, (*path, key, i))
                    writable["image"] = new


def set_replicas(objects: Iterable[Obj], name: str, count: int, own: Own) -> None:
    for obj in objects:
        if obj.get("kind") in _REPLICA_KINDS and obj.get("metadata", {}).get("name") == name:
            own.child(obj, "spec", create=True)["replicas"] = count


# --- patches ---------------------------------------------------------------------------


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`)."""
    for term in re.split(r",(?![^()]*\))", selector):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s+\((.*)\)", term)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            present = m.group(1) in labels and labels[m.group(1)] in values
            if present != (m.group(2) == "in"):
                return False
            continue
        m = re.fullmatch(r"([^\s!=]+)\s*(==|=|!=)\s*(\S*)", term)
        if m:
            equal = labels.get(m.group(1)) == m.group(3)
            if equal != (m.group(2) != "!="):
                return False
            continue
        if term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _matches(obj: Obj, target: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    for field, value in (
        ("kind", obj.get("kind")),
        ("name", meta.get("name")),
        ("namespace", meta.get("namespace")),
    ):
        if field in target and not re.fullmatch(target[field], value or ""):
            return False
    if "group" in target or "version" in target:
        group, _, version = (obj.get("apiVersion") or "").rpartition("/")
        if "group" in target and not re.fullmatch(target["group"], group):
            return False
        if "version" in target and not re.fullmatch(target["version"], version):
            return False
    for field, where in (("labelSelector", "labels"), ("annotationSelector", "annotations")):
        if field in target and not _selector_matches(target[field], meta.get(where) or {}):
            return False
    return True


def apply_patch(
    objects: list[Obj], body: Any, target: dict[str, Any] | None, own: Own
) -> list[Obj]:
    if isinstance(body, list):
        if target is None:
            raise HydrationError("a JSON 6902 patch without a target")
        for obj in objects:
            if _matches(obj, target):
                json_patch(obj, body, own)
        return objects
    if not isinstance(body, dict):
        raise HydrationError(f"a patch that is neither JSON 6902 nor strategic merge: {body!r}")
    if target is None:
        target = {
            "kind": re.escape(body.get("kind", "")),
            "name": re.escape(body["metadata"]["name"]),
        }
    if body.get("$patch") == "delete":
        return [o for o in objects if not _matches(o, target)]
    patch = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    for obj in objects:
        if _matches(obj, target):
            name = obj["metadata"]["name"]
            merged = strategic_merge(obj, patch)  # new containers where it changes
            obj.clear()
            obj.update(merged)
            obj["metadata"] = {**obj["metadata"], "name": name}
    return objects


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(obj: Obj, ops: list[dict[str, Any]], own: Own) -> None:
    for op in ops:
        *parents, last = _pointer(op["path"])
        kind = op["op"]
        if kind == "test":
            node: Any = obj
            for key in [*parents, last]:
                node = node[int(key)] if isinstance(node, list) else node[key]
            if node != op["value"]:
                raise HydrationError(f"JSON patch test failed at {op['path']}")
            continue
        node = obj
        for key in parents:
            node = own.child(node, int(key) if isinstance(node, list) else key)
        if kind == "add":
            if isinstance(node, list):
                if last == "-":
                    node.append(copy(op["value"]))
                else:
                    node.insert(int(last), copy(op["value"]))
            else:
                node[last] = copy(op["value"])
        elif kind == "replace":
            if isinstance(node, list):
                node[int(last)] = copy(op["value"])
            else:
                if last not in node:
                    raise HydrationError(f"JSON patch replace of a missing {op['path']}")
                node[last] = copy(op["value"])
        elif kind == "remove":
            if isinstance(node, list):
                del node[int(last)]
            else:
                del node[last]
        else:
            raise HydrationError(f"JSON patch op {kind!r}")


def strategic_merge(base: Any, patch: Any, key: str | None = None) -> Any:
    """A strategic merge of plain data: maps merge (null deletes), lists with a merge key
    merge by it (new elements appended), other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for k, v in patch.items():
            if v is None:
                merged.pop(k, None)
            elif k in merged:
                merged[k] = strategic_merge(merged[k], v, k)
            else:
                merged[k] = _without_nulls(v)
        return merged
    merge_key = _MERGE_KEYS.get(key or "")
    if isinstance(base, list) and isinstance(patch, list) and merge_key:
        # kustomize's order: the patch's elements (merged into the originals they name),
        # then the originals the patch does not name.
        originals = {item.get(merge_key): item for item in base if isinstance(item, dict)}
        named = set()
        merged_list = []
        for item in patch:
            name = item.get(merge_key) if isinstance(item, dict) else None
            named.add(name)
            if name in originals:
                merged_list.append(strategic_merge(originals[name], item))
            else:
                merged_list.append(_without_nulls(item))
        merged_list.extend(
            item for item in base if not (isinstance(item, dict) and item.get(merge_key) in named)
        )
        return merged_list
    return _without_nulls(patch)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# --- the pass --------------------------------------------------------------------------


def hydrate(
    files: Files,
    vendored: dict[str, dict[str, str]],
    environments: Iterable[str],
    shared: set[int] | None = None,
) -> dict[str, list[Obj]]:
    """Environment -> the objects of `overlays/<env>`, every transformer applied.
    `shared` receives the ids of the containers they share with each other and with the
    output files (yamlout.sharing writes those once)."""
    tree = Tree(files, vendored)
    if shared is not None:
        tree.shared = shared
    # Millions of fresh containers and nothing cyclic: the cycle collector would rescan
    # the whole heap again and again (most of the time this pass takes).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return {env: tree.build(f"overlays/{env}") for env in environments}
    finally:
        if enabled:
            gc.enable()
