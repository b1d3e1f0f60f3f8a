"""`kaosgen explain` documents every kaosgen.yaml field this project's production features
add: routes, authentication, rate limits, callers, autoscaling, model storage, Redis."""

from __future__ import annotations

from typing import Any

import pytest
from support.devtools import REPO, kaosgen

from kaosgen.jsonschemas import model_schema

#: kaosgen.yaml blocks whose every field must carry documentation.
DOCUMENTED = [
    ("gateway",),
    ("environments", "*", "gateway"),
    ("security",),
    ("gateway", "routes"),
    ("gateway", "auth"),
    ("gateway", "rateLimit"),
    ("environments", "*", "gateway", "routes"),
    ("environments", "*", "autoscaling"),
    ("workloads", "*", "route"),
    ("workloads", "*", "autoscaling"),
    ("workloads", "*", "callers"),
    ("workloads", "*", "modelStorage"),
    ("components", "redis"),
]


class _Walker:
    def __init__(self) -> None:
        self.root = model_schema("Project")
        self.defs = self.root["$defs"]

    def deref(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The alternatives of a schema, references resolved, null dropped."""
        if "$ref" in schema:
            return self.deref(self.defs[schema["$ref"].rsplit("/", 1)[-1]])
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            return [s for o in options for s in self.deref(o) if s.get("type") != "null"]
        if schema.get("type") == "array" and "items" in schema:
            return self.deref(schema["items"])
        return [schema]

    def at(self, path: tuple[str, ...]) -> dict[str, Any]:
        node: dict[str, Any] = self.root
        for part in path:
            (node,) = [s for s in self.deref(node) if s.get("type") == "object"]
            if part != "*":
                node = node["properties"][part]
            elif "additionalProperties" in node:
                node = node["additionalProperties"]
            else:
                (node,) = node["patternProperties"].values()
        return node

    def undocumented(self, schema: dict[str, Any], where: str) -> list[str]:
        missing = []
        for option in self.deref(schema):
            for name, field in (option.get("properties") or {}).items():
                if not field.get("description"):
                    missing.append(f"{where}.{name}")
                missing += self.undocumented(field, f"{where}.{name}")
        return missing


@pytest.mark.parametrize("path", DOCUMENTED, ids=lambda p: ".".join(p))
def test_every_field_is_documented(path: tuple[str, ...]) -> None:
    walker = _Walker()
    schema = walker.at(path)
    assert schema.get("description"), path
    assert walker.undocumented(schema, ".".join(path)) == []


def test_explain_shows_the_new_blocks() -> None:
    out = kaosgen("explain", "Project.gateway.auth.jwt.providers", cwd=REPO, check=True).stdout
    assert "remoteJWKS\t<RemoteJwks> -required-" in out
    out = kaosgen(
        "explain", "Project.environments.prod.workloads.agent/a.autoscaling", cwd=REPO, check=True
    ).stdout
    for field in ("enabled", "minReplicas", "maxReplicas", "cpu", "memory"):
        assert f"\n  {field}\t" in out, field
    out = kaosgen("explain", "Project.workloads.agent/a.route.paths", cwd=REPO, check=True).stdout
    assert '"memory" | "metrics" | "health"' in out and "/memory/" in out


@pytest.mark.parametrize(
    "field", ["Agent.spec", "Agent.spec.gatewayRoute", "MCPServer.spec.gatewayRoute"]
)
def test_the_fields_a_newcomer_starts_from_are_described(field: str) -> None:
    out = kaosgen("explain", field, cwd=REPO, check=True).stdout
    description = out.split("DESCRIPTION:\n", 1)[1].split("\n\n", 1)[0]
    assert "(no description)" not in description, out
