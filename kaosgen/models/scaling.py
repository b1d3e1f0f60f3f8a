"""kaosgen.yaml: how workloads scale and where Hosted ModelAPIs keep their models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kaosgen.models.common import DNS1123_LABEL, DNS1123_SUBDOMAIN, KaosModel

Quantity = Annotated[
    str,
    Field(
        pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$",
        description="A Kubernetes quantity, e.g. 50Gi.",
    ),
]
Percent = Annotated[int, Field(ge=1, le=1000)]


class Autoscaling(KaosModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) for the Deployment. The rendered Deployment
    and overlay then leave `replicas` out, so Flux and Argo CD never fight the HPA."""

    enabled: bool = Field(True, description="false: no HPA for this workload here.")
    min_replicas: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="Default 1. At least 2 also renders a PodDisruptionBudget (maxUnavailable 1).",
    )
    max_replicas: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Required (here or in the environment's autoscaling)."
    )
    cpu: Percent | None = Field(
        None,
        description="Target average CPU utilisation, percent of the CPU request. "
        "Default 80 when memory is not set either.",
    )
    memory: Percent | None = Field(
        None, description="Target average memory utilisation, percent of the memory request."
    )


class ModelStorage(KaosModel):
    """Where a Hosted (Ollama) ModelAPI keeps its models."""

    type: Literal["EmptyDir", "PersistentVolumeClaim", "Image"] = Field(
        "EmptyDir",
        description="EmptyDir: pulled at every pod start. PersistentVolumeClaim: a PVC "
        "`modelapi-<name>-models` (or existingClaim) that survives restarts. Image: the models "
        "are baked into container.image at `path` (air-gapped clusters).",
    )
    size: Quantity | None = Field(
        None,
        description="PVC size, or the emptyDir's sizeLimit (EmptyDir). Default: from the "
        "model tag's parameter count and quantisation, else 20Gi.",
    )
    storage_class_name: Annotated[str, Field(pattern=DNS1123_SUBDOMAIN, max_length=253)] | None = (
        Field(None, description="PVC storage class.")
    )
    access_modes: list[Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"]] = Field(
        default_factory=lambda: ["ReadWriteOnce"],
        description="PVC access modes; several replicas on several nodes need ReadWriteMany "
        "(or ReadOnlyMany with pull: Never).",
    )
    existing_claim: Annotated[str, Field(pattern=DNS1123_LABEL, max_length=253)] | None = Field(
        None,
        description="Use this PVC (created and pre-loaded by you) instead of rendering one.",
    )
    path: str = Field(
        "/models",
        pattern=r"^/[^\s]*$",
        description="Image: where the image keeps its models (OLLAMA_MODELS).",
    )
    pull: Literal["IfNotPresent", "Always", "Never"] | None = Field(
        None,
        description="When the init container pulls the model: IfNotPresent (default), Always "
        "(refresh the tag at every start), Never (fail fast when it is missing; the default "
        "for Image).",
    )
