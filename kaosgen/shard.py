"""Shard: an environment's hydrated objects as kustomizations of bounded size.

`hydrated/<env>/<shard>/` holds `kustomization.yaml` (one resource, no transformers) and
`resources.yaml` (the objects, namespace, labels, images, replicas and resources already
written in). Each shard is self-contained: a workload's objects (Deployment,
ServiceAccount, Service, ConfigMaps, NetworkPolicies, route and gateway policies, PDB,
HPA, PVC) always share one shard, so it builds on its own.

Names are deterministic: an environment with at most `shardSize` workloads is one shard,
`all`; a larger one is `platform` (everything that belongs to no workload: your own
resources, the default-deny policies, Redis), `models`, `tools` and `agents` (numbered
`-001`, `-002`, ... when a kind needs more than one shard). ModelAPIs and MCP servers are
in shards of their own, so GitOps can apply them before the agents that wait for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kaosgen.graph import Graph, Workload

Obj = dict[str, Any]

#: Workloads per shard unless kaosgen.yaml says otherwise (gitops.shardSize). Measured with
#: kubectl kustomize (bench/render.py, 1,000 agents): a shard of 50 agents builds in about
#: 0.6 s CPU, one of 100 in about 1.5 s (2.7 s on a busy machine), and the environment's
#: total is lower with 50 (kustomize's cost per object grows with the shard's size). 50
#: keeps every build well under 2 s on a busy node.
DEFAULT_SHARD_SIZE = 50
SINGLE_SHARD = "all"
ROOT = "hydrated"


@dataclass
class Shard:
    name: str
    #: "dependencies" (applied first) or "agents" (wait for the dependencies).
    role: str
    nodes: list[Workload] = field(default_factory=list)
    objects: list[Obj] = field(default_factory=list)

    def path(self, env_name: str) -> str:
        return f"{ROOT}/{env_name}/{self.name}"


def _owners(graph: Graph) -> dict[tuple[str, str], list[Workload]]:
    """(app label, name) -> workloads: how an object's labels name its workload."""
    owners: dict[tuple[str, str], list[Workload]] = {}
    for node in graph.workloads():
        owners.setdefault((node.app, node.name), []).append(node)
    return owners


def _owner(
    obj: Obj, owners: dict[tuple[str, str], list[Workload]], namespace: str | None
) -> Workload | None:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    app = labels.get("app")
    candidates = owners.get((app, labels.get(app))) if isinstance(app, str) else None
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    # The same name in several namespaces: the object's namespace tells them apart.
    where = meta.get("namespace") or ""
    for node in candidates:
        if (namespace or node.namespace or "") == where:
            return node
    return candidates[0]


def _chunks(nodes: list[Workload], size: int) -> list[list[Workload]]:
    return [nodes[i : i + size] for i in range(0, len(nodes), size)]


def _chunk_name(stem: str, index: int, count: int) -> str:
    width = max(3, len(str(count)))
    return stem if count == 1 else f"{stem}-{index + 1:0{width}d}"


def possible_names(graph: Graph, size: int) -> list[str]:
    """The names `plan` can give the environment's shards (before hydration tells whether
    there are platform objects): what the GitOps object names are made of."""
    if len(graph.workloads()) <= size:
        return [SINGLE_SHARD]
    names = ["platform"]
    for stem, nodes in (("models", graph.modelapis), ("tools", graph.mcpservers)):
        count = len(_chunks(list(nodes), size))
        names.extend(_chunk_name(stem, i, count) for i in range(count))
    count = len(_chunks(list(graph.agents), size))
    return names + [_chunk_name("agents", i, count) for i in range(count)]


def plan(graph: Graph, objects: list[Obj], size: int, namespace: str | None = None) -> list[Shard]:
    """One environment's shards, in the order GitOps applies them."""
    owners = _owners(graph)
    by_node: dict[int, list[Obj]] = {}
    platform: list[Obj] = []
    for obj in objects:
        node = _owner(obj, owners, namespace)
        if node is None:
            platform.append(obj)
        else:
            by_node.setdefault(id(node), []).append(obj)
    workloads = graph.workloads()
    if len(workloads) <= size:
        single = Shard(SINGLE_SHARD, "dependencies", list(workloads), list(platform))
        for node in workloads:
            single.objects.extend(by_node.get(id(node), []))
        return [single]
    shards = [Shard("platform", "dependencies", [], platform)] if platform else []
    for stem, role, nodes in (
        ("models", "dependencies", graph.modelapis),
        ("tools", "dependencies", graph.mcpservers),
        ("agents", "agents", graph.agents),
    ):
        chunks = _chunks(list(nodes), size)
        for i, chunk in enumerate(chunks):
            shard = Shard(_chunk_name(stem, i, len(chunks)), role, chunk)
            for node in chunk:
                shard.objects.extend(by_node.get(id(node), []))
            shards.append(shard)
    return shards


def files(env_name: str, shards: list[Shard]) -> dict[str, list[Obj]]:
    from kaosgen.layout import kustomization

    out: dict[str, list[Obj]] = {}
    for shard in shards:
        prefix = shard.path(env_name)
        out[f"{prefix}/kustomization.yaml"] = [kustomization(resources=["resources.yaml"])]
        out[f"{prefix}/resources.yaml"] = shard.objects
    return out
