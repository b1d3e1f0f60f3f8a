"""Both KAOS schema eras are accepted and normalised into one model.

`data/eras/<era>/` holds documents that use every field of KAOS's own CRDs of that era
(`tests/data/crds/kaos/<era>/`); the tests prove the coverage and the documents' validity
against those CRDs, then that kaosgen accepts them (deprecated forms warn, never fail) and
that the previous era renders byte-for-byte like its current-era translation.
"""

from __future__ import annotations

import copy
import functools
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support.compiler import (
    REPO,
    crd_file,
    dump_all,
    load_file,
    render_ok,
    strict_schema,
    tree,
    validate_json,
)

ERAS_DIR = REPO / "tests" / "compiler" / "data" / "eras"
OLD, CURRENT = "2026-01-30", "v0.1.4-dev"
ERAS = [OLD, CURRENT]
PLURALS = {"Agent": "agents", "MCPServer": "mcpservers", "ModelAPI": "modelapis"}


@functools.cache
def crd_schema(era: str, kind: str) -> dict[str, Any]:
    (crd,) = load_file(crd_file("kaos", era, f"kaos.tools_{PLURALS[kind]}.yaml"))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return version["schema"]["openAPIV3Schema"]


def era_documents(era: str) -> list[dict[str, Any]]:
    files = sorted(p for p in (ERAS_DIR / era).glob("*.yaml") if p.name != "kaosgen.yaml")
    return [d for p in files for d in load_file(p)]


def schema_paths(schema: dict[str, Any], prefix: str = "spec") -> set[str]:
    """Every field path of a CRD schema (`[]` for list items, `*` for map values); a
    podSpec is one field (its content is Kubernetes' PodSpec, not KAOS's)."""
    paths: set[str] = set()
    for key, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{key}"
        paths.add(path)
        if key != "podSpec":
            paths |= _children(sub, path)
    return paths


