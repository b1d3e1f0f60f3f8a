"""kaosgen.yaml `gitops:`: Flux and Argo CD objects that deliver the rendered overlays.

The block can appear at the top of kaosgen.yaml (defaults for every environment) and in
any environment (overrides, merged field by field over the defaults). Each environment
that ends up with `flux` or `argocd` enabled gets its objects in `clusters/<env>/`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from kaosgen.models.common import DNS1123_LABEL, KaosModel

#: Flux / Kubernetes durations (`1m`, `1h30m`, `500ms`).
FluxDuration = Annotated[str, Field(pattern=r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")]
ObjectName = Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)]


class Repository(KaosModel):
    """The repository that holds the rendered output (what Flux and Argo CD pull)."""

    url: str | None = Field(
        None,
        min_length=1,
        description="Git URL (https:// or ssh://; Argo CD alone also takes git@host:path) of "
        "the repository. Flux and Argo CD default to it.",
    )
    revision: str = Field(
        "main",
        min_length=1,
        description="Branch (or tag, for Argo CD any revision) to deploy from.",
    )
    path: str | None = Field(
        None,
        description="Where the output directory is inside the repository. Default: "
        "`output` as written in kaosgen.yaml, i.e. kaosgen.yaml sits at the repository root.",
    )
    project_path: str | None = Field(
        None,
        description="Where kaosgen.yaml is inside the repository (for the Argo CD plugin). "
        "Default: `path` without its trailing `output` part, else the repository root.",
    )


class FluxSourceRef(KaosModel):
    """Which revision Flux fetches: one of branch, tag, semver, commit (Git) or digest (OCI)."""

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    commit: str | None = Field(None, description="Git commit SHA (GitRepository only).")
    name: str | None = Field(None, description="Git reference name, e.g. refs/pull/1/head.")
    digest: str | None = Field(None, description="OCI artifact digest (OCIRepository only).")


class FluxSource(KaosModel):
    """The Flux source object: a GitRepository, or an OCIRepository (`flux push artifact`)."""

    kind: Literal["GitRepository", "OCIRepository"] = "GitRepository"
    name: ObjectName | None = Field(None, description="Default: `<gitops.name>-<environment>`.")
    url: str | None = Field(
        None,
        description="Default: `gitops.repository.url` (GitRepository). OCIRepository needs an "
        "`oci://` URL of the artifact pushed from the output directory.",
    )
    ref: FluxSourceRef | None = Field(
        None,
        description="Default: the branch `gitops.repository.revision` (Git), the tag `latest` (OCI).",
    )
    interval: FluxDuration = Field("5m", description="How often Flux checks the source.")
    secret_ref: str | None = Field(
        None, description="Secret with the credentials to fetch the source."
    )
    provider: Literal["generic", "aws", "azure", "gcp"] | None = Field(
        None, description="OCI registry auth provider (OCIRepository only)."
    )
    path: str | None = Field(
        None,
        description="Where the output directory is inside the fetched source. Default: "
        "`gitops.repository.path` (Git), the artifact root `.` (OCI).",
    )


class FluxDecryption(KaosModel):
    """Decrypt SOPS-encrypted Secrets while applying (`spec.decryption`)."""

    provider: Literal["sops"] = "sops"
    secret_ref: str | None = Field(None, description="Secret with the age/PGP private keys.")


class FluxHealthCheck(KaosModel):
    api_version: str = "apps/v1"
    kind: str = "Deployment"
    name: str
    namespace: str | None = None


class Flux(KaosModel):
    """Flux `kustomize.toolkit.fluxcd.io/v1` Kustomizations and their source."""

    enabled: bool = Field(
        True, description="Render the Flux objects (an environment may set false)."
    )
    namespace: ObjectName = Field("flux-system", description="Namespace of the Flux objects.")
    source: FluxSource = FluxSource()
    interval: FluxDuration = Field(
        "10m", description="Reconciliation interval of the Kustomizations."
    )
    retry_interval: FluxDuration | None = None
    timeout: FluxDuration = Field("5m", description="Timeout of apply and health checks.")
    prune: bool = Field(True, description="Delete objects that were removed from the overlay.")
    wait: bool | None = Field(
        None,
        description="Wait for every applied object to become ready. Default: true unless "
        "`healthChecks` is set (Flux ignores healthChecks when wait is true).",
    )
    health_checks: Literal["workloads"] | list[FluxHealthCheck] | None = Field(
        None,
        description="`workloads`: a health check on each rendered Deployment of the "
        "Kustomization; or an explicit list of objects.",
    )
    target_namespace: ObjectName | None = Field(
        None, description="Default: the environment's namespace (when it has one)."
    )
    service_account_name: str | None = Field(
        None, description="Impersonate this service account when applying (multi-tenancy)."
    )
    decryption: FluxDecryption | None = None
    ordering: Literal["dependsOn", "none"] = Field(
        "dependsOn",
        description="dependsOn: agents are applied once their dependencies (ModelAPIs, MCP "
        "servers, everything else) are ready: a one-shard environment gets two Kustomizations, "
        "`<name>-<env>-dependencies` and `<name>-<env>-agents` (dependsOn the first); a sharded "
        "one a Kustomization per shard, the agents' shards dependsOn the others. none: no "
        "ordering (one Kustomization per shard).",
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Other Flux Kustomizations (same namespace) to wait for first, e.g. the one "
        "that installs the Gateway API CRDs.",
    )

    @model_validator(mode="after")
    def _wait_or_health_checks(self) -> Flux:
        if self.wait and self.health_checks:
            raise ValueError(
                "set either wait: true or healthChecks (Flux ignores healthChecks when waiting)"
            )
        return self


class ArgoDestination(KaosModel):
    server: str | None = Field(
        None,
        description="API server URL. Default: https://kubernetes.default.svc (unless `name` is set).",
    )
    name: str | None = Field(None, description="Cluster name as registered in Argo CD.")
    namespace: str | None = Field(None, description="Default: the environment's namespace.")

    @model_validator(mode="after")
    def _one_of(self) -> ArgoDestination:
        if self.server and self.name:
            raise ValueError("set either destination.server or destination.name, not both")
        return self


class ArgoCD(KaosModel):
    """Argo CD `Application` per environment, or one `ApplicationSet` over all of them."""

    enabled: bool = Field(
        True, description="Render the Argo CD objects (an environment may set false)."
    )
    namespace: ObjectName = Field("argocd", description="Namespace Argo CD runs in.")
    project: str = Field("default", description="Argo CD AppProject.")
    application_set: bool = Field(
        False,
        description="One ApplicationSet (list generator, one element per environment) in "
        "`clusters/argocd-applicationset.yaml` instead of an Application per environment. "
        "A top-level setting.",
    )
    destination: ArgoDestination = ArgoDestination()
    repo_url: str | None = Field(
        None, alias="repoURL", description="Default: gitops.repository.url."
    )
    target_revision: str | None = Field(None, description="Default: gitops.repository.revision.")
    plugin: bool = Field(
        False,
        description="Let Argo CD run kaosgen itself through the `kaosgen` Config Management "
        "Plugin (the source is the project directory, not the rendered overlay).",
    )
    prune: bool = True
    self_heal: bool = True
    sync_options: list[str] = Field(
        default_factory=list,
        description="Added to CreateNamespace=true and ServerSideApply=true.",
    )
    cascade_delete: bool = Field(
        True,
        description="Add the resources finalizer: deleting the Application deletes its objects.",
    )


class GitOps(KaosModel):
    """Flux and/or Argo CD objects for delivering the overlays (rendered to `clusters/<env>/`)."""

    name: ObjectName = Field("kaos", description="Prefix of the Flux and Argo CD object names.")
    repository: Repository = Repository()
    flux: Flux | None = None
    argocd: ArgoCD | None = None
    shard_size: int = Field(
        50,
        ge=1,
        le=100000,
        description="Most workloads in one kustomization Flux or Argo CD builds "
        "(`hydrated/<env>/<shard>/`). An environment with no more is one shard; a larger one "
        "is split so every build stays fast (about 0.6 s CPU at 50 agents).",
    )
