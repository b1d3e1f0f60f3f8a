"""`kaosgen explain Agent.spec.config.memory`: documentation of a field, like `kubectl explain`.

Read from the same JSON Schemas the models produce (so from the pydantic models): type,
default, constraints, description and, for objects, the list of their fields.
"""

from __future__ import annotations

from typing import Any

from kaosgen.jsonschemas import model_schema

#: Descriptions from the KAOS contract for fields whose models carry none.
CONTRACT_DOCS = {
    "Agent": "An LLM agent: a model behind a ModelAPI, MCP servers for tools, peer agents it may delegate to. Rendered as Deployment agent-<name>, Service, ServiceAccount and NetworkPolicy.",
    "Agent.spec": "The agent's ModelAPI and model, its MCP servers, behaviour (config), peers (agentNetwork), container and pod overrides.",
    "Agent.spec.gatewayRoute": "KAOS's route settings: timeout of the agent's HTTPRoute. Whether it is routed, and with what authentication, is set in kaosgen.yaml (gateway, workloads.agent/<name>.route).",
    "ModelAPI.spec.gatewayRoute": "KAOS's route settings: timeout of the HTTPRoute. ModelAPIs are routed only when kaosgen.yaml asks (gateway.routes.modelapi, workloads.modelapi/<name>.route).",
    "MCPServer.spec.gatewayRoute": "KAOS's route settings: timeout of the HTTPRoute. MCP servers are routed only when kaosgen.yaml asks (gateway.routes.mcp, workloads.mcpserver/<name>.route).",
    "Agent.spec.mcpServers": "MCPServer names in the same namespace whose tools the agent may call (env MCP_SERVERS, MCP_SERVER_<name>_URL).",
    "Agent.spec.waitForDependencies": "Readiness waits for the ModelAPI and MCP servers (env WAIT_FOR_DEPENDENCIES); Argo CD sync wave 1 after them.",
    "Agent.spec.config": "Agent behaviour: description, instructions, reasoning loop, memory, telemetry.",
    "Agent.spec.config.description": "AGENT_DESCRIPTION; shown in the A2A agent card.",
    "Agent.spec.config.instructions": "AGENT_INSTRUCTIONS: the system prompt (any text, multi-line).",
    "Agent.spec.config.reasoningLoopMaxSteps": "AGENTIC_LOOP_MAX_STEPS: the most model/tool rounds per request.",
    "Agent.spec.config.memory": "Session memory: the conversation kept per session (MEMORY_* env vars). Set only what you change: KAOS sets MEMORY_* only when this block is written.",
    "Agent.spec.config.memory.enabled": "false gives a no-op memory (MEMORY_ENABLED).",
    "Agent.spec.config.memory.contextLimit": "MEMORY_CONTEXT_LIMIT: how many recent messages go to the model (and to a delegated peer).",
    "Agent.spec.config.memory.maxSessions": "MEMORY_MAX_SESSIONS: sessions kept before the least recently used is dropped.",
    "Agent.spec.config.memory.maxSessionEvents": "MEMORY_MAX_SESSION_EVENTS: events kept per session.",
    "Agent.spec.config.toolCallMode": "TOOL_CALL_MODE: native (OpenAI tools), string (a JSON block in the text, for small models) or auto.",
    "Agent.spec.agentNetwork": "Who can reach the agent and whom it may delegate to.",
    "Agent.spec.agentNetwork.expose": "Create the Service (and an HTTPRoute when the gateway is on).",
    "Agent.spec.agentNetwork.access": "Peer Agent names this agent may delegate to (one delegate_to_<peer> tool each; NetworkPolicy egress).",
    "Agent.spec.container": "Overrides for the agent container (image, command, args, resources, env).",
    "ModelAPI": "An OpenAI-compatible model endpoint: LiteLLM (mode Proxy) or Ollama (mode Hosted). Rendered as Deployment modelapi-<name> and Service.",
    "ModelAPI.spec.mode": "Proxy: LiteLLM in front of a provider; Hosted: Ollama serving hostedConfig.model in the cluster.",
    "ModelAPI.spec.proxyConfig": "LiteLLM settings for mode Proxy.",
    "ModelAPI.spec.hostedConfig": "Ollama settings for mode Hosted.",
    "MCPServer": "A tool server speaking MCP over streamable HTTP at /mcp on port 8000. Rendered as Deployment mcpserver-<name> and Service.",
    "MCPServer.spec.runtime": "python-string (params is Python source defining tools), kubernetes, slack, custom (container.image), or a runtime named in kaosgen.yaml.",
    "MCPServer.spec.params": "Handed to the runtime: for python-string, Python source defining the tool functions (MCP_TOOLS_STRING).",
    "Project": "kaosgen.yaml: environments, images, gateway, security switches, output layout and GitOps delivery.",
}

