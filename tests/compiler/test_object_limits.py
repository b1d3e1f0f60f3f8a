"""Objects the cluster would refuse for their size are errors at the text that made them.

Long instructions render into an environment variable; Linux refuses to start a process
with one `NAME=value` string over 128 KiB, so the pod would crash-loop. A ConfigMap over
1 MiB of data and any object over 1.5 MiB are refused by the API server. `render` and
`validate` say so at the line of the long text, and `render` writes nothing.
"""

from __future__ import annotations

import base64
import errno
import os
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, run_kaosgen, validate_json

from kaosgen.object_limits import MAX_CONFIG_DATA, MAX_ENV_STRING, MAX_OBJECT

PROJECT = (
    "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nenvironments:\n  dev: {namespace: dev}\n"
)
MODELAPI = (
    "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
    'spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}\n'
)


def _agent(instructions: str) -> str:
    return (
        "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {name: talker}\n"
        'spec:\n  modelAPI: llm\n  model: "smollm2:135m"\n  config:\n'
        f"    instructions: {instructions}\n"
    )


def _project(root: Path, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (root / "modelapi.yaml").write_text(MODELAPI, encoding="utf-8")
    for name, text in files.items():
        (root / f"{name}.yaml").write_text(text, encoding="utf-8")
    return root


def _errors(root: Path) -> list[dict]:
    code, diags = validate_json(root)
    assert code == 1
    return [d for d in diags if d["severity"] == "error"]


def _render_refused(root: Path) -> str:
    result = run_kaosgen("render", root)
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output
    assert not (root / "deploy").exists()  # invalid input never produces partial output
    return result.output


def test_instructions_too_long_for_an_environment_variable(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", agent=_agent("x" * (130 * 1024)))
    (error,) = _errors(root)
    assert error["rule"] == "object-too-large"
    assert "AGENT_INSTRUCTIONS" in error["message"] and "128 KiB" in error["message"]
    assert (error["file"].endswith("agent.yaml"), error["line"], error["column"]) == (
        True,
        8,
        19,
    )
    assert "by at least 3 KiB" in error["hint"]
    output = _render_refused(root)
    assert "agent.yaml:8:19" in output and "object-too-large" in output


def test_long_instructions_under_the_limit_render(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", agent=_agent("x" * (120 * 1024)))
    code, diags = validate_json(root)
    assert code == 0, diags
    assert run_kaosgen("render", root).exit_code == 0


def test_the_environment_limit_is_the_kernels(tmp_path: Path) -> None:
    """The constant is what Linux enforces: a string of MAX_ENV_STRING bytes (NUL
    included) starts a process, one byte more does not."""
    if not os.path.exists("/bin/true") or os.uname().sysname != "Linux":
        pytest.skip("needs Linux's execve")
    name = "AGENT_INSTRUCTIONS"
    fits = "x" * (MAX_ENV_STRING - len(name) - 2)  # "=" and the NUL
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        try:
            os.execve("/bin/true", ["/bin/true"], {name: fits})
        finally:
            os._exit(127)
    assert os.waitpid(pid, 0)[1] == 0
    with pytest.raises(OSError) as refused:
        os.execve("/bin/true", ["/bin/true"], {name: fits + "x"})
    assert refused.value.errno == errno.E2BIG


def test_dollar_escapes_count_once(tmp_path: Path) -> None:
    """kaosgen writes `$` as `$$` (the kubelet's escape for `$(VAR)`): 100 KiB of `$` is
    200 KiB in the Deployment and 100 KiB in the process."""
    root = _project(tmp_path / "p", agent=_agent("'" + "$" * (100 * 1024) + "'"))
    code, diags = validate_json(root)
    assert code == 0, diags


def test_a_pass_through_configmap_over_one_mib(tmp_path: Path) -> None:
    data = "y" * (MAX_CONFIG_DATA // 2)
    configmap = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prompts}\ndata:\n"
        f"  small: hello\n  first: {data}\n  second: {data}\n"
    )
    root = _project(tmp_path / "p", configmap=configmap)
    (error,) = _errors(root)
    assert "ConfigMap 'prompts'" in error["message"] and "1024 KiB" in error["message"]
    assert error["file"].endswith("configmap.yaml") and error["line"] in (6, 7)
    _render_refused(root)


def test_a_secret_counts_its_decoded_bytes(tmp_path: Path) -> None:
    """900 KiB of data is 1.2 MiB of base64: the API server counts the 900."""
    encoded = base64.b64encode(b"z" * (900 * 1024)).decode()
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: blob}\ntype: Opaque\n"
        f"data:\n  blob: {encoded}\n"
    )
    root = _project(tmp_path / "p", secret=secret)
    code, diags = validate_json(root)
    assert code == 0 and not [d for d in diags if d["rule"] == "object-too-large"], diags


def test_an_object_over_etcds_limit(tmp_path: Path) -> None:
    half = "w" * (MAX_OBJECT // 2 + 1024)
    custom = (
        "apiVersion: example.com/v1\nkind: Corpus\nmetadata: {name: big}\n"
        f"spec:\n  a: {half}\n  b: {half}\n"
    )
    root = _project(tmp_path / "p", custom=custom)
    (error,) = _errors(root)
    assert "Corpus 'big'" in error["message"] and "1536 KiB" in error["message"]
    assert error["line"] in (5, 6)


def test_an_argument_too_long_for_the_kernel(tmp_path: Path) -> None:
    """A runtime that passes spec.params as an argument: one argument over 128 KiB."""
    root = _project(
        tmp_path / "p",
        server=(
            "apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata: {name: notes}\n"
            f"spec:\n  runtime: notes\n  params: {'n' * (130 * 1024)}\n"
        ),
    )
    (root / "kaosgen.yaml").write_text(
        PROJECT + "images:\n  mcpRuntimes:\n"
        "    notes: {image: 'ghcr.io/example/notes:1.0', args: ['--notes', '{params}']}\n",
        encoding="utf-8",
    )
    (error,) = _errors(root)
    assert "an argument of container" in error["message"], error
    assert (Path(error["file"]).name, error["line"]) == ("server.yaml", 6)


def test_an_item_of_a_pass_through_list_over_one_mib(tmp_path: Path) -> None:
    """A `kind: List` is its items to kustomize and the cluster: each is checked."""
    data = "y" * (MAX_CONFIG_DATA + 1024)
    listed = (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
        f"  metadata: {{name: prompts}}\n  data:\n    big: {data}\n"
    )
    root = _project(tmp_path / "p", listed=listed)
    (error,) = _errors(root)
    assert "ConfigMap 'prompts'" in error["message"] and error["line"] == 8
