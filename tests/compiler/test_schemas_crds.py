"""The committed JSON Schemas match the models, and `kaosgen crds` is a valid, structural
CRD set that accepts every KAOS document the project ships."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from support.compiler import (
    EXAMPLES_DIR,
    REPO,
    assert_no_traceback,
    load_all,
    load_file,
    run_kaosgen,
)

SCHEMAS = REPO / "schemas"
KAOS_PLURALS = {"Agent": "agents", "MCPServer": "mcpservers", "ModelAPI": "modelapis"}


# --- JSON Schemas ----------------------------------------------------------------------------


def test_committed_schemas_match_the_models() -> None:
    result = run_kaosgen("schema", "--check", "-o", "schemas", cwd=REPO)
    assert_no_traceback(result)
    assert result.exit_code == 0, (
        f"schemas/ drifted from the models; run `kaosgen schema`:\n{result.stderr}"
    )


def test_schema_check_fails_on_drift_and_writes_nothing(tmp_path: Path) -> None:
    copy_dir = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, copy_dir)
    agent = copy_dir / "agent.schema.json"
    data = json.loads(agent.read_text())
    data["properties"]["spec"]["description"] = "edited by hand"
    agent.write_text(json.dumps(data))
    (copy_dir / "modelapi.schema.json").unlink()
    before = {p.name: p.read_bytes() for p in copy_dir.iterdir()}
    result = run_kaosgen("schema", "--check", "-o", str(copy_dir))
    assert result.exit_code == 1
    assert "agent.schema.json" in result.stderr
    assert "modelapi.schema.json" in result.stderr
    assert {p.name: p.read_bytes() for p in copy_dir.iterdir()} == before
    # Without --check it rewrites them, after which the check passes.
    assert run_kaosgen("schema", "-o", str(copy_dir)).exit_code == 0
    assert run_kaosgen("schema", "--check", "-o", str(copy_dir)).exit_code == 0
    assert {p.name: p.read_bytes() for p in copy_dir.iterdir()} == {
        p.name: p.read_bytes() for p in SCHEMAS.iterdir()
    }


def _schema_store() -> dict[str, Any]:
    """The committed schemas by $id and by file name (kaos.schema.json refers to the others)."""
    store: dict[str, Any] = {}
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        store[schema["$id"]] = schema
        store[path.name] = schema
    return store


def _validator(name: str) -> jsonschema.Validator:
    from referencing import Registry, Resource

    store = _schema_store()
    registry = Registry().with_resources(
        (uri, Resource.from_contents(schema)) for uri, schema in store.items()
    )
    schema = store[name]
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _example_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(EXAMPLES_DIR.glob("*/*.yaml")):
        if path.name == "kaosgen.yaml":
            continue
        for doc in load_file(path):
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("kaos.tools/"):
                docs.append((f"{path.relative_to(REPO)}:{doc['metadata']['name']}", doc))
    return docs


def test_the_json_schemas_accept_every_example_and_reject_typos() -> None:
    combined = _validator("kaos.schema.json")
    docs = _example_documents()
    assert len(docs) > 10
    for where, doc in docs:
        errors = [e.message for e in combined.iter_errors(doc)]
        assert not errors, (where, errors)
    agent = next(doc for _, doc in docs if doc["kind"] == "Agent")
    typo = copy.deepcopy(agent)
    typo["spec"]["mcpServer"] = []
    assert list(combined.iter_errors(typo)), "an unknown field must fail the JSON Schema"
    project = _validator("kaosgen.schema.json")
    for path in sorted(EXAMPLES_DIR.glob("*/kaosgen.yaml")):
        (config,) = load_file(path)
        assert not [e.message for e in project.iter_errors(config)], path


# --- CRDs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crds() -> list[dict[str, Any]]:
    result = run_kaosgen("crds")
    assert_no_traceback(result)
    assert result.exit_code == 0
    return load_all(result.stdout)


def test_crds_cover_the_three_kinds(crds: list[dict[str, Any]]) -> None:
    names = {c["spec"]["names"]["kind"]: c for c in crds}
    assert sorted(names) == sorted(KAOS_PLURALS)
    for kind, crd in names.items():
        assert crd["metadata"]["name"] == f"{KAOS_PLURALS[kind]}.kaos.tools"
        assert crd["spec"]["group"] == "kaos.tools"
        assert crd["spec"]["names"]["plural"] == KAOS_PLURALS[kind]
        assert [v["name"] for v in crd["spec"]["versions"]] == ["v1alpha1"]


def test_crds_validate_against_apiextensions_v1(crds: list[dict[str, Any]]) -> None:
    for crd in crds:
        kubernetes_validate.validate(crd, kubernetes_validate.utils.latest_version(), strict=True)


def structural_problems(schema: Any, path: str = "") -> list[str]:
    """Violations of Kubernetes' structural-schema rules (apiextensions v1)."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return [f"{path}: not a schema object"]
    for banned in ("$ref", "definitions", "$defs", "$schema", "$id", "id", "patternProperties"):
        if banned in schema:
            problems.append(f"{path}: {banned} is not allowed")
    special = schema.get("x-kubernetes-int-or-string") or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if not schema.get("type") and not special:
        problems.append(f"{path}: no type")
    if schema.get("x-kubernetes-int-or-string") and schema.get("type"):
        problems.append(f"{path}: int-or-string must not set a type")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{path}: properties and additionalProperties together")
    if schema.get("additionalProperties") is False:
        problems.append(f"{path}: additionalProperties: false")
    if "properties" in schema and schema.get("type") != "object":
        problems.append(f"{path}: properties on a non-object")
    if "items" in schema and schema.get("type") != "array":
        problems.append(f"{path}: items on a non-array")
    if schema.get("type") == "array" and not isinstance(schema.get("items"), dict):
        problems.append(f"{path}: array without one items schema")
    for junction in ("anyOf", "oneOf", "allOf", "not"):
        branches = schema.get(junction)
        if branches is None:
            continue
        for branch in branches if isinstance(branches, list) else [branches]:
            for field in (
                "type",
                "description",
                "default",
                "additionalProperties",
                "nullable",
                "properties",
            ):
                if field in branch and not (
                    junction == "anyOf"
                    and schema.get("x-kubernetes-int-or-string")
                    and field == "type"
                ):
                    problems.append(f"{path}: {junction} branch sets {field}")
    enum = schema.get("enum")
    if enum is not None:
        kinds = {"string": str, "integer": int, "boolean": bool, "number": (int, float)}
        expected = kinds.get(schema.get("type", ""))
        if expected and not all(isinstance(v, expected) for v in enum):
            problems.append(f"{path}: enum values do not match type {schema.get('type')}")
    for key, sub in (schema.get("properties") or {}).items():
        problems += structural_problems(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        problems += structural_problems(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        problems += structural_problems(schema["additionalProperties"], f"{path}.*")
    return problems


def test_crds_are_structural(crds: list[dict[str, Any]]) -> None:
    for crd in crds:
        (version,) = crd["spec"]["versions"]
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["properties"]["metadata"] == {"type": "object"}
        problems = structural_problems(schema, crd["spec"]["names"]["kind"])
        assert not problems, "\n".join(problems)


def test_the_structural_check_catches_problems() -> None:
    bad = {
        "type": "object",
        "properties": {"a": {"description": "no type"}, "b": {"$ref": "#/x", "type": "string"}},
        "additionalProperties": {"type": "string"},
    }
    found = " | ".join(structural_problems(bad))
    assert ".a: no type" in found
    assert "$ref" in found
    assert "properties and additionalProperties" in found


def _crd_validator(crds: list[dict[str, Any]], kind: str) -> jsonschema.Validator:
    (crd,) = [c for c in crds if c["spec"]["names"]["kind"] == kind]
    schema = copy.deepcopy(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return jsonschema.Draft202012Validator(_no_unknown_fields(schema))


def _no_unknown_fields(schema: Any) -> Any:
    """What the API server's pruning would drop, reject instead (strict field validation)."""
    if isinstance(schema, list):
        return [_no_unknown_fields(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _no_unknown_fields(v) for k, v in schema.items()}
    if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    if out.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    return out


def _shipped_kaos_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = _example_documents()
    for path in sorted((REPO / "tests" / "compiler" / "data").rglob("*.yaml")):
        if path.name == "kaosgen.yaml":
            continue
        for doc in load_file(path):
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("kaos.tools/"):
                docs.append((f"{path.relative_to(REPO)}:{doc['metadata']['name']}", doc))
    return docs


def test_shipped_kaos_documents_validate_against_the_crds(crds: list[dict[str, Any]]) -> None:
    failures = []
    docs = _shipped_kaos_documents()
    assert len(docs) > 30
    for where, doc in docs:
        validator = _crd_validator(crds, doc["kind"])
        for error in validator.iter_errors(doc):
            failures.append(
                f"{where} at {'/'.join(map(str, error.absolute_path))}: {error.message}"
            )
    assert not failures, "\n".join(failures)


def test_the_crds_reject_what_kaosgen_rejects(crds: list[dict[str, Any]]) -> None:
    validator = _crd_validator(crds, "Agent")
    doc = {
        "apiVersion": "kaos.tools/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": "a"},
        "spec": {"modelAPI": "m", "model": "x", "config": {"reasoningLoopMaxSteps": 21}},
    }
    assert [e.message for e in validator.iter_errors(doc)]
    del doc["spec"]["modelAPI"]
    doc["spec"]["config"] = {}
    assert any("modelAPI" in e.message for e in validator.iter_errors(doc))
