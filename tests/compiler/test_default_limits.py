"""Every rendered pod has limits, even when the user's container.resources sets none.

The limits come from kaosgen's defaults for the workload kind, raised to at least the
user's request, and a note says so; `kubectl kustomize` builds the result. Quantities
are parsed as the API server does (and valued as the Kubernetes client does).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils.quantity import parse_quantity as client_parse_quantity
from support.compiler import (
    build_overlay,
    find,
    kaos,
    render,
    render_ok,
    validate_json,
    write_docs,
)

from kaosgen.quantity import parse_quantity


def _resources(objects: list, name: str, container: str) -> dict:
    deployment = find(objects, "Deployment", name)
    (main,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container
    ]
    return main["resources"]


def test_requests_without_limits_get_the_default_limits_raised_to_the_request(
    tmp_path: Path,
) -> None:
    write_docs(
        tmp_path / "in" / "resources.yaml",
        [
            kaos(
                "ModelAPI",
                "llm",
                {
                    "mode": "Hosted",
                    "hostedConfig": {"model": "smollm2:135m"},
                    "container": {"resources": {"requests": {"cpu": "3"}}},
                },
            ),
            kaos(
                "MCPServer",
                "tools",
                {"runtime": "custom", "container": {"image": "t:1", "resources": {}}},
            ),
            kaos(
                "Agent",
                "big",
                {
                    "modelAPI": "llm",
                    "model": "smollm2:135m",
                    "container": {"resources": {"requests": {"cpu": "250m", "memory": "2Gi"}}},
                },
            ),
            kaos(
                "Agent",
                "chosen",
                {
                    "modelAPI": "llm",
                    "model": "smollm2:135m",
                    "container": {
                        "resources": {
                            "requests": {"cpu": "2"},
                            "limits": {"cpu": "4", "memory": "1G"},
                        }
                    },
                },
            ),
        ],
    )
    code, diagnostics = validate_json(tmp_path / "in")
    assert code == 0
    notes = {
        (d["severity"], d["rule"], d["message"])
        for d in diagnostics
        if d["rule"] == "resources-default-limits"
    }
    assert notes == {
        (
            "note",
            "resources-default-limits",
            "container.resources sets requests but no limits; kaosgen adds its default limits: "
            "cpu: 1, ephemeral-storage: 1Gi, memory: 2Gi (raised to the request)",
        ),
        (
            "note",
            "resources-default-limits",
            "container.resources sets requests but no limits; kaosgen adds its default limits: "
            "cpu: 3 (raised to the request), ephemeral-storage: 3Gi, memory: 4Gi",
        ),
        (
            "note",
            "resources-default-limits",
            "container.resources sets no requests or limits; kaosgen adds its defaults: "
            "requests cpu: 50m, ephemeral-storage: 128Mi, memory: 128Mi; limits cpu: 500m, "
            "ephemeral-storage: 1Gi, memory: 512Mi",
        ),
    }
    out = render_ok(tmp_path / "in", tmp_path / "out")
    objects = build_overlay(out / "overlays" / "default")
    assert _resources(objects, "agent-big", "agent") == {
        "requests": {"cpu": "250m", "memory": "2Gi"},
        "limits": {"cpu": "1", "ephemeral-storage": "1Gi", "memory": "2Gi"},
    }
    # The user's own limits stay as they are.
    assert _resources(objects, "agent-chosen", "agent") == {
        "requests": {"cpu": "2"},
        "limits": {"cpu": "4", "memory": "1G"},
    }
    assert _resources(objects, "mcpserver-tools", "mcp-server") == {
        "requests": {"cpu": "50m", "ephemeral-storage": "128Mi", "memory": "128Mi"},
        "limits": {"cpu": "500m", "ephemeral-storage": "1Gi", "memory": "512Mi"},
    }
    hosted = find(objects, "Deployment", "modelapi-llm")["spec"]["template"]["spec"]
    for container in [*hosted["containers"], *hosted["initContainers"]]:
        assert container["resources"] == {
            "requests": {"cpu": "3"},
            # The model's emptyDir (2Gi for a 135m tag) and 1Gi besides.
            "limits": {"cpu": "3", "ephemeral-storage": "3Gi", "memory": "4Gi"},
        }
    # Every container of every pod has cpu and memory limits.
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for container in [*spec["containers"], *spec.get("initContainers", [])]:
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), deployment


def test_a_quantity_the_api_server_refuses_is_an_error(tmp_path: Path) -> None:
    write_docs(
        tmp_path / "a.yaml",
        [
            kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}}),
            kaos(
                "Agent",
                "a",
                {
                    "modelAPI": "llm",
                    "model": "smollm2:135m",
                    "container": {"resources": {"requests": {"memory": "1GB"}}},
                },
            ),
        ],
    )
    code, diagnostics = validate_json(tmp_path)
    assert code == 1
    assert [(d["rule"], d["message"]) for d in diagnostics] == [
        ("resources-quantity", "requests.memory: '1GB' is not a Kubernetes quantity")
    ]


# --- the quantity parser against the Kubernetes client ------------------------------------

_numbers = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.builds(
        lambda whole, frac: f"{whole}.{frac}",
        st.integers(min_value=0, max_value=9999),
        st.integers(min_value=0, max_value=999),
    ),
)
_suffixes = st.sampled_from(
    [
        "",
        "n",
        "u",
        "m",
        "k",
        "M",
        "G",
        "T",
        "P",
        "E",
        "Ki",
        "Mi",
        "Gi",
        "Ti",
        "Pi",
        "Ei",
        "e3",
        "E-2",
        "e+1",
        "e0",
    ]
)


@given(number=_numbers, suffix=_suffixes)
def test_quantity_values_match_the_kubernetes_client(number: str, suffix: str) -> None:
    text = number + suffix
    assert parse_quantity(text) == client_parse_quantity(text)


@pytest.mark.parametrize("value", [0, 2, 0.25, 1.5])
def test_numbers_from_yaml_are_quantities(value: float) -> None:
    assert parse_quantity(value) == client_parse_quantity(value) == Decimal(str(value))


@pytest.mark.parametrize(
    "text",
    # The client computes a value for the first four; the API server refuses all of them.
    ["NaN", "1_000", "5K", "Infinity", "1GB", "1 Gi", "", "e3", "1ki", "-1", "1.5e1.5", "0x10"],
)
def test_quantities_the_api_server_refuses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_a_render_with_resources_does_not_import_the_kubernetes_client(tmp_path: Path) -> None:
    """Why kaosgen parses quantities itself: the client's parser costs its whole package
    (about 0.8 s of imports) on every render and pre-commit run."""
    import subprocess
    import sys

    write_docs(
        tmp_path / "in" / "a.yaml",
        [
            kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "m"}}),
            kaos(
                "Agent",
                "a",
                {
                    "modelAPI": "llm",
                    "model": "m",
                    "container": {"resources": {"requests": {"memory": "3Gi"}}},
                },
            ),
        ],
    )
    probe = (
        "import sys\nfrom kaosgen.pipeline import compile_project\n"
        f"c = compile_project([{str(tmp_path / 'in')!r}], output={str(tmp_path / 'out')!r})\n"
        "assert c.ok and 'memory: 3Gi' in c.files['base/agents/a.yaml'], c.diagnostics\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert "'kubernetes'" not in out


def _limits_cover_requests(objects: list) -> None:
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for container in [*spec["containers"], *spec.get("initContainers", [])]:
            resources = container["resources"]
            for name, request in resources.get("requests", {}).items():
                limit = resources["limits"][name]
                assert parse_quantity(limit) >= parse_quantity(request), (deployment, name)


def test_kaosgen_yaml_requests_above_the_default_limits_raise_them(tmp_path: Path) -> None:
    """`workloads.<ref>.resources` and `resources.<kind>` in kaosgen.yaml: a limit they
    leave to kaosgen (its default, or the container's) is raised to the request."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
        "environments:\n"
        "  dev:\n"
        "    namespace: kaos-dev\n"
        "    workloads:\n"
        "      agent/a1: {resources: {requests: {cpu: '4', memory: 4Gi}}}\n"
        "      agent/a2: {resources: {requests: {memory: 1500Mi}}}\n"
        "  wide:\n"
        "    resources: {agent: {requests: {memory: 8Gi}}}\n"
        "    workloads:\n"
        "      agent/a1: {resources: {requests: {cpu: 500m}, limits: {cpu: '1'}}}\n",
        encoding="utf-8",
    )
    write_docs(
        tmp_path / "in" / "resources.yaml",
        [
            kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}}),
            kaos("Agent", "a1", {"modelAPI": "llm", "model": "smollm2:135m"}),
            kaos(
                "Agent",
                "a2",
                {
                    "modelAPI": "llm",
                    "model": "smollm2:135m",
                    "container": {
                        "resources": {"requests": {"memory": "1000Mi"}, "limits": {"memory": "1Gi"}}
                    },
                },
            ),
        ],
    )
    code, diagnostics = validate_json(tmp_path / "in")
    assert code == 0, diagnostics
    notes = sorted(d["message"] for d in diagnostics if d["rule"] == "resources-default-limits")
    assert notes == [
        "environment 'dev': workloads.agent/a1.resources requests more than the limits it "
        "leaves to kaosgen's defaults (or the container's); kaosgen raises them to the "
        "request: cpu 4, memory 4Gi",
        "environment 'dev': workloads.agent/a2.resources requests more than the limits it "
        "leaves to kaosgen's defaults (or the container's); kaosgen raises them to the "
        "request: memory 1500Mi",
        "environments.wide.resources.agent sets no limits; kaosgen adds its default limits, "
        "each raised to the request: cpu 1, ephemeral-storage 1Gi, memory 8Gi",
    ]
    out = render_ok(tmp_path / "in", tmp_path / "out")
    dev = build_overlay(out / "overlays" / "dev")
    assert _resources(dev, "agent-a1", "agent") == {
        "requests": {"cpu": "4", "ephemeral-storage": "128Mi", "memory": "4Gi"},
        "limits": {"cpu": "4", "ephemeral-storage": "1Gi", "memory": "4Gi"},
    }
    assert _resources(dev, "agent-a2", "agent") == {
        "requests": {"memory": "1500Mi"},
        "limits": {"memory": "1500Mi"},
    }
    wide = build_overlay(out / "overlays" / "wide")
    assert _resources(wide, "agent-a1", "agent") == {
        "requests": {"cpu": "500m", "ephemeral-storage": "128Mi", "memory": "8Gi"},
        "limits": {"cpu": "1", "ephemeral-storage": "1Gi", "memory": "8Gi"},
    }
    for objects in (dev, wide):
        _limits_cover_requests(objects)


