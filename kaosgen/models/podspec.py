"""The shape of a `podSpec` fragment, as far as kaosgen reads it.

`spec.podSpec` is a PodSpec fragment applied as a strategic merge patch. kaosgen merges its
lists by key and checks its security settings, so those parts must have the right types;
everything else passes through to the Deployment unchanged (extra fields are allowed, so
new Kubernetes fields keep working). Types are strict: YAML already types the values, and
a string where Kubernetes wants a bool would be written into the output as a string.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kaosgen.imageref import ImageRef
from kaosgen.models.common import (
    EnvVarName,
    LabelKey,
    LabelName,
    LabelValue,
    Port,
    PortName,
    SubdomainName,
)


class _Open(BaseModel):
    model_config = ConfigDict(
        extra="allow", alias_generator=to_camel, populate_by_name=True, strict=True
    )


class Capabilities(_Open):
    add: list[str] | None = None
    drop: list[str] | None = None


class SeccompProfile(_Open):
    type: str | None = None
    localhost_profile: str | None = None


class Sysctl(_Open):
    name: str
    value: str | None = None


class PodSecurityContext(_Open):
    run_as_non_root: bool | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    fs_group: int | None = None
    supplemental_groups: list[int] | None = None
    seccomp_profile: SeccompProfile | None = None
    se_linux_options: dict[str, str] | None = None
    app_armor_profile: SeccompProfile | None = None
    windows_options: dict[str, Any] | None = None
    sysctls: list[Sysctl] | None = None


class SecurityContext(_Open):
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    read_only_root_filesystem: bool | None = None
    run_as_non_root: bool | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    proc_mount: str | None = None
    capabilities: Capabilities | None = None
    seccomp_profile: SeccompProfile | None = None
    se_linux_options: dict[str, str] | None = None
    app_armor_profile: SeccompProfile | None = None
    windows_options: dict[str, Any] | None = None


class EnvVar(_Open):
    name: EnvVarName
    value: str | None = None
    value_from: dict[str, Any] | None = None


class ContainerPort(_Open):
    container_port: Port
    name: PortName | None = None
    protocol: str | None = None
    host_port: Port | None = None


class VolumeMount(_Open):
    mount_path: str
    name: str | None = None
    read_only: bool | None = None


class Resources(_Open):
    limits: dict[str, str | int | float] | None = None
    requests: dict[str, str | int | float] | None = None


class Container(_Open):
    name: LabelName
    image: ImageRef | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    ports: list[ContainerPort] | None = None
    volume_mounts: list[VolumeMount] | None = None
    resources: Resources | None = None
    security_context: SecurityContext | None = None


class Named(_Open):
    name: str


class PodSpecPatch(_Open):
    containers: list[Container] | None = None
    init_containers: list[Container] | None = None
    ephemeral_containers: list[Container] | None = None
    volumes: list[Named] | None = None
    image_pull_secrets: list[Named] | None = None
    security_context: PodSecurityContext | None = None
    host_network: bool | None = None
    host_pid: bool | None = Field(None, alias="hostPID")
    host_ipc: bool | None = Field(None, alias="hostIPC")
    service_account_name: SubdomainName | None = None
    automount_service_account_token: bool | None = None
    node_selector: dict[LabelKey, LabelValue] | None = None
    tolerations: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    topology_spread_constraints: list[dict[str, Any]] | None = None
    priority_class_name: SubdomainName | None = None
    termination_grace_period_seconds: int | None = None
