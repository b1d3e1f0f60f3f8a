"""Golden output: every example's committed `deploy/` is exactly what kaosgen renders, and
every overlay of every project builds with the real `kubectl kustomize`."""

from __future__ import annotations

import pytest
from support.compiler import (
    EXAMPLES,
    EXAMPLES_DIR,
    MANIFEST,
    PROJECTS,
    REPO,
    Renders,
    assert_no_traceback,
    build_overlay,
    load_file,
    run_kaosgen,
    tree,
)


@pytest.mark.parametrize("example", EXAMPLES)
def test_committed_output_is_up_to_date(example: str) -> None:
    result = run_kaosgen("render", f"examples/{example}", "--check", cwd=REPO)
    assert_no_traceback(result)
    assert result.exit_code == 0, (
        f"examples/{example}/deploy is stale; run `kaosgen render examples/{example}`:\n{result.output}"
    )
    assert "up to date" in result.stderr


@pytest.mark.parametrize("example", EXAMPLES)
def test_committed_output_matches_a_fresh_render(example: str, renders: Renders) -> None:
    """The same check by bytes, against a render into an empty directory (whose manifest
    names the project by another path), and the committed manifest lists every file."""
    committed = tree(EXAMPLES_DIR / example / "deploy", manifest=False)
    fresh = tree(renders.output(example), manifest=False)
    assert sorted(committed) == sorted(fresh)
    (manifest,) = load_file(EXAMPLES_DIR / example / "deploy" / MANIFEST)
    assert manifest["project"] == "../kaosgen.yaml"
    assert manifest["files"] == sorted(committed)
    for path, data in fresh.items():
        assert committed[path] == data, (
            f"examples/{example}/deploy/{path} differs from a fresh render"
        )


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_every_overlay_builds_with_kubectl_kustomize(project: str, renders: Renders) -> None:
    source = PROJECTS[project]
    (config,) = load_file(source / "kaosgen.yaml")
    environments = sorted(config.get("environments") or {"default": {}})
    built = renders.overlays(project)
    assert sorted(built) == environments
    for env, objects in built.items():
        assert objects, f"{project}/{env} built no objects"
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "Service", "ServiceAccount", "NetworkPolicy"} <= kinds, (env, kinds)
        unlabelled = [
            f"{o['kind']}/{o['metadata']['name']}"
            for o in objects
            if o["metadata"].get("labels", {}).get("kaosgen.dev/environment") != env
        ]
        assert not unlabelled, (
            f"{project}/{env}: objects without the environment label: {unlabelled}"
        )


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_base_builds_on_its_own(project: str, renders: Renders) -> None:
    objects = build_overlay(renders.output(project) / "base")
    assert {"Deployment", "Service", "NetworkPolicy"} <= {o["kind"] for o in objects}
    assert not any("kaosgen.dev/environment" in o["metadata"].get("labels", {}) for o in objects)