def test_a_kaosgen_yaml_limit_below_its_request_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
        "environments:\n"
        "  dev:\n"
        "    resources: {agent: {requests: {memory: 1Gi}, limits: {memory: 1000Mi}}}\n"
        "    workloads:\n"
        "      agent/a1: {resources: {requests: {memory: 4Gi}, limits: {memory: 1Gi}}}\n",
        encoding="utf-8",
    )
    write_docs(
        tmp_path / "in" / "resources.yaml",
        [
            kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}}),
            kaos("Agent", "a1", {"modelAPI": "llm", "model": "smollm2:135m"}),
        ],
    )
    code, diagnostics = validate_json(tmp_path / "in")
    assert code == 1
    errors = sorted((d["line"], d["message"]) for d in diagnostics if d["severity"] == "error")
    assert errors == [
        (
            5,
            "environments.dev.resources.agent sets limits.memory: 1000Mi below "
            "requests.memory: 1Gi; the API server refuses such a pod",
        ),
        (
            7,
            "environment 'dev': workloads.agent/a1.resources sets limits.memory: 1Gi below "
            "requests.memory: 4Gi; the API server refuses such a pod",
        ),
    ]
    result = render(tmp_path / "in", tmp_path / "out")
    assert result.exit_code == 1
    assert not (tmp_path / "out").exists()


