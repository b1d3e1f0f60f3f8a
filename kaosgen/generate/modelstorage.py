"""Where a Hosted (Ollama) ModelAPI keeps its models, per environment.

The base Deployment keeps them in an emptyDir and pulls at every start. An environment
that asks for more gets, in its overlay, a strategic merge patch of the Deployment and,
for `PersistentVolumeClaim`, the claim itself:

- PersistentVolumeClaim: the `ollama-data` volume becomes the claim
  (`modelapi-<name>-models`, or `existingClaim`); the init container pulls only a missing
  model, so a restart does not download it again.
- Image: the models are baked into the image at `path` (OLLAMA_MODELS points there); the
  init container only checks the model is there (pull Never).
- EmptyDir (the default): bounded by `sizeLimit`, the model's size from its tag (or
  `size`); the container's ephemeral-storage limit grows to hold it.
- `pull` sets the init container's policy (OLLAMA_PULL) in any of them.
"""

from __future__ import annotations

from typing import Any

from kaosgen.generate import modelsize, pods
from kaosgen.generate.templating import render
from kaosgen.generate.workloads import OLLAMA_CONTAINER, OLLAMA_DATA_VOLUME, PULL_CONTAINER
from kaosgen.graph import ModelAPINode
from kaosgen.models.common import ResourceRequirements
from kaosgen.models.project import Project
from kaosgen.models.scaling import ModelStorage


def claim_name(node: ModelAPINode, storage: ModelStorage) -> str:
    return storage.existing_claim or f"{node.object_name}-models"


def claim_size(node: ModelAPINode, storage: ModelStorage) -> str | None:
    """The PVC size: as written, else from the model tag (None: the tag names no size)."""
    if storage.size:
        return storage.size
    size = modelsize.parse(node.pull_model)
    return f"{size.disk_gib}Gi" if size else None


def persistent_volume_claim(
    node: ModelAPINode, project: Project, storage: ModelStorage
) -> dict[str, Any] | None:
    """The claim kaosgen renders (None for EmptyDir, Image, or an existingClaim)."""
    if storage.type != "PersistentVolumeClaim" or storage.existing_claim:
        return None
    spec: dict[str, Any] = {
        "accessModes": list(storage.access_modes),
        "resources": {
            "requests": {"storage": claim_size(node, storage) or modelsize.DEFAULT_MODEL_DISK}
        },
    }
    if storage.storage_class_name:
        spec["storageClassName"] = storage.storage_class_name
    return render(
        "persistentvolumeclaim.json.j2",
        name=claim_name(node, storage),
        namespace=node.namespace,
        labels=pods.object_labels(node, project.labels),
        spec=spec,
    )


def emptydir_disk_limit(
    storage: ModelStorage, current: ResourceRequirements, explicit: bool
) -> str | None:
    """The ephemeral-storage limit an emptyDir `size` needs when `current` (the container's
    resources in the environment) is too low for it; None when it is not, or when the
    user chose the container's limit (`explicit`)."""
    if storage.type != "EmptyDir" or not storage.size or explicit:
        return None
    raised = modelsize.with_model_disk(current, storage.size)
    limit = (raised.limits or {}).get("ephemeral-storage")
    return None if limit == (current.limits or {}).get("ephemeral-storage") else str(limit)


def user_model_volume(node: ModelAPINode) -> dict[str, Any]:
    """The model volume as the ModelAPI's own podSpec writes it ({}: it does not)."""
    for volume in (node.pod_spec or {}).get("volumes") or []:
        if isinstance(volume, dict) and volume.get("name") == OLLAMA_DATA_VOLUME:
            return volume
    return {}


def user_model_volume_sources(node: ModelAPINode) -> list[str]:
    """The sources the ModelAPI's own podSpec gives the model volume (none: kaosgen's)."""
    volume = user_model_volume(node)
    return [k for k in pods.volume_sources(volume) if volume[k] is not None]


def deployment_patch(
    node: ModelAPINode, storage: ModelStorage, disk_limit: str | None = None
) -> dict[str, Any] | None:
    """A strategic merge patch of the Deployment (None when the base is already right).
    `disk_limit`: the model-api container's ephemeral-storage limit, where an emptyDir
    `size` needs a higher one than the base's."""
    pull = storage.pull or ("Never" if storage.type == "Image" else None)
    init_env: list[dict[str, str]] = []
    main: dict[str, Any] = {}
    pod: dict[str, Any] = {}
    if storage.type == "EmptyDir" and storage.size and not user_model_volume_sources(node):
        pod["volumes"] = [{"name": OLLAMA_DATA_VOLUME, "emptyDir": {"sizeLimit": storage.size}}]
    if disk_limit is not None:
        main["resources"] = {"limits": {"ephemeral-storage": disk_limit}}
    if storage.type == "PersistentVolumeClaim":
        # The claim replaces the volume's source in the base (an emptyDir, or the one the
        # ModelAPI's podSpec gives it): a volume has exactly one.
        replaced = {k: None for k in ["emptyDir", *user_model_volume_sources(node)]}
        replaced.pop("persistentVolumeClaim", None)
        pod["volumes"] = [
            {
                "name": OLLAMA_DATA_VOLUME,
                **dict(sorted(replaced.items())),
                "persistentVolumeClaim": {"claimName": claim_name(node, storage)},
            }
        ]
    elif storage.type == "Image":
        baked = [
            {"name": "OLLAMA_MODELS", "value": storage.path},
            # Never prune (write) the image's read-only model directory.
            {"name": "OLLAMA_NOPRUNE", "value": "true"},
        ]
        init_env.extend(baked)
        main["env"] = baked
    if pull is not None:
        init_env.append({"name": "OLLAMA_PULL", "value": pull})
    if init_env:
        pod["initContainers"] = [{"name": PULL_CONTAINER, "env": init_env}]
    if main:
        pod["containers"] = [{"name": OLLAMA_CONTAINER, **main}]
    if not pod:
        return None
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": node.object_name},
        "spec": {"template": {"spec": pod}},
    }
