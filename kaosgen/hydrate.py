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
from typing import Any, NamedTuple

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

#: (apiVersion, kind) that kustomize's built-in schema knows as cluster-scoped: `namespace:`
#: leaves them. Measured with the real kubectl (kustomize v5.8.1) over every cluster-scoped
#: kind and version: any other pair, even ValidatingAdmissionPolicy or flowcontrol v1, is
#: namespaced to kustomize (it gets metadata.namespace, as here).
CLUSTER_SCOPED = frozenset(
    {
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
        ("apiregistration.k8s.io/v1", "APIService"),
        ("apiregistration.k8s.io/v1beta1", "APIService"),
        ("certificates.k8s.io/v1", "CertificateSigningRequest"),
        ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("networking.k8s.io/v1beta1", "IngressClass"),
        ("node.k8s.io/v1", "RuntimeClass"),
        ("node.k8s.io/v1beta1", "RuntimeClass"),
        ("policy/v1beta1", "PodSecurityPolicy"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("scheduling.k8s.io/v1beta1", "PriorityClass"),
        ("storage.k8s.io/v1", "CSIDriver"),
        ("storage.k8s.io/v1", "CSINode"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("storage.k8s.io/v1", "VolumeAttachment"),
        ("storage.k8s.io/v1beta1", "CSIDriver"),
        ("storage.k8s.io/v1beta1", "CSINode"),
        ("storage.k8s.io/v1beta1", "StorageClass"),
        ("storage.k8s.io/v1beta1", "VolumeAttachment"),
        ("v1", "ComponentStatus"),
        ("v1", "Namespace"),
        ("v1", "Node"),
        ("v1", "PersistentVolume"),
    }
)


def is_cluster_scoped(obj: Obj) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in CLUSTER_SCOPED


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
#: ... and only for these groups / versions of those kinds (None: any), per field: a
#: custom resource of the same kind name in another group keeps its template.
_TEMPLATE_SELECTORS: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "labels": {
        "ReplicationController": (None, "v1"),
        "StatefulSet": ("apps", None),
        "Job": ("batch", None),
        "CronJob": ("batch", None),
    },
    "annotations": {
        "ReplicationController": (None, "v1"),
        "Job": ("batch", None),
        "CronJob": ("batch", None),
    },
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

    #: The diagnostic's rule id.
    rule = "hydrate"

    def __init__(
        self,
        message: str,
        obj: Any = None,
        path: tuple[str, ...] = (),
        other: tuple[Any, tuple[Any, ...]] | None = None,
    ) -> None:
        super().__init__(message)
        self.obj = obj
        self.path = path
        #: The other document to blame, when two are (the user's one is named).
        self.other = other


class DuplicateObjectError(HydrationError):
    """Two resources with one id in a kustomization: kustomize refuses the second."""

    rule = "duplicate-object"


def _describe(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = obj.get("kind") if isinstance(obj, dict) else None
    return f"{kind or 'an object'} {name!r}" if name else str(kind or "an object")


def check_shape(obj: Any) -> None:
    """What the transformers rely on, and kustomize too: a mapping whose metadata, labels
    and annotations are mappings (a List's items too)."""
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
    kind, items = obj.get("kind"), obj.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for i, item in enumerate(items):  # kustomize loads each item as a resource
            if item is None:
                continue
            try:
                check_shape(item)
            except HydrationError as exc:
                raise HydrationError(str(exc), obj, ("items", i, *exc.path)) from None


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


class Origin(NamedTuple):
    """What kustomize remembers of a resource: its document (errors point there), the path
    of the resource in it (a List's item), its namespace as loaded (kustomize's OrgId) and
    whether a transformer stored a previous id (only such resources are name-reference
    candidates)."""

    source: Any
    where: tuple[Any, ...]
    namespace: str
    stored: bool


def _text(value: Any) -> str:
    """A scalar as kustomize reads it (a YAML node's value)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _namespace_of(obj: Obj) -> str:
    meta = obj.get("metadata")
    return _text(meta.get("namespace")) if isinstance(meta, dict) else ""


_LOCAL_CONFIG = "config.kubernetes.io/local-config"


def _as_json(value: Any, source: Any, where: tuple[Any, ...]) -> Any:
    """A List's item the way kustomize re-reads it (through encoding/json): keys sorted,
    integral floats written as integers."""
    if isinstance(value, dict):
        return {str(k): _as_json(value[k], source, (*where, k)) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_as_json(v, source, (*where, i)) for i, v in enumerate(value)]
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise HydrationError("a List item with a value JSON cannot hold", source, where)
        return _json_float(value)
    return value


#: The integers go-yaml reads back from encoding/json's digits (int64, then uint64).
_JSON_INT_MIN, _JSON_INT_END = -(2**63), 2**64


def _json_float(value: float) -> float | int:
    """A float as kustomize prints it after its encoding/json round trip: an integral one
    (`2.0`, `1e3`, `-0.0`) comes back as an integer when its digits fit go-yaml's
    integers, else (`1e20`) stays a float."""
    if value.is_integer() and abs(value) < 1e21:
        number = int(value)
        if _JSON_INT_MIN <= number < _JSON_INT_END:
            return number
    return value


def json_numbers(value: Any) -> Any:
    """`value` with every integral float as kustomize prints it (see _json_float);
    the same object when nothing changes, else a copy of the containers on the way."""
    kind = type(value)
    if kind is dict:
        changed = None
        for key, item in value.items():
            if type(item) in _LEAVES:
                continue
            new = json_numbers(item)
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if kind is list:
        copied = None
        for i, item in enumerate(value):
            if type(item) in _LEAVES:
                continue
            new = json_numbers(item)
            if new is not item:
                if copied is None:
                    copied = list(value)
                copied[i] = new
        return value if copied is None else copied
    if kind is float:
        return _json_float(value)
    return value


_LEAVES = frozenset({str, int, bool, type(None)})


def _same(value: Any) -> Any:
    return value


def expand_lists(docs: list[Obj]) -> Iterator[tuple[Obj, Any, tuple[Any, ...]]]:
    """(resource, its document, path in it): what kustomize loads from a file's documents.
    A document whose kind ends in `List` and that has `items` is replaced by its items,
    queued after the file's other documents (kustomize's order); empty documents and those
    annotated config.kubernetes.io/local-config (not "false") are not resources."""
    queue: list[tuple[Any, Any, tuple[Any, ...]]] = [(d, d, ()) for d in docs]
    at = 0
    while at < len(queue):
        obj, source, where = queue[at]
        at += 1
        if not where:
            check_shape(obj)
        if not obj:
            continue
        kind = obj.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and "items" in obj:
            items = obj["items"]
            if items is None:
                continue
            if not isinstance(items, list):
                raise HydrationError(f"{kind}: items is not a list", source, (*where, "items"))
            for i, item in enumerate(items):
                place = (*where, "items", i)
                if item is None:
                    continue
                try:
                    check_shape(item)
                except HydrationError as exc:
                    raise HydrationError(str(exc), source, (*place, *exc.path)) from None
                queue.append((_as_json(item, source, place), source, place))
            continue
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if _LOCAL_CONFIG in annotations and annotations[_LOCAL_CONFIG] != "false":
            continue
        yield obj, source, where


class Tree:
    """The output files in memory: generated objects plus vendored text files."""

    def __init__(
        self, files: Files, vendored: dict[str, dict[str, str]], floats: bool = True
    ) -> None:
        self.files = files
        #: Whether the objects may hold floats (see json_numbers); False skips the walk.
        self.floats = floats
        self.texts = {
            f"{directory}/{rel}": text
            for directory, pieces in vendored.items()
            for rel, text in pieces.items()
        }
        self._parsed: dict[str, list[Obj]] = {}
        self._built: dict[str, list[Obj]] = {}
        #: Where each built object comes from, by id (alive as long as the builds).
        self.origins: dict[int, Origin] = {}
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
                found = [(o, self.origins[id(o)]) for o in self.build(path)]
            else:
                # kustomize prints every float through encoding/json: `replicas: 2.0` is 2.
                fix = json_numbers if self.floats else _same
                found = [
                    (fix(o), Origin(source, where, _namespace_of(o), False))
                    for o, source, where in expand_lists(self.objects(path))
                ]
            for obj, origin in found:
                mine = own.mine(obj)
                self.origins[id(mine)] = origin
                objects.append(mine)
        self._check_accumulated(directory, objects)
        if kust.get("namespace"):
            set_namespace(objects, kust["namespace"], own, self.origins)
            _check_unique(objects, kust["namespace"], self.origins)
        for patch in kust.get("patches") or []:
            body = self._patch_body(directory, patch)
            objects = apply_patch(objects, body, patch.get("target"), own, self.origins)
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
        if directory.startswith("overlays/"):  # the root of a build: what is written
            fix_back_references(objects, self.origins, own)
            own.shared_below(objects, self.shared)
        return objects

    def _check_accumulated(self, directory: str, objects: list[Obj]) -> None:
        """kustomize's accumulation: a resource with the id of one already loaded is
        refused ("may not add resource with an already registered id")."""
        seen: dict[tuple[Any, ...], Obj] = {}
        for obj in objects:
            first = seen.setdefault(object_id(obj), obj)
            if first is obj:
                continue
            origin, before = self.origins[id(obj)], self.origins[id(first)]
            key = object_id(obj)
            namespace = f" in namespace {key[2]!r}" if key[2] != "default" else ""
            raise DuplicateObjectError(
                f"{key[1]} {key[3]!r}{namespace} is defined twice in {directory}/ (kustomize "
                "refuses two objects with one id: apiVersion, kind, namespace, name), so this "
                "environment would not build",
                origin.source,
                (*origin.where, "metadata", "name"),
                other=(before.source, (*before.where, "metadata", "name")),
            )

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


def _group(obj: Obj) -> str:
    api = obj.get("apiVersion")
    return api.rpartition("/")[0] if isinstance(api, str) else ""


def _version(obj: Obj) -> str:
    api = obj.get("apiVersion")
    return api.rpartition("/")[2] if isinstance(api, str) else ""


def _set_field(
    node: Any, key: str, value: str, obj: Obj, where: tuple[Any, ...], origin: Origin
) -> None:
    """kustomize's SetEntry: only onto a missing or scalar field."""
    if isinstance(node.get(key), (dict, list)):
        raise HydrationError(
            f"{_describe(obj)}: {'.'.join(map(str, (*where, key)))} is not a scalar",
            origin.source,
            (*origin.where, *where, key),
        )
    node[key] = value


#: Kinds with namespace fields beyond metadata.namespace.
_NAMESPACE_FIELDS = frozenset(
    {"APIService", "CustomResourceDefinition", "RoleBinding", "ClusterRoleBinding"}
)


def object_id(obj: Obj) -> tuple[Any, ...]:
    """What kustomize tells resources apart by: apiVersion, kind, namespace (none is
    `default`; none for cluster-scoped kinds) and name. A kustomization refuses a second
    resource with the id of one it holds."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    ns = "" if is_cluster_scoped(obj) else _text(meta.get("namespace"))
    return (obj.get("apiVersion"), obj.get("kind"), ns or "default", _text(meta.get("name")))


def _check_unique(objects: Iterable[Obj], namespace: str, origins: dict[int, Origin]) -> None:
    """kustomize refuses a `namespace:` that makes two resources one (two Namespace objects,
    or a ConfigMap `c` in another namespace and one in none); so does the render."""
    seen: dict[tuple[Any, ...], Obj] = {}
    for obj in objects:
        first = seen.setdefault(object_id(obj), obj)
        if first is not obj:
            origin, before = origins[id(obj)], origins[id(first)]
            loaded: Any = origin.source
            for step in origin.where:
                loaded = loaded[step]
            raise HydrationError(
                f"{_describe(loaded)}: `namespace: {namespace}` makes it the same object as "
                f"another {obj.get('kind')} (kustomize refuses it too): rename one of them",
                origin.source,
                origin.where,
                other=(before.source, before.where),
            )


def set_namespace(
    objects: Iterable[Obj], namespace: str, own: Own, origins: dict[int, Origin]
) -> None:
    """kustomize's namespace transformer (api/filters/namespace, defaults): metadata.namespace
    of everything not cluster-scoped (overwritten), the name of a v1 Namespace, an
    APIService's spec.service.namespace (created), a CRD's conversion webhook service
    namespace (if set), and the subjects named `default` of (Cluster)RoleBindings."""
    for obj in objects:
        origin = origins[id(obj)]
        if not origin.stored:
            origins[id(obj)] = Origin(origin.source, origin.where, origin.namespace, True)
        kind = obj.get("kind")
        if (obj.get("apiVersion"), kind) not in CLUSTER_SCOPED:
            meta = obj.get("metadata") or {}
            # Right after the name, where a reader looks for it.
            head = {"name": meta["name"]} if "name" in meta else {}
            obj["metadata"] = {
                **head,
                "namespace": namespace,
                **{k: v for k, v in meta.items() if k not in ("name", "namespace")},
            }
        elif kind == "Namespace" and obj.get("apiVersion") == "v1":
            own.child(obj, "metadata", create=True)["name"] = namespace
        if kind not in _NAMESPACE_FIELDS:
            continue
        if kind == "APIService" and _group(obj) == "apiregistration.k8s.io":
            _create_path(obj, ("spec", "service"), own, origin)["namespace"] = namespace
        elif kind == "CustomResourceDefinition" and _group(obj) == "apiextensions.k8s.io":
            where = ("spec", "conversion", "webhook", "clientConfig", "service")
            node: Any = obj
            for key in where:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and node.get("namespace") is not None:
                _set_field(own.path(obj, where), "namespace", namespace, obj, where, origin)
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            subjects = obj.get("subjects")
            if subjects is None:
                continue
            if not isinstance(subjects, list):
                raise HydrationError(
                    f"{_describe(obj)}: subjects is not a list", origin.source, origin.where
                )
            for i, subject in enumerate(subjects):
                if not isinstance(subject, dict):
                    raise HydrationError(
                        f"{_describe(obj)}: subjects[{i}] is not a mapping",
                        origin.source,
                        (*origin.where, "subjects", i),
                    )
                if subject.get("name") == "default":
                    writable = own.path(obj, ("subjects", i))
                    _set_field(writable, "namespace", namespace, obj, ("subjects", i), origin)


def _create_path(obj: Obj, keys: tuple[str, ...], own: Own, origin: Origin) -> Any:
    """The mapping at `keys`, created where missing or null (kustomize's create: true)."""
    node: Any = obj
    for depth, key in enumerate(keys):
        value = node.get(key)
        if value is not None and not isinstance(value, dict):
            where = keys[: depth + 1]
            raise HydrationError(
                f"{_describe(obj)}: {'.'.join(where)} is not a mapping",
                origin.source,
                (*origin.where, *where),
            )
        node = own.child(node, key, create=True)
    return node


def fix_back_references(objects: list[Obj], origins: dict[int, Origin], own: Own) -> None:
    """kustomize's last step (api/filters/nameref), for the references it can change
    without a name prefix or suffix: the ServiceAccount subjects of (Cluster)RoleBindings
    and the services of webhook configurations name their object by name and namespace.
    When exactly one resource matches (by its namespace as loaded, else as it is now) and
    a transformer moved it, the reference follows it to its namespace. Every mapping in
    `subjects` is looked up, whatever its kind, as kustomize does."""

    def effective(namespace: str, cluster: bool) -> str:
        if cluster:
            return "~X"
        return "default" if namespace in ("", "default") else namespace

    referrers = {
        "RoleBinding",
        "ClusterRoleBinding",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
    if not any(o.get("kind") in referrers for o in objects):
        return
    current = {id(o): _namespace_of(o) for o in objects}

    def here(o: Obj) -> str:
        return effective(current[id(o)], is_cluster_scoped(o))

    def loaded(o: Obj) -> str:
        return effective(origins[id(o)].namespace, is_cluster_scoped(o))

    # Indexes, so that many bindings cost no more than one scan of the objects.
    named: dict[tuple[Any, str], list[Obj]] = {}
    by_here: dict[str, set[str]] = {}  # namespace now -> namespaces as loaded
    by_raw: dict[str, set[str]] = {}  # metadata.namespace now -> namespaces as loaded
    for o in objects:
        kind = o.get("kind")
        if origins[id(o)].stored and kind in ("ServiceAccount", "Service") and _version(o) == "v1":
            name = _text((o.get("metadata") or {}).get("name"))
            named.setdefault((kind, name), []).append(o)
        if not is_cluster_scoped(o):
            by_here.setdefault(here(o), set()).add(loaded(o))
            by_raw.setdefault(current[id(o)], set()).add(loaded(o))
    everywhere = set().union(*by_here.values())

    for obj in objects:
        kind, group = obj.get("kind"), _group(obj)
        if kind in ("RoleBinding", "ClusterRoleBinding") and group == "rbac.authorization.k8s.io":
            target, field = "ServiceAccount", "subjects"
        elif (
            kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
            and group == "admissionregistration.k8s.io"
        ):
            target, field = "Service", "webhooks"
        else:
            continue
        origin = origins[id(obj)]
        items = obj.get(field)
        if not isinstance(items, list):
            continue
        cluster = is_cluster_scoped(obj)
        bound: set[str] = set()
        if kind == "RoleBinding" and not cluster:
            bound = {
                _text(s.get("namespace"))
                for s in items
                if isinstance(s, dict) and "namespace" in s and s.get("kind") == "ServiceAccount"
            }
        if cluster:
            reach_loaded = everywhere
        else:
            reach_loaded = set(by_here.get(here(obj), ()))
            for namespace in bound:
                reach_loaded |= by_raw.get(namespace, set())
        mine = here(obj)

        for i, item in enumerate(items):
            if target == "Service":
                path: tuple[Any, ...] = (field, i, "clientConfig", "service")
                node = (item.get("clientConfig") or {}) if isinstance(item, dict) else {}
                node = node.get("service") if isinstance(node, dict) else None
            else:
                path, node = (field, i), item
            if not isinstance(node, dict):
                continue  # a scalar name keeps its value; nothing else is looked at
            if "name" not in node:
                raise HydrationError(
                    f"{_describe(obj)}: {'.'.join(map(str, path))} has no name",
                    origin.source,
                    (*origin.where, *path),
                )
            name = _text(node["name"])
            candidates = [
                o
                for o in named.get((target, name), ())
                if cluster or is_cluster_scoped(o) or here(o) == mine or current[id(o)] in bound
            ]
            if "namespace" in node:
                # By the namespace as loaded if any object within reach was loaded
                # there, else by the namespace now (kustomize's filterMapCandidatesByNamespace).
                wanted = _text(node["namespace"])
                by = loaded if wanted in reach_loaded else here
                candidates = [o for o in candidates if by(o) == wanted]
            candidates = [
                o
                for o in candidates
                if cluster
                or is_cluster_scoped(o)
                or o.get("kind") == "ServiceAccount"
                or here(o) == mine
            ]
            if not candidates:
                continue
            if len({current[id(o)] for o in candidates}) > 1:
                raise HydrationError(
                    f"{_describe(obj)}: {'.'.join(map(str, path))} could name "
                    f"{len(candidates)} {target}s {name!r} (kustomize refuses it too)",
                    origin.source,
                    (*origin.where, *path),
                )
            namespace = current[id(candidates[0])]
            if namespace and node.get("namespace") != namespace:
                _set_field(own.path(obj, path), "namespace", namespace, obj, path, origin)


def add_metadata(
    objects: Iterable[Obj], field: str, pairs: dict[str, str], templates: bool, own: Own
) -> None:
    """`labels` / `commonAnnotations`: onto every object, and into templates if asked."""
    for obj in objects:
        targets = [own.child(obj, "metadata", create=True)]
        kind = obj.get("kind")
        if templates and kind in _TEMPLATE_PATHS:
            group, version = _TEMPLATE_SELECTORS[field].get(kind, (None, None))
            if (group is None or _group(obj) == group) and (
                version is None or _version(obj) == version
            ):
                for path in _TEMPLATE_PATHS[kind]:
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
        _set_volume_images(obj, changed, own)
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


def _set_volume_images(obj: Obj, changed: Any, own: Own) -> None:
    """Image volumes (`volumes[].image.reference`) at spec and spec.template.spec, of any
    kind: kustomize's images field specs."""
    for path in (("spec", "volumes"), ("spec", "template", "spec", "volumes")):
        node: Any = obj
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, list):
            continue
        for i, volume in enumerate(node):
            image = volume.get("image") if isinstance(volume, dict) else None
            if not isinstance(image, dict):
                continue
            new = changed({"image": image.get("reference")})
            if new is not None:
                own.path(obj, (*path, i, "image"))["reference"] = new


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
    objects: list[Obj],
    body: Any,
    target: dict[str, Any] | None,
    own: Own,
    origins: dict[int, Origin],
) -> list[Obj]:
    if isinstance(body, list):
        if target is None:
            raise HydrationError("a JSON 6902 patch without a target")
        for obj in objects:
            if _matches(obj, target):
                # kustomize stores the previous id of what a JSON patch targets.
                origins[id(obj)] = origins[id(obj)]._replace(stored=True)
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
    floats: bool = True,
) -> dict[str, list[Obj]]:
    """Environment -> the objects of `overlays/<env>`, every transformer applied.
    `shared` receives the ids of the containers they share with each other and with the
    output files (yamlout.sharing writes those once). `floats=False`: the caller knows
    no object holds a float (kaosgen writes none; the inputs had none)."""
    tree = Tree(files, vendored, floats)
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