def test_kaosgen_yaml_quantities_are_checked_and_top_level_settings_reported_once(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
        "workloads:\n"
        "  agent/a1: {resources: {requests: {cpu: '4'}, limits: {cpu: 2}}}\n"
        "environments:\n"
        "  dev:\n"
        "    resources: {mcpServer: {requests: {memory: 8GB}}}\n"
        "    workloads:\n"
        "      modelapi/llm: {resources: {limits: {cpu: two}}}\n"
        "  prod: {}\n",
        encoding="utf-8",
    )
    write_docs(
        tmp_path / "in" / "resources.yaml",
        [
            kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}}),
            kaos("Agent", "a1", {"modelAPI": "llm", "model": "smollm2:135m"}),
        ],
    )
    code, diagnostics = validate_json(tmp_path / "in")
    assert code == 1
    assert sorted((d["line"], d["rule"], d["message"]) for d in diagnostics) == [
        (
            4,
            "resources-limits",
            "workloads.agent/a1.resources sets limits.cpu: 2 below requests.cpu: 4; "
            "the API server refuses such a pod",
        ),
        (
            7,
            "resources-quantity",
            "environments.dev.resources.mcpServer.requests.memory: '8GB' is not a "
            "Kubernetes quantity",
        ),
        (
            9,
            "resources-quantity",
            "environments.dev.workloads.modelapi/llm.resources.limits.cpu: 'two' is not a "
            "Kubernetes quantity",
        ),
    ]