KIND_NAMES = {
    "agent": "Agent",
    "modelapi": "ModelAPI",
    "mcpserver": "MCPServer",
    "project": "Project",
    "kaosgen.yaml": "Project",
}


class ExplainError(ValueError):
    pass


class _Resolver:
    def __init__(self, root: dict[str, Any]) -> None:
        self.defs = root.get("$defs", {})

    def deref(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            target = self.defs.get(ref.rsplit("/", 1)[-1], {})
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra}
        return schema

    def branches(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The non-null alternatives of a schema (`X | None` is anyOf [X, null])."""
        schema = self.deref(schema)
        options = schema.get("anyOf") or schema.get("oneOf")
        if not options:
            return [schema]
        out = []
        for option in options:
            option = self.deref(option)
            if option.get("type") != "null":
                merged = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                out.append({**option, **merged} if merged else option)
        return out or [schema]

    def type_name(self, schema: dict[str, Any]) -> str:
        names = []
        for option in self.branches(schema):
            names.append(self._one_type(option))
        return " | ".join(dict.fromkeys(names))

    def _one_type(self, schema: dict[str, Any]) -> str:
        if "const" in schema:
            return repr(schema["const"]).replace("'", '"')
        if "enum" in schema:
            return " | ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in schema["enum"])
        kind = schema.get("type")
        if kind == "array":
            return f"[]{self.type_name(schema.get('items', {}))}"
        if kind == "object" or "properties" in schema:
            if "properties" in schema:
                return str(schema.get("title", "Object"))
            extra = _map_values(schema)
            if extra is not None:
                return f"map[string]{self.type_name(extra)}"
            return "object"
        if isinstance(kind, list):
            return " | ".join(kind)
        return str(kind or "any")

    def object_of(self, schema: dict[str, Any]) -> dict[str, Any] | None:
        """The object schema to descend into: through optional, arrays and maps."""
        for option in self.branches(schema):
            if "properties" in option:
                return option
            if option.get("type") == "array":
                inner = self.object_of(option.get("items", {}))
                if inner is not None:
                    return inner
        return None

    def map_value(self, schema: dict[str, Any]) -> dict[str, Any] | None:
        for option in self.branches(schema):
            extra = _map_values(option)
            if extra is not None and "properties" not in option:
                return extra
        return None


def _map_values(schema: dict[str, Any]) -> dict[str, Any] | None:
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    patterns = schema.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1:
        return next(iter(patterns.values()))
    return None


def _constraints(schema: dict[str, Any], resolver: _Resolver) -> list[str]:
    out = []
    for option in resolver.branches(schema):
        for key, label in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minItems", "min items"),
            ("maxItems", "max items"),
        ):
            if key in option:
                out.append(f"{label} {option[key]}")
        if "pattern" in option:
            out.append(f"pattern {option['pattern']}")
        if option.get("deprecated"):
            out.append("deprecated")
    if schema.get("deprecated") and "deprecated" not in out:
        out.append("deprecated")
    return out


def _default(schema: dict[str, Any]) -> str | None:
    if "default" not in schema or schema["default"] is None:
        return None
    if isinstance(schema["default"], dict) and schema["default"]:
        return None  # an object's defaults are listed with its own fields
    import json

    return json.dumps(schema["default"], ensure_ascii=False)


def explain(path: str) -> str:
    parts = [p for p in path.split(".") if p]
    if not parts:
        raise ExplainError("name a kind: Agent, ModelAPI, MCPServer or Project")
    kind = KIND_NAMES.get(parts[0].lower())
    if kind is None:
        raise ExplainError(
            f"unknown kind {parts[0]!r}; use Agent, ModelAPI, MCPServer or Project (kaosgen.yaml)"
        )
    root = model_schema(kind)
    resolver = _Resolver(root)
    schema: dict[str, Any] = root
    field_name = kind
    required = False
    walked = [kind]
    for part in parts[1:]:
        obj = resolver.object_of(schema)
        if obj is not None:
            props = obj.get("properties", {})
            match = props.get(part) or next(
                (v for k, v in props.items() if k.lower() == part.lower()), None
            )
            if match is not None:
                real = (
                    part if part in props else next(k for k in props if k.lower() == part.lower())
                )
                required = real in obj.get("required", [])
                schema, field_name = match, real
                walked.append(real)
                continue
        value = resolver.map_value(schema)
        if value is not None:  # a map key (an environment name, a workload ref, ...)
            schema, field_name, required = value, part, False
            walked.append(part)
            continue
        known = sorted((obj or {}).get("properties", {}))
        hint = f"; fields: {', '.join(known)}" if known else ""
        raise ExplainError(f"field {part!r} does not exist in {'.'.join(walked)}{hint}")
    return _format(kind, walked, field_name, schema, required, resolver)


def _field_doc(
    walked: list[str], name: str, prop: dict[str, Any], resolver: _Resolver
) -> str | None:
    return (
        prop.get("description")
        or next(
            (
                b.get("description")
                for b in resolver.branches(prop)
                if b.get("description") and "properties" not in b
            ),
            None,
        )
        or CONTRACT_DOCS.get(".".join([*walked, name]))
    )


def _wrap(text: str, indent: str, width: int = 88) -> list[str]:
    import textwrap

    lines: list[str] = []
    for para in text.strip().split("\n"):
        lines.extend(
            textwrap.wrap(para, width=width, initial_indent=indent, subsequent_indent=indent)
            or [""]
        )
    return lines


def _format(
    kind: str,
    walked: list[str],
    field_name: str,
    schema: dict[str, Any],
    required: bool,
    resolver: _Resolver,
) -> str:
    from kaosgen.models import API_VERSION

    version = "kaosgen.dev/v1alpha1" if kind == "Project" else API_VERSION
    out = [
        f"KIND:     {kind}{' (kaosgen.yaml)' if kind == 'Project' else ''}",
        f"VERSION:  {version}",
        "",
    ]
    if len(walked) > 1:
        out.append(
            f"FIELD:    {'.'.join(walked[1:])} <{resolver.type_name(schema)}>{'  (required)' if required else ''}"
        )
        default = _default(schema)
        if default is not None:
            out.append(f"DEFAULT:  {default}")
        constraints = _constraints(schema, resolver)
        if constraints:
            out.append(f"CONSTRAINTS: {'; '.join(constraints)}")
        out.append("")
    description = (
        schema.get("description")
        or next(
            (b.get("description") for b in resolver.branches(schema) if b.get("description")), None
        )
        or CONTRACT_DOCS.get(".".join(walked))
    )
    out.append("DESCRIPTION:")
    out.extend(_wrap(description or "(no description)", "    "))
    obj = resolver.object_of(schema)
    value = resolver.map_value(schema) if obj is None else None
    if value is not None:
        obj = resolver.object_of(value)
        if obj is not None:
            out.append("")
            out.append(f"    A map: each key holds a {obj.get('title', 'Object')}.")
    if obj is not None:
        out.append("")
        out.append("FIELDS:")
        required_fields = set(obj.get("required", []))
        for name, prop in obj.get("properties", {}).items():
            line = f"  {name}\t<{resolver.type_name(prop)}>"
            if name in required_fields:
                line += " -required-"
            default = _default(prop)
            if default is not None:
                line += f"  (default {default})"
            out.append(line)
            desc = _field_doc(walked, name, prop, resolver)
            if desc:
                out.extend(_wrap(desc, "    "))
            constraints = _constraints(prop, resolver)
            if constraints:
                out.append(f"    ({'; '.join(constraints)})")
            out.append("")
    return "\n".join(out).rstrip() + "\n"
