"""The Namespace a Flux Kustomization applies into, created the way Argo CD does.

Flux does not create a Kustomization's `targetNamespace` (Argo CD does, with
`CreateNamespace=true`): on a fresh cluster every apply fails with namespace "not found".
So `clusters/<env>/flux.yaml` holds it, first (Flux applies Namespaces before the rest;
`kubectl apply -f` goes in file order), with Argo CD's semantics:

- `kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`: created when missing, never changed, so
  a namespace made beforehand keeps its labels, quotas and owner;
- `kustomize.toolkit.fluxcd.io/prune: disabled`: never deleted, not when the environment
  or project goes away either: another project may deliver into it, and deleting a
  namespace deletes everything in it.

A project that holds its own `v1` Namespace delivers it with the dependencies (kustomize
names it after the environment's namespace); flux.yaml then has none, so no object has
two owners.
"""

from __future__ import annotations

from typing import Any

from kaosgen.shard import Shard

FLUX_ANNOTATIONS = {
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
    "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent",
}


def delivers_namespace(shards: list[Shard]) -> bool:
    """Whether the environment's own objects hold a v1 Namespace (the project's)."""
    return any(
        obj.get("apiVersion") == "v1" and obj.get("kind") == "Namespace"
        for shard in shards
        for obj in shard.objects
    )


def flux_namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "annotations": dict(FLUX_ANNOTATIONS)},
    }
