"""`kaosgen init`, `kaosgen explain`, and the editor modelines on every example/scaffold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from support.devtools import REPO, kaosgen, kustomize, load_all

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)
SCHEMAS = REPO / "schemas"
BASE_URL = "https://raw.githubusercontent.com/kaosgen/kaosgen/main/schemas/"


def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(schema)
        resources.append((schema["$id"], resource))
        resources.append((path.name, resource))
    return Registry().with_resources(resources)


def _schema_for(target: str, file: Path) -> dict:
    if target.startswith(BASE_URL):
        path = SCHEMAS / target.removeprefix(BASE_URL)
    else:
        path = (file.parent / target).resolve()
    assert path.is_file(), f"{file}: modeline points at {target}, which does not exist"
    return json.loads(path.read_text(encoding="utf-8"))


def _check_file(file: Path) -> None:
    text = file.read_text(encoding="utf-8")
    match = MODELINE.search(
        text.split("\n", 3)[0] + "\n" + text.split("\n", 3)[1] if "\n" in text else text
    )
    assert match, f"{file}: no `# yaml-language-server: $schema=` modeline at the top"
    schema = _schema_for(match.group(1), file)
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    for doc in load_all(text):
        kind = doc.get("kind")
        if file.name != "kaosgen.yaml" and kind not in ("Agent", "ModelAPI", "MCPServer"):
            continue
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, f"{file} ({kind}): {errors}"


EXAMPLE_FILES = sorted(
    p
    for p in (REPO / "examples").rglob("*.yaml")
    if "deploy" not in p.relative_to(REPO / "examples").parts
)


@pytest.mark.parametrize("file", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_file_has_a_working_modeline(file: Path) -> None:
    _check_file(file)


def test_init_scaffolds_a_project_that_validates_and_renders(tmp_path: Path) -> None:
    proc = kaosgen("init", "agents", cwd=tmp_path, check=True)
    project = tmp_path / "agents"
    names = sorted(p.name for p in project.iterdir())
    assert names == ["agent.yaml", "kaosgen.yaml", "mcpserver.yaml", "modelapi.yaml"]
    assert "kaosgen render agents" in proc.stderr
    for file in project.iterdir():
        _check_file(file)
    validate = kaosgen("validate", "agents", cwd=tmp_path)
    assert validate.returncode == 0 and validate.stderr == "", validate.stderr
    kaosgen("render", "agents", "-q", cwd=tmp_path, check=True)
    for env in ("dev", "prod"):
        objects = kustomize(project / "deploy" / "overlays" / env)
        kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
        assert {
            ("Deployment", "agent-assistant"),
            ("Deployment", "modelapi-ollama"),
            ("Deployment", "mcpserver-echo-tools"),
        } <= kinds
        assert {o["metadata"].get("namespace") for o in objects} == {f"agents-{env}"}


def test_the_scaffolds_commented_blocks_validate_once_uncommented(tmp_path: Path) -> None:
    """The gateway and gitops blocks kaosgen.yaml offers as comments are what a user
    uncomments first: with them, the project still validates without a warning."""
    kaosgen("init", "agents", cwd=tmp_path, check=True)
    config = tmp_path / "agents" / "kaosgen.yaml"
    text = config.read_text(encoding="utf-8")
    offered = re.findall(r"^# ((?:gateway|gitops):\n(?:#   .*\n)+)", text, re.MULTILINE)
    assert [block.split(":")[0] for block in offered] == ["gateway", "gitops"]
    config.write_text(text + "".join(re.sub(r"^# ?", "", b, flags=re.M) for b in offered))
    validate = kaosgen("validate", "agents", "--strict", cwd=tmp_path)
    assert validate.returncode == 0 and validate.stderr == "", validate.stderr


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text("mine\n", encoding="utf-8")
    proc = kaosgen("init", ".", cwd=tmp_path)
    assert proc.returncode == 1
    assert "would overwrite" in proc.stderr and "agent.yaml" in proc.stderr
    assert (tmp_path / "agent.yaml").read_text(encoding="utf-8") == "mine\n"
    assert not (tmp_path / "kaosgen.yaml").exists()  # nothing written


def test_explain_a_nested_field_like_kubectl() -> None:
    out = kaosgen("explain", "Agent.spec.config.memory", cwd=REPO, check=True).stdout
    assert out.startswith("KIND:     Agent\nVERSION:  kaos.tools/v1alpha1\n")
    assert "FIELD:    spec.config.memory <MemoryConfig>" in out
    assert "MEMORY_CONTEXT_LIMIT" in out  # description
    fields = dict(re.findall(r"^  (\w+)\t<([^>]*)>", out, re.MULTILINE))
    assert fields == {
        "enabled": "boolean",
        "type": '"local" | "redis" | "null"',
        "contextLimit": "integer",
        "maxSessions": "integer",
        "maxSessionEvents": "integer",
    }
    assert "contextLimit\t<integer>  (default 6)" in out and "(>= 1; <= 100)" in out

    leaf = kaosgen("explain", "agent.spec.config.memory.contextlimit", cwd=REPO, check=True).stdout
    assert "FIELD:    spec.config.memory.contextLimit <integer>" in leaf
    assert "DEFAULT:  6" in leaf and "CONSTRAINTS: >= 1; <= 100" in leaf

    required = kaosgen("explain", "Agent.spec", cwd=REPO, check=True).stdout
    assert "modelAPI\t<string> -required-" in required

    gitops = kaosgen(
        "explain", "Project.environments.prod.gitops.flux.ordering", cwd=REPO, check=True
    ).stdout
    assert '<"dependsOn" | "none">' in gitops and 'DEFAULT:  "dependsOn"' in gitops


def test_explain_unknown_field_lists_the_fields() -> None:
    proc = kaosgen("explain", "Agent.spec.config.memroy", cwd=REPO)
    assert proc.returncode == 2
    assert "field 'memroy' does not exist in Agent.spec.config" in proc.stderr
    assert "memory" in proc.stderr
    assert kaosgen("explain", "Deployment.spec", cwd=REPO).returncode == 2