def _children(schema: dict[str, Any], path: str) -> set[str]:
    paths = schema_paths(schema, path)
    if isinstance(schema.get("items"), dict):
        paths |= _children(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        paths |= _children(schema["additionalProperties"], f"{path}.*")
    return paths


def document_paths(data: Any, schema: dict[str, Any], prefix: str = "spec") -> set[str]:
    """The field paths a document uses, named the way `schema_paths` names them."""
    paths: set[str] = set()
    if isinstance(data, dict):
        props = schema.get("properties") or {}
        for key, value in data.items():
            if key in props:
                path = f"{prefix}.{key}"
                paths.add(path)
                if key != "podSpec":
                    paths |= document_paths(value, props[key], path)
            elif isinstance(schema.get("additionalProperties"), dict):
                paths |= document_paths(value, schema["additionalProperties"], f"{prefix}.*")
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for item in data:
            paths |= document_paths(item, schema["items"], f"{prefix}[]")
    return paths


def _normalise(kind: str, path: str) -> str:
    """KAOS fields per kind; Kubernetes types (EnvVar, ResourceRequirements) once per era."""
    if "env[]" in path:
        return "EnvVar" + path[path.index("env[]") + len("env[]") :]
    if ".container.resources" in path:
        return "ResourceRequirements" + path[path.index(".container.resources") + 20 :]
    return f"{kind}:{path}"


@pytest.mark.parametrize("era", ERAS)
def test_the_documents_use_every_field_of_the_crds(era: str) -> None:
    expected: set[str] = set()
    used: set[str] = set()
    docs = era_documents(era)
    for kind in PLURALS:
        spec_schema = crd_schema(era, kind)["properties"]["spec"]
        expected |= {_normalise(kind, p) for p in schema_paths(spec_schema)}
        for doc in docs:
            if doc["kind"] == kind:
                used |= {_normalise(kind, p) for p in document_paths(doc["spec"], spec_schema)}
    assert len(expected) > 60
    assert any(p.startswith("EnvVar.valueFrom.") for p in expected)
    assert sorted(expected - used) == [], f"{era}: fields no document uses"


@pytest.mark.parametrize("era", ERAS)
def test_the_documents_are_valid_for_the_kaos_crds(era: str) -> None:
    failures = []
    for doc in era_documents(era):
        schema = strict_schema(copy.deepcopy(crd_schema(era, doc["kind"])))
        for error in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            where = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{doc['kind']}/{doc['metadata']['name']} at {where}: {error.message}")
    assert not failures, "\n".join(failures)


def _project(tmp_path: Path, name: str, docs: list[dict[str, Any]]) -> Path:
    root = tmp_path / name
    root.mkdir()
    shutil.copy(ERAS_DIR / CURRENT / "kaosgen.yaml", root / "kaosgen.yaml")
    (root / "resources.yaml").write_text(dump_all(docs), encoding="utf-8")
    return root


@pytest.mark.parametrize("era", ERAS)
def test_kaosgen_accepts_every_document_of_the_era(era: str, tmp_path: Path) -> None:
    root = _project(tmp_path, era, era_documents(era))
    code, diagnostics = validate_json(".", cwd=root)
    assert [d for d in diagnostics if d["severity"] == "error"] == []
    assert code == 0
    warnings = {d["rule"] for d in diagnostics}
    if era == OLD:
        assert warnings == {"deprecated-field"}
    else:
        assert "deprecated-field" not in warnings
    render_ok(root, root / "out")


def current_era(doc: dict[str, Any]) -> dict[str, Any]:
    """The contract's translation of a previous-era document (where one exists)."""
    doc = copy.deepcopy(doc)
    spec = doc["spec"]

    def move_env(env: list[dict[str, Any]] | None) -> None:
        if env:
            spec.setdefault("container", {}).setdefault("env", [])[:0] = env

    if doc["kind"] == "Agent":
        move_env((spec.get("config") or {}).pop("env", None))
    elif doc["kind"] == "ModelAPI":
        for section in ("proxyConfig", "hostedConfig"):
            move_env((spec.get(section) or {}).pop("env", None))
    elif doc["kind"] == "MCPServer" and spec.get("type") == "python-runtime":
        config = spec["config"]
        tools = config.get("tools") or {}
        if "fromString" in tools:
            spec["runtime"], spec["params"] = "python-string", tools["fromString"]
        elif "fromPackage" in tools:
            spec["runtime"], spec["params"] = "python-package", tools["fromPackage"]
        else:
            return doc  # fromSecretKeyRef: no current-era form
        del spec["type"], spec["config"]
        move_env(config.get("env"))
        if "telemetry" in config:
            spec["telemetry"] = config["telemetry"]
    return doc


def test_the_previous_era_renders_like_its_current_era_translation(tmp_path: Path) -> None:
    old_docs = era_documents(OLD)
    translated = [current_era(d) for d in old_docs]
    assert translated != old_docs
    old = render_ok(_project(tmp_path, "old", old_docs), tmp_path / "old-out")
    new = render_ok(_project(tmp_path, "new", translated), tmp_path / "new-out")
    old_tree, new_tree = tree(old, manifest=False), tree(new, manifest=False)
    assert sorted(old_tree) == sorted(new_tree)
    for path, data in new_tree.items():
        assert old_tree[path] == data, f"{path} differs between the eras"


def test_fromstring_gives_the_same_mcp_tools_string_as_params(tmp_path: Path) -> None:
    """The contract's example, spelled out: type python-runtime + config.tools.fromString is
    runtime python-string + params."""
    source = "def shout(text: str) -> str:\n    return text.upper()\n"
    meta = {"name": "tools"}
    old = {"type": "python-runtime", "config": {"tools": {"fromString": source}}}
    new = {"runtime": "python-string", "params": source}
    rendered = {}
    for name, spec in (("old", old), ("new", new)):
        doc = {
            "apiVersion": "kaos.tools/v1alpha1",
            "kind": "MCPServer",
            "metadata": meta,
            "spec": spec,
        }
        root = tmp_path / name
        root.mkdir()
        (root / "tools.yaml").write_text(dump_all([doc]), encoding="utf-8")
        out = render_ok(root, root / "out")
        rendered[name] = (out / "base" / "mcpservers" / "tools.yaml").read_text()
    assert rendered["old"] == rendered["new"]
    assert "MCP_TOOLS_STRING" in rendered["new"]


def test_reading_old_fields_raises_no_deprecation_warning(tmp_path: Path) -> None:
    """Under `python -W error` an old-era document must still compile (no traceback)."""
    import warnings

    root = _project(tmp_path, "old", era_documents(OLD))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        code, diagnostics = validate_json(".", cwd=root)
    assert code == 0
    assert {d["rule"] for d in diagnostics} == {"deprecated-field"}
