"""Pieces shared by the KAOS kinds: metadata, container overrides, env, routes, telemetry."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from kaosgen.imageref import ImageRef

#: Gateway API Duration, as KAOS validates `gatewayRoute.timeout`.
DURATION_PATTERN = r"^([0-9]+(h|m|s|ms)){1,4}$"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A Deployment's replica count (int32 in Kubernetes).
Replicas = Annotated[int, Field(ge=0, le=2**31 - 1)]
#: A TCP/UDP port number.
Port = Annotated[int, Field(ge=1, le=65535)]

#: What the API server accepts as an environment variable name: printable ASCII but `=`
#: (Kubernetes' relaxed rule, the default since 1.32; older clusters want a C identifier).
ENV_VAR_NAME_PATTERN = r"^[ -<>-~]+$"
_ENV_VAR_NAME = re.compile(ENV_VAR_NAME_PATTERN)


def _env_var_name(value: str) -> str:
    if not _ENV_VAR_NAME.match(value):
        raise PydanticCustomError(
            "env_var_name",
            "an environment variable name is printable ASCII without '=' (the API server "
            "refuses the Deployment otherwise); use letters, digits and '_'",
        )
    return value


#: An environment variable name, checked as the API server checks it.
EnvVarName = Annotated[
    str,
    AfterValidator(_env_var_name),
    Field(json_schema_extra={"pattern": ENV_VAR_NAME_PATTERN}),
]


_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN)


def label_key_problem(key: str) -> str | None:
    """Why the API server refuses `key` as a label or annotation key (None: it does not)."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return f"the prefix {prefix!r} is not a DNS subdomain"
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        return (
            "the name must be at most 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit"
        )
    return None


def label_value_ok(value: str) -> bool:
    """Whether the API server accepts `value` as a label value (empty included)."""
    return not value or (len(value) <= 63 and bool(_LABEL_NAME.fullmatch(value)))


def _label_key(value: str) -> str:
    if label_key_problem(value) is not None:
        raise PydanticCustomError(
            "label_key",
            "not a label key: an optional DNS-subdomain prefix and '/', then at most 63 "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
        )
    return value


def _label_value(value: str) -> str:
    if not label_value_ok(value):
        raise PydanticCustomError(
            "label_value",
            "not a label value: at most 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit",
        )
    return value


#: Label keys and values as the API server checks them (in selectors kaosgen renders).
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]


class KaosModel(BaseModel):
    """Strict by default: an unknown field is an error, so typos never pass silently, and
    types are not coerced (`replicas: "3"`, `expose: "false"`): the API server refuses a
    string for an integer or a boolean, so kaosgen does too (schema_check hands it
    integral floats as the integers kubectl sends)."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
        strict=True,
    )


class ObjectMeta(KaosModel):
    name: str = Field(description="Name of the resource, a DNS-1123 label.")
    namespace: str | None = Field(None, description="Namespace; references resolve within it.")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    # Fields `kubectl get -o yaml` adds; accepted and ignored so exported CRs load.
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    managed_fields: list[dict[str, Any]] | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None


class KeySelector(KaosModel):
    """A key of a Secret or ConfigMap (`secretKeyRef` / `configMapKeyRef`)."""

    # What the API server accepts: a Secret/ConfigMap name, a key of its data.
    name: Annotated[
        str, Field(pattern=r"^(" + DNS1123_SUBDOMAIN[1:-1] + r")?$", max_length=253)
    ] = ""
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)]
    optional: bool | None = None


class FileKeySelector(KaosModel):
    """A key of an env file in a volume (`fileKeyRef`, Kubernetes' EnvFiles feature)."""

    volume_name: str
    path: str
    key: str
    optional: bool | None = None


class EnvVarSource(KaosModel):
    secret_key_ref: KeySelector | None = None
    config_map_key_ref: KeySelector | None = None
    field_ref: dict[str, Any] | None = None
    resource_field_ref: dict[str, Any] | None = None
    file_key_ref: FileKeySelector | None = None


class EnvVar(KaosModel):
    name: EnvVarName
    value: str | None = None
    value_from: EnvVarSource | None = None


_PORT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


def _port_name(value: str) -> str:
    if len(value) > 15 or not _PORT_NAME.fullmatch(value) or "--" in value or value.isdigit():
        raise PydanticCustomError(
            "port_name",
            "not a port name: at most 15 lower-case letters, digits and single '-', with a "
            "letter, not starting or ending with '-' (e.g. http)",
        )
    return value


#: A container port's name (IANA service name), as the API server checks it.
PortName = Annotated[str, AfterValidator(_port_name)]
#: Object names the API server checks as DNS-1123 labels / subdomains.
LabelName = Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)]
SubdomainName = Annotated[str, Field(pattern=DNS1123_SUBDOMAIN, max_length=253)]


#: Container resources Kubernetes defines; any other name is domain-prefixed.
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage"}


def _resource_name(value: str) -> str:
    prefix, slash, name = value.rpartition("/")
    standard = value in _STANDARD_RESOURCES or value.startswith("hugepages-")
    if not (standard or slash) or (
        (prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)))
        or len(name) > 63
        or not _LABEL_NAME.fullmatch(name)
    ):
        raise PydanticCustomError(
            "resource_name",
            "not a container resource: cpu, memory, ephemeral-storage, hugepages-<size>, "
            "or a domain-prefixed name such as nvidia.com/gpu",
        )
    return value


#: A key of resources.limits / requests, as the API server checks it.
ResourceName = Annotated[str, AfterValidator(_resource_name)]


class ResourceRequirements(KaosModel):
    limits: dict[ResourceName, str | int | float] | None = None
    requests: dict[ResourceName, str | int | float] | None = None
    claims: list[dict[str, Any]] | None = None


class Container(KaosModel):
    """Overrides for the workload's main container. KAOS ignored some; kaosgen honours all."""

    image: ImageRef | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    resources: ResourceRequirements | None = None
    env: list[EnvVar] | None = None


class GatewayRoute(KaosModel):
    timeout: Annotated[str, StringConstraints(pattern=DURATION_PATTERN)] | None = Field(
        None, description='Gateway API duration; "0s" disables the route timeout.'
    )


class Telemetry(KaosModel):
    enabled: bool = False
    endpoint: str | None = None
