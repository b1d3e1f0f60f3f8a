"""CustomResourceDefinitions whose openAPIV3Schema comes from the same models.

For teams who want the KAOS resources stored in the cluster too (for inventory or for a
later switch to the operator). The JSON Schema is turned into a *structural* schema:
references inlined, `anyOf [X, null]` unwrapped, free-form objects marked to keep fields.
"""

from __future__ import annotations

import copy
from typing import Any

_PLURALS = {"Agent": "agents", "ModelAPI": "modelapis", "MCPServer": "mcpservers"}
_DROP = {"title", "deprecated", "$schema", "$id"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            return _structural({**options[0], **rest}, defs)
        # A union of scalars (e.g. quantity str|int|float): keep it permissive.
        if all(o.get("type") in ("string", "integer", "number") for o in options):
            return {
                "x-kubernetes-int-or-string": True,
                **{k: v for k, v in rest.items() if k not in _DROP},
            }
        return _structural({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs":
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "additionalProperties":
            if value is False:
                continue
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            else:
                out[key] = _structural(value, defs)
        elif key == "properties":
            out[key] = {k: _structural(v, defs) for k, v in value.items()}
        else:
            out[key] = _structural(value, defs)
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("default") is None:
        out.pop("default", None)
    return out


def crd(kind: str) -> dict[str, Any]:
    from kaosgen.models import KINDS

    schema = KINDS[kind].model_json_schema(by_alias=True, mode="validation")
    defs = schema.get("$defs", {})
    spec_schema = _structural(schema["properties"]["spec"], defs)
    plural = _PLURALS[kind]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.kaos.tools",
            "labels": {"app.kubernetes.io/managed-by": "kaosgen"},
        },
        "spec": {
            "group": "kaos.tools",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                            "required": ["spec"],
                        }
                    },
                }
            ],
        },
    }


def render_crds() -> str:
    from kaosgen import yamlout
    from kaosgen.writer import HEADER

    return yamlout.dump_all(
        [crd(kind) for kind in ("Agent", "MCPServer", "ModelAPI")], header=HEADER
    )
