"""What a platform team's security review checks in the built output: a vendored Redis
sends nothing anywhere, and the vendored Gateway takes routes only from the namespaces the
project deploys to (a Gateway open to every namespace lets any tenant of the cluster
publish anything on the project's hostnames)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.compiler import Renders, build_overlay, find, load_file, render_ok

REDIS_PROJECTS = ["multi-agent", "production"]
GATEWAY_PROJECTS = ["multi-agent", "production"]


@pytest.mark.parametrize("project", REDIS_PROJECTS)
def test_redis_has_no_egress(project: str, renders: Renders) -> None:
    for env, objects in renders.overlays(project).items():
        spec = find(objects, "NetworkPolicy", "kaos-redis")["spec"]
        assert "Egress" in spec["policyTypes"], (project, env)
        assert not spec.get("egress"), (project, env)


def _gateway(output: Path) -> dict:
    objects = build_overlay(output / "platform" / "gateway")
    (gateway,) = [o for o in objects if o["kind"] == "Gateway"]
    return gateway


def _environment_namespaces(source: Path) -> list[str]:
    (config,) = load_file(source / "kaosgen.yaml")
    return sorted(env["namespace"] for env in config["environments"].values())


@pytest.mark.parametrize("project", GATEWAY_PROJECTS)
def test_gateway_takes_routes_only_from_the_environments(project: str, renders: Renders) -> None:
    from support.compiler import PROJECTS

    gateway = _gateway(renders.output(project))
    expected = {
        "from": "Selector",
        "selector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": _environment_namespaces(PROJECTS[project]),
                }
            ]
        },
    }
    for listener in gateway["spec"]["listeners"]:
        # With gateway.tls, port 80 takes only its redirect, in the Gateway's namespace.
        plain = listener["name"] == "http" and len(gateway["spec"]["listeners"]) > 1
        allowed = {"from": "Same"} if plain else expected
        assert listener["allowedRoutes"]["namespaces"] == allowed


def test_gateway_without_environment_namespaces_takes_the_inputs(tmp_path: Path) -> None:
    """No environment namespace: the routes land in the resources' own namespaces."""
    source = tmp_path / "project"
    source.mkdir()
    (source / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
        "gateway: {enabled: true, vendor: envoy, auth: {external: true}}\n",
        encoding="utf-8",
    )
    (source / "agents.yaml").write_text(
        "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm, namespace: team-a}\n"
        "spec: {mode: Hosted, hostedConfig: {model: 'smollm2:135m'}}\n---\n"
        "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {name: a, namespace: team-a}\n"
        "spec: {modelAPI: llm, model: 'smollm2:135m'}\n",
        encoding="utf-8",
    )
    gateway = _gateway(render_ok(source, tmp_path / "out"))
    (listener,) = gateway["spec"]["listeners"]
    selector = listener["allowedRoutes"]["namespaces"]["selector"]
    assert selector["matchExpressions"][0]["values"] == ["team-a"]
