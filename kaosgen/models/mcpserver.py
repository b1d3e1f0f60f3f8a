"""The MCPServer kind: a tool server the agents reach over MCP streamable HTTP."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kaosgen.models.common import (
    Container,
    EnvVar,
    GatewayRoute,
    KaosModel,
    KeySelector,
    ObjectMeta,
    SubdomainName,
    Telemetry,
)

#: Marked deprecated in the JSON Schema. (Not pydantic's `deprecated=True`: that warns at
#: run time whenever the resolve pass reads the old field, which it must.)
_DEPRECATED = {"deprecated": True}


class ToolsSource(KaosModel):
    """OLD era: where the Python tool source comes from."""

    from_package: str | None = None
    from_string: str | None = None
    from_secret_key_ref: KeySelector | None = None


class LegacyMCPConfig(KaosModel):
    """OLD era `spec.config` (with `spec.type`)."""

    mcp: str | None = Field(None, description="Oldest form: a package name.")
    tools: ToolsSource | None = None
    env: list[EnvVar] | None = None
    telemetry: Telemetry | None = None


class MCPServerSpec(KaosModel):
    runtime: str | None = Field(
        None,
        description="python-string, python-package, kubernetes, slack, custom (custom needs "
        "container.image), or a runtime declared in kaosgen.yaml.",
    )
    params: str | None = Field(
        None, description="Handed to the runtime (python-string: the source)."
    )
    service_account_name: SubdomainName | None = Field(
        None, description="Run as this ServiceAccount (a DNS-1123 subdomain)."
    )
    telemetry: Telemetry | None = None
    gateway_route: GatewayRoute | None = None
    container: Container | None = None
    pod_spec: dict[str, Any] | None = None
    type: Literal["python-runtime", "node-runtime"] | None = Field(
        None, json_schema_extra=_DEPRECATED, description="Deprecated: use runtime."
    )
    config: LegacyMCPConfig | None = Field(
        None,
        json_schema_extra=_DEPRECATED,
        description="Deprecated: use runtime + params and container.env.",
    )


class MCPServer(KaosModel):
    api_version: Literal["kaos.tools/v1alpha1"]
    kind: Literal["MCPServer"]
    metadata: ObjectMeta
    spec: MCPServerSpec
    status: dict[str, Any] | None = None
