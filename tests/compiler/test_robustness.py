"""No input makes kaosgen print a Python traceback.

Hypothesis takes a valid project and breaks it at random: any value replaced by any YAML
value (wrong types, huge numbers, NaN, unicode), keys deleted, unknown keys added, the
project file mangled the same way, or whole files of random text. `validate` and `render`
must answer with diagnostics (exit 1) or success (exit 0), never with an exception.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.compiler import assert_no_traceback, dump_all, kaos, run_kaosgen

PROJECT = {
    "apiVersion": "kaosgen.dev/v1alpha1",
    "kind": "Project",
    "gateway": {"enabled": True, "hostnames": ["a.example.com"]},
    "environments": {
        "dev": {"namespace": "dev", "images": {"agent": "reg/agent:1"}},
        "prod": {"replicas": 2, "registry": "mirror", "workloads": {"agent/a": {"replicas": 3}}},
    },
}
DOCS = [
    kaos("ModelAPI", "ollama", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}}),
    kaos(
        "ModelAPI",
        "proxy",
        {
            "mode": "Proxy",
            "proxyConfig": {
                "models": ["openai/*"],
                "provider": "openai",
                "apiBase": "https://x",
                "apiKey": {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            },
            "container": {"env": [{"name": "A", "value": "b"}]},
            "podSpec": {"nodeSelector": {"a": "b"}},
        },
    ),
    kaos(
        "MCPServer",
        "tools",
        {"runtime": "python-string", "params": "def f(x: str) -> str:\n    return x\n"},
    ),
    kaos(
        "MCPServer", "old", {"type": "python-runtime", "config": {"tools": {"fromPackage": "pkg"}}}
    ),
    kaos(
        "Agent",
        "a",
        {
            "modelAPI": "proxy",
            "model": "openai/gpt",
            "mcpServers": ["tools", "old"],
            "config": {
                "description": "d",
                "instructions": "i",
                "reasoningLoopMaxSteps": 3,
                "memory": {"enabled": True, "contextLimit": 4},
                "telemetry": {"enabled": True, "endpoint": "http://otel:4317"},
            },
            "container": {
                "env": [{"name": "X", "value": "1"}],
                "resources": {"limits": {"cpu": "1"}},
            },
            "agentNetwork": {"access": ["b"]},
            "gatewayRoute": {"timeout": "30s"},
            "podSpec": {"containers": [{"name": "agent", "env": [{"name": "Y", "value": "2"}]}]},
        },
    ),
    kaos(
        "Agent",
        "b",
        {"modelAPI": "ollama", "model": "smollm2:135m", "agentNetwork": {"access": ["a"]}},
    ),
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}},
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["", "-", "*", "a/*", "Hosted", "Proxy", "custom", "0s", "x" * 70, "Ünïcødé", "a b"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=3),
    ),
    max_leaves=6,
)


def _containers(data: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a dict or list inside `data` (where a mutation can happen)."""
    found = []
    if isinstance(data, (dict, list)):
        found.append(path)
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            found += _containers(value, (*path, key))
    return found


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    data = copy.deepcopy(original)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = _get(data, draw(st.sampled_from(_containers(data))))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if isinstance(target, dict):
            if action == "add" or not target:
                target[draw(st.text(min_size=1, max_size=12))] = draw(values)
            elif action == "delete":
                del target[draw(st.sampled_from(sorted(target)))]
            else:
                target[draw(st.sampled_from(sorted(target)))] = draw(values)
        elif target:
            index = draw(st.integers(min_value=0, max_value=len(target) - 1))
            if action == "delete":
                del target[index]
            else:
                target[index] = draw(values)
        else:
            target.append(draw(values))
    return data


def _check(docs: list[Any], project: Any, raw: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "kaosgen.yaml").write_text(dump_all([project]), encoding="utf-8")
        (root / "resources.yaml").write_text(dump_all(docs), encoding="utf-8")
        if raw is not None:
            (root / "raw.yaml").write_text(raw, encoding="utf-8")
        for command in (["validate", "."], ["render", ".", "-o", "out"]):
            result = run_kaosgen(*command, cwd=root)
            assert_no_traceback(result)
            assert result.exit_code in (0, 1), result.output


def test_the_unmutated_project_renders() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "kaosgen.yaml").write_text(dump_all([PROJECT]), encoding="utf-8")
        (root / "resources.yaml").write_text(dump_all(DOCS), encoding="utf-8")
        result = run_kaosgen("render", ".", "-o", "out", cwd=root)
        assert result.exit_code == 0, result.output


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(DOCS))
@example([*DOCS[:-1], {**DOCS[-1], "kind": []}])  # a core kind that is a list: was a traceback
@example(  # a podSpec that deletes the container, beside a pass-through: was a traceback
    [
        {**d, "spec": {**d["spec"], "podSpec": {"containers": None}}} if d["kind"] == "Agent" else d
        for d in DOCS
    ]
)
def test_mutated_documents_never_crash(docs: list[Any]) -> None:
    _check(docs, PROJECT)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(PROJECT))
def test_mutated_project_file_never_crashes(project: Any) -> None:
    _check(DOCS, project)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(
            st.sampled_from(
                [
                    "a:",
                    " - b",
                    "---",
                    "...",
                    "{",
                    "[",
                    "'",
                    '"',
                    "&x",
                    "*x",
                    "!!int",
                    "\t",
                    ": c",
                    "? d",
                ]
            )
        ).map("\n".join),
    )
)
def test_random_text_never_crashes(text: str) -> None:
    _check(DOCS, PROJECT, raw=text)
