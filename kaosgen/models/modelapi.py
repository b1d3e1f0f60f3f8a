"""The ModelAPI kind: a LiteLLM proxy (Proxy) or an Ollama server (Hosted)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from kaosgen.models.common import (
    Container,
    EnvVar,
    EnvVarSource,
    GatewayRoute,
    KaosModel,
    KeySelector,
    ObjectMeta,
    Telemetry,
)

#: Marked deprecated in the JSON Schema. (Not pydantic's `deprecated=True`: that warns at
#: run time whenever the resolve pass reads the old field, which it must.)
_DEPRECATED = {"deprecated": True}


class ApiKey(KaosModel):
    value: str | None = Field(
        None,
        description="Inline key: an error unless the project sets security.allowInlineApiKeys.",
    )
    value_from: EnvVarSource | None = None


class ConfigYaml(KaosModel):
    from_string: str | None = Field(None, description="A full LiteLLM config, used verbatim.")
    from_secret_key_ref: KeySelector | None = None


class ProxyConfig(KaosModel):
    models: Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="Exact model names, `*`, or `provider/*`."
    )
    model: str | None = Field(
        None, json_schema_extra=_DEPRECATED, description="Deprecated: use models."
    )
    provider: str | None = None
    api_base: str | None = None
    api_key: ApiKey | None = None
    config_yaml: ConfigYaml | None = None
    env: list[EnvVar] | None = Field(
        None, json_schema_extra=_DEPRECATED, description="Deprecated: use spec.container.env."
    )


class HostedConfig(KaosModel):
    model: str = Field(description="Ollama model to pull and serve, e.g. smollm2:135m.")
    env: list[EnvVar] | None = Field(
        None, json_schema_extra=_DEPRECATED, description="Deprecated: use spec.container.env."
    )


class ModelAPISpec(KaosModel):
    mode: Literal["Proxy", "Hosted"]
    proxy_config: ProxyConfig | None = None
    hosted_config: HostedConfig | None = None
    container: Container | None = None
    gateway_route: GatewayRoute | None = None
    telemetry: Telemetry | None = None
    pod_spec: dict[str, Any] | None = None


class ModelAPI(KaosModel):
    api_version: Literal["kaos.tools/v1alpha1"]
    kind: Literal["ModelAPI"]
    metadata: ObjectMeta
    spec: ModelAPISpec
    status: dict[str, Any] | None = None
