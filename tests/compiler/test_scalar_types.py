"""A value of the wrong scalar type (`replicas: "3"`, `expose: "true"`) is an error at its
line and column, as the API server refuses it: kaosgen coerced it silently before.

What kubectl itself turns into the right type passes: an integral float (`replicas:
2.0`) is the JSON number 2 once kubectl converts the YAML, so it is an integer here too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, load_file, run_kaosgen, validate_json

MODELAPI = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: llm}
spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}
---
"""
AGENT = """\
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: a}
spec:
  modelAPI: llm
  model: "smollm2:135m"
"""
PROJECT = "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"

# (id, file, text, line, column, message)
CASES = [
    (
        "replicas-as-text",
        "kaosgen.yaml",
        PROJECT + 'environments:\n  dev:\n    replicas: "3"\n',
        5,
        15,
        "environments.dev.replicas: input should be a valid integer (got '3')",
    ),
    (
        "workload-replicas-as-text",
        "kaosgen.yaml",
        PROJECT + "workloads:\n  agent/a: {replicas: '2'}\n",
        4,
        23,
        "workloads.agent/a.replicas: input should be a valid integer (got '2')",
    ),
    (
        "replicas-as-a-boolean",
        "kaosgen.yaml",
        PROJECT + "environments:\n  dev: {replicas: true}\n",
        4,
        19,
        "environments.dev.replicas: input should be a valid integer (got True)",
    ),
    (
        "a-boolean-as-text",
        "resources.yaml",
        MODELAPI + AGENT + '  agentNetwork: {expose: "false"}\n',
        12,
        26,
        "spec.agentNetwork.expose: input should be a valid boolean (got 'false')",
    ),
    (
        "a-limit-as-text",
        "resources.yaml",
        MODELAPI + AGENT + "  config: {memory: {contextLimit: '10'}}\n",
        12,
        35,
        "spec.config.memory.contextLimit: input should be a valid integer (got '10')",
    ),
    (
        "a-number-as-a-boolean",
        "kaosgen.yaml",
        PROJECT + "security: {networkPolicies: 0}\n",
        3,
        29,
        "security.networkPolicies: input should be a valid boolean (got 0)",
    ),
]


def _write(root: Path, file: str, text: str) -> None:
    files = {"kaosgen.yaml": PROJECT, "resources.yaml": MODELAPI + AGENT, file: text}
    for name, body in files.items():
        (root / name).write_text(body, encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "text", "line", "column", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_value_of_the_wrong_type_is_an_error_where_it_is(
    tmp_path: Path, file: str, text: str, line: int, column: int, message: str
) -> None:
    _write(tmp_path, file, text)
    code, diagnostics = validate_json(".", cwd=tmp_path)
    found = [(d["file"], d["line"], d["column"], d["message"]) for d in diagnostics]
    assert code == 1
    assert (file, line, column, message) in found, found
    hints = [d["hint"] for d in diagnostics if d["message"] == message]
    assert hints and "quote" in hints[0], hints
    result = run_kaosgen("render", ".", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1 and not (tmp_path / "deploy").exists()


def test_an_integral_float_is_the_integer_kubectl_sends(tmp_path: Path) -> None:
    """`replicas: 2.0` and a podSpec's `terminationGracePeriodSeconds: 30.0` are what
    kubectl sends as 2 and 30: accepted, and rendered as integers."""
    _write(
        tmp_path,
        "resources.yaml",
        MODELAPI + AGENT + "  podSpec: {terminationGracePeriodSeconds: 30.0}\n",
    )
    (tmp_path / "kaosgen.yaml").write_text(
        PROJECT + "environments:\n  dev: {replicas: 2.0}\n", encoding="utf-8"
    )
    result = run_kaosgen("render", ".", "--quiet", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    (patch,) = load_file(tmp_path / "deploy/overlays/dev/kustomization.yaml")[0]["patches"]
    assert "value: 2\n" in patch["patch"], patch
    deployment = load_file(tmp_path / "deploy/base/agents/a.yaml")
    (spec,) = [d["spec"]["template"]["spec"] for d in deployment if d["kind"] == "Deployment"]
    assert spec["terminationGracePeriodSeconds"] == 30
    assert type(spec["terminationGracePeriodSeconds"]) is int


def test_a_float_past_int64_stays_a_float() -> None:
    """1e300 is integral, but as an integer it would be written with 301 digits."""
    from kaosgen.schema_check import integral_floats

    assert integral_floats({"a": [1e300, 2.0, 2.5, True]}) == {"a": [1e300, 2, 2.5, True]}
    assert type(integral_floats(1e300)) is float
