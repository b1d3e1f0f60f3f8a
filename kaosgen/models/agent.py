"""The Agent kind: an LLM agent with a model, MCP tools and peers it may delegate to."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from kaosgen.models.common import (
    Container,
    EnvVar,
    GatewayRoute,
    KaosModel,
    ObjectMeta,
    Telemetry,
)

#: Marked deprecated in the JSON Schema. (Not pydantic's `deprecated=True`: that warns at
#: run time whenever the resolve pass reads the old field, which it must.)
_DEPRECATED = {"deprecated": True}


class MemoryConfig(KaosModel):
    enabled: bool = True
    type: Literal["local", "redis", "null"] = Field(
        "local", description="local (in process), redis (MEMORY_REDIS_URL), or null (disabled)."
    )
    context_limit: Annotated[int, Field(ge=1, le=100)] = 6
    max_sessions: Annotated[int, Field(ge=1, le=100000)] = 1000
    max_session_events: Annotated[int, Field(ge=1, le=10000)] = 500


class AgentConfig(KaosModel):
    description: str | None = None
    instructions: str | None = None
    reasoning_loop_max_steps: Annotated[int, Field(ge=1, le=20)] = 5
    memory: MemoryConfig | None = None
    telemetry: Telemetry | None = None
    tool_call_mode: Literal["auto", "native", "string"] | None = None
    env: list[EnvVar] | None = Field(
        None, json_schema_extra=_DEPRECATED, description="Deprecated: use spec.container.env."
    )


class AgentNetwork(KaosModel):
    expose: bool = True
    access: list[str] = Field(default_factory=list)


class AgentSpec(KaosModel):
    model_api: str = Field(alias="modelAPI", description="A ModelAPI in the same namespace.")
    model: str | None = Field(
        None,
        description="Model to use; must be supported by the ModelAPI. Older documents omit it "
        "(MODEL_NAME from env, else the Hosted ModelAPI's model).",
    )
    mcp_servers: list[str] = Field(default_factory=list, alias="mcpServers")
    wait_for_dependencies: bool = True
    config: AgentConfig | None = None
    container: Container | None = None
    agent_network: AgentNetwork | None = None
    gateway_route: GatewayRoute | None = None
    pod_spec: dict[str, Any] | None = Field(
        None, description="PodSpec fragment, applied as a strategic merge patch."
    )


class Agent(KaosModel):
    api_version: Literal["kaos.tools/v1alpha1"]
    kind: Literal["Agent"]
    metadata: ObjectMeta
    spec: AgentSpec
    status: dict[str, Any] | None = None
