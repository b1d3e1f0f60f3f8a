"""Image digests in the rendered output, checked with the real `kubectl kustomize`.

`images.digests` in kaosgen.yaml pins every image kaosgen renders (main, init and sidecar
containers, the vendored Redis); environment overrides and registry rewrites go through
kustomize's `images:` and must keep (or deliberately drop) the digest. `kaosgen images`
must list exactly what `kubectl kustomize overlays/<env>` runs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.compiler import PROJECTS, build_overlay, run_kaosgen

from kaosgen import images
from kaosgen.pipeline import compile_project

D = {c: f"sha256:{c * 64}" for c in "abcdef0123"}

PROJECT = textwrap.dedent(f"""\
    apiVersion: kaosgen.dev/v1alpha1
    kind: Project
    images:
      agent: ghcr.io/acme/agent:1.0
      digests:
        ghcr.io/acme/agent:1.0: {D["a"]}
        ghcr.io/acme/agent:2.0: {D["b"]}
        docker.io/library/redis:7.4.1-alpine: {D["c"]}
        docker.io/ollama/ollama:0.12.6: {D["d"]}
        docker.io/library/busybox:1.36: {D["0"]}
    components:
      redis: true
    environments:
      dev:
        namespace: dev
      canary:
        namespace: canary
        images:
          agent: ghcr.io/acme/agent:2.0
      float:
        namespace: float
        images:
          agent: ghcr.io/acme/agent:3.0
      mirror:
        namespace: mirror
        registry: mirror.example.com
      inline:
        namespace: inline
        images:
          ollama: docker.io/ollama/ollama@{D["e"]}
    """)

RESOURCES = textwrap.dedent(f"""\
    apiVersion: kaos.tools/v1alpha1
    kind: ModelAPI
    metadata:
      name: llm
    spec:
      mode: Hosted
      hostedConfig:
        model: smollm2:135m
    ---
    apiVersion: kaos.tools/v1alpha1
    kind: MCPServer
    metadata:
      name: tools
    spec:
      runtime: custom
      container:
        image: quay.io/acme/tools:1.2@{D["f"]}
    ---
    apiVersion: kaos.tools/v1alpha1
    kind: Agent
    metadata:
      name: helper
    spec:
      modelAPI: llm
      model: smollm2:135m
      mcpServers: [tools]
      podSpec:
        containers:
        - name: sidecar
          image: docker.io/library/busybox:1.36
          command: [sleep, infinity]
    """)

AGENT, OLLAMA, TOOLS, REDIS, BUSYBOX = (
    "Deployment/agent-helper",
    "Deployment/modelapi-llm",
    "Deployment/mcpserver-tools",
    "Deployment/kaos-redis",
    "Deployment/agent-helper",
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digests")
    (root / "kaosgen.yaml").write_text(PROJECT)
    (root / "resources.yaml").write_text(RESOURCES)
    result = run_kaosgen("render", root)
    assert result.exit_code == 0, result.output
    return root


def built_images(overlay: Path) -> dict[tuple[str, str], str]:
    """(Kind/name, container) -> image, from `kubectl kustomize`."""
    out: dict[tuple[str, str], str] = {}
    for obj in build_overlay(overlay):
        owner = f"{obj['kind']}/{obj['metadata']['name']}"
        for container in images.containers(obj):
            out[(owner, container["name"])] = container["image"]
    return out


EXPECTED = {
    "dev": {
        (AGENT, "agent"): f"ghcr.io/acme/agent:1.0@{D['a']}",
        (BUSYBOX, "sidecar"): f"docker.io/library/busybox:1.36@{D['0']}",
        (OLLAMA, "model-api"): f"docker.io/ollama/ollama:0.12.6@{D['d']}",
        (OLLAMA, "pull-model"): f"docker.io/ollama/ollama:0.12.6@{D['d']}",
        (TOOLS, "mcp-server"): f"quay.io/acme/tools:1.2@{D['f']}",
        (REDIS, "redis"): f"docker.io/library/redis:7.4.1-alpine@{D['c']}",
    },
    # An override to another pinned tag: kustomize `newTag` + `digest`.
    "canary": {(AGENT, "agent"): f"ghcr.io/acme/agent:2.0@{D['b']}"},
    # An override to a tag without a digest: the base's digest must not survive.
    "float": {(AGENT, "agent"): "ghcr.io/acme/agent:3.0"},
    # A registry rewrite keeps tag and digest (content-addressed: a mirror serves the same).
    "mirror": {
        (AGENT, "agent"): f"mirror.example.com/acme/agent:1.0@{D['a']}",
        (BUSYBOX, "sidecar"): f"mirror.example.com/library/busybox:1.36@{D['0']}",
        (TOOLS, "mcp-server"): f"mirror.example.com/acme/tools:1.2@{D['f']}",
        (REDIS, "redis"): f"mirror.example.com/library/redis:7.4.1-alpine@{D['c']}",
        (OLLAMA, "model-api"): f"mirror.example.com/ollama/ollama:0.12.6@{D['d']}",
    },
    # An override written with a digest only.
    "inline": {
        (OLLAMA, "model-api"): f"docker.io/ollama/ollama@{D['e']}",
        (OLLAMA, "pull-model"): f"docker.io/ollama/ollama@{D['e']}",
        (AGENT, "agent"): f"ghcr.io/acme/agent:1.0@{D['a']}",
    },
}


@pytest.mark.parametrize("env", sorted(EXPECTED))
def test_built_overlays_run_the_pinned_images(rendered: Path, env: str) -> None:
    built = built_images(rendered / "deploy" / "overlays" / env)
    for key, image in EXPECTED[env].items():
        assert built[key] == image, (env, key)


def test_the_base_carries_the_digests(rendered: Path) -> None:
    """Pinned in the base, so a `kustomize build` of any overlay starts from digests."""
    agent = (rendered / "deploy/base/agents/helper.yaml").read_text()
    assert f"image: ghcr.io/acme/agent:1.0@{D['a']}" in agent
    assert f"image: docker.io/library/busybox:1.36@{D['0']}" in agent
    redis = (rendered / "deploy/base/redis/redis.yaml").read_text()
    assert f"image: docker.io/library/redis:7.4.1-alpine@{D['c']}" in redis


def test_without_digests_nothing_changes(tmp_path: Path) -> None:
    """Digests only add `@digest`: the same project without them renders tags only."""
    (tmp_path / "kaosgen.yaml").write_text(
        PROJECT.split("  digests:")[0] + "environments:\n  dev: {}\n"
    )
    (tmp_path / "resources.yaml").write_text(RESOURCES)
    compilation = compile_project([str(tmp_path)])
    assert compilation.ok
    base = "".join(t for p, t in compilation.files.items() if p.startswith("base/"))
    assert "@sha256:" not in base.replace(D["f"], "")


@pytest.mark.parametrize("env", sorted(EXPECTED))
def test_the_listing_is_what_kustomize_builds(rendered: Path, env: str) -> None:
    compilation = compile_project([str(rendered)])
    listed = {
        (owner, item.image)
        for item in images.deployed(compilation.files, env)
        for owner in item.used_by
    }
    built = {
        (owner, image)
        for (owner, _), image in built_images(rendered / "deploy/overlays" / env).items()
    }
    assert listed == built


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_the_listing_is_what_kustomize_builds_for_every_project(name: str, tmp_path: Path) -> None:
    """Every example and test project: `kaosgen images` == the images `kubectl kustomize` runs."""
    project = PROJECTS[name]
    compilation = compile_project([str(project)], output=str(tmp_path / "deploy"))
    assert compilation.ok
    for path, text in compilation.files.items():
        target = tmp_path / "deploy" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for env in compilation.project.project.environments:
        listed = {
            (owner, item.image)
            for item in images.deployed(compilation.files, env)
            for owner in item.used_by
        }
        built = {
            (owner, image)
            for (owner, _), image in built_images(tmp_path / "deploy/overlays" / env).items()
        }
        assert listed == built, (name, env)


def test_pin_targets_are_the_unpinned_references_each_environment_runs(rendered: Path) -> None:
    compilation = compile_project([str(rendered)])
    project = compilation.project.project
    targets = images.pin_targets(compilation.files, project, sorted(project.environments))
    assert set(targets) == {
        "ghcr.io/acme/agent:1.0",
        "ghcr.io/acme/agent:2.0",
        "ghcr.io/acme/agent:3.0",
        "docker.io/library/busybox:1.36",
        "docker.io/library/redis:7.4.1-alpine",
        "docker.io/ollama/ollama:0.12.6",
    }
    # Written with a digest: pinned already, never resolved.
    assert not any(ref.startswith("quay.io/") for ref in targets)
    only_canary = images.pin_targets(compilation.files, project, ["canary"])
    assert "ghcr.io/acme/agent:1.0" not in only_canary
    assert "ghcr.io/acme/agent:2.0" in only_canary


def test_pin_check_names_what_is_not_pinned(rendered: Path) -> None:
    result = run_kaosgen("images", "pin", rendered, "--check")
    assert result.exit_code == 1, result.output
    assert "not pinned: ghcr.io/acme/agent:3.0  (Deployment/agent-helper)" in result.stdout
    assert "not pinned: ghcr.io/acme/agent:1.0" not in result.stdout


def test_images_command_text_and_json(rendered: Path) -> None:
    text = run_kaosgen("images", rendered, "--env", "float")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["ENVIRONMENT", "PINNED", "IMAGE", "USED", "BY"]
    row = next(line for line in lines if "ghcr.io/acme/agent" in line)
    assert row.split()[:3] == ["float", "no", "ghcr.io/acme/agent:3.0"]
    assert "1 not pinned" in text.stderr
    data = run_kaosgen("images", "list", rendered, "--format", "json").json()
    assert sorted(data["environments"]) == sorted(EXPECTED)
    dev = {i["image"]: i for i in data["environments"]["dev"]["images"]}
    agent = dev[f"ghcr.io/acme/agent:1.0@{D['a']}"]
    assert agent["name"] == "ghcr.io/acme/agent"
    assert (agent["tag"], agent["digest"], agent["pinned"]) == ("1.0", D["a"], True)
    assert agent["usedBy"] == ["Deployment/agent-helper"]
    assert data["environments"]["dev"]["namespace"] == "dev"


def test_images_unknown_environment_is_a_usage_error(rendered: Path) -> None:
    result = run_kaosgen("images", rendered, "--env", "nope")
    assert result.exit_code == 2
    assert "unknown environment 'nope'" in result.stderr
    assert result.traceback is None


def test_passthrough_images_are_listed_as_yours(tmp_path: Path) -> None:
    (tmp_path / "kaosgen.yaml").write_text(
        f"apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nimages:\n  digests:\n"
        f"    docker.io/library/nginx:1.27: {D['1']}\n"
    )
    (tmp_path / "resources.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
        "    spec:\n      containers:\n      - {name: web, image: 'docker.io/library/nginx:1.27'}\n"
    )
    data = run_kaosgen("images", tmp_path, "--format", "json").json()
    (item,) = data["environments"]["default"]["images"]
    # Your own objects are never rewritten, so the digest in kaosgen.yaml does not apply.
    assert (item["image"], item["managed"], item["pinned"]) == (
        "docker.io/library/nginx:1.27",
        False,
        False,
    )
    text = run_kaosgen("images", tmp_path)
    assert "Deployment/web (yours)" in text.stdout
    # ... and `pin` does not try to resolve them.
    check = run_kaosgen("images", "pin", tmp_path, "--check")
    assert "not pinned" not in check.stdout
    assert "no longer deployed: docker.io/library/nginx:1.27" in check.stdout


# --- invalid references ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("images:\n  agent: ghcr.io/Acme/agent:1", "repository names are lowercase"),
        ("images:\n  agent: 'ghcr.io/acme/agent:1 '", "cannot contain whitespace"),
        ("images:\n  agent: ghcr.io/acme/agent:1:2", "more than one ':'"),
        ("images:\n  agent: ghcr.io/acme/agent@sha256:abc", "is not sha256:<64 hex>"),
        (
            "images:\n  digests:\n    ghcr.io/acme/agent:1: sha256:xyz",
            "expected sha256:<64 lowercase hex>",
        ),
        (
            f"images:\n  digests:\n    ghcr.io/acme/agent@{D['a']}: {D['a']}",
            "a reference without a digest",
        ),
        ("environments:\n  dev:\n    images:\n      agent: 'a b'", "cannot contain whitespace"),
    ],
)
def test_invalid_references_in_kaosgen_yaml_are_errors_at_their_place(
    tmp_path: Path, setting: str, message: str
) -> None:
    (tmp_path / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n" + setting + "\n"
    )
    result = run_kaosgen("validate", tmp_path)
    assert result.exit_code == 1, result.output
    assert result.traceback is None
    assert message in result.output
    assert "kaosgen.yaml:" in result.output


def test_invalid_reference_in_a_kaos_document_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "kaosgen.yaml").write_text("apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n")
    (tmp_path / "tools.yaml").write_text(
        "apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata:\n  name: t\nspec:\n"
        "  runtime: custom\n  container:\n    image: Quay.io/acme/Tools:1\n"
    )
    result = run_kaosgen("validate", tmp_path)
    assert result.exit_code == 1, result.output
    assert "tools.yaml:8:12" in result.output
    assert "repository names are lowercase" in result.output
