"""A tool's input schema, as a model API takes it, or why it cannot be offered.

Every request of a native-mode agent carries all its tools, and a model API refuses the
whole request for one tool whose parameters are no JSON Schema of an object (OpenAI:
400 "Invalid schema for function"). The MCP SDK passes on whatever a server lists, so one
bad tool made every request fail, or in auto mode switched the agent to string mode for
good. Such a tool is not offered (`mcp_clients` says so once); the others are.
"""

from __future__ import annotations

from typing import Any


def model_schema(schema: Any) -> tuple[dict[str, Any] | None, str]:
    """(the schema to offer, "") or (None, why not): an object schema, as JSON Schema
    (the draft its `$schema` names, else 2020-12) has it."""
    if schema is None:
        schema = {}
    if not isinstance(schema, dict):
        return None, f"its input schema is a {type(schema).__name__}, not an object"
    offered = dict(schema)
    offered.setdefault("type", "object")
    offered.setdefault("properties", {})
    if not isinstance(offered.get("$schema", ""), str):
        return None, "its input schema's $schema is not a string"
    if offered["type"] != "object":
        return None, f"its input schema is of type {offered['type']!r}, not 'object'"
    # Imported here: jsonschema comes with the MCP SDK (it validates tool outputs with it),
    # and loads only once an MCP server lists tools (the app imports none of the
    # compiler's dependencies, tests/test_import_boundaries.py).
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    try:
        meta = validator_for(offered, default=Draft202012Validator)
        # The meta-schema only: no format checks (a `pattern` Python's `re` refuses may
        # well be one the model API takes).
        error = best_match(meta(meta.META_SCHEMA).iter_errors(offered))
    except Exception as exc:  # e.g. a `$schema` that is not a string
        return None, f"its input schema cannot be read: {_short(exc)}"
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the schema"
        return None, f"its input schema is not valid JSON Schema at {where}: {_short(error)}"
    return offered, ""


def _short(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]
