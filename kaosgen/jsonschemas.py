"""JSON Schemas generated from the models, committed under `schemas/`.

Editors use them through a `# yaml-language-server: $schema=` modeline; CI tools can
validate with any JSON Schema validator. A test fails when the committed files drift
from the models.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_BASE_URL = "https://raw.githubusercontent.com/kaosgen/kaosgen/main/schemas/"
FILES = {
    "agent.schema.json": "Agent",
    "modelapi.schema.json": "ModelAPI",
    "mcpserver.schema.json": "MCPServer",
    "kaosgen.schema.json": "Project",
}


def model_schema(kind: str) -> dict[str, Any]:
    from kaosgen.models import KINDS, Project

    model = Project if kind == "Project" else KINDS[kind]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_BASE_URL + next(name for name, k in FILES.items() if k == kind)
    return schema


def combined_schema() -> dict[str, Any]:
    """One schema for files that mix the three kinds: dispatch on `kind`."""
    branches = []
    for name, kind in FILES.items():
        if kind == "Project":
            continue
        branches.append(
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": name},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE_URL + "kaos.schema.json",
        "title": "KAOS resource (Agent, ModelAPI or MCPServer)",
        "type": "object",
        "allOf": branches,
    }


def schema_files() -> dict[str, str]:
    files = {
        name: json.dumps(model_schema(kind), indent=2, ensure_ascii=False) + "\n"
        for name, kind in FILES.items()
    }
    files["kaos.schema.json"] = json.dumps(combined_schema(), indent=2) + "\n"
    return files
