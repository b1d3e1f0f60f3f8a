"""The env contract, end to end: the runtime starts with exactly what the compiler renders.

For every agent of every example, the rendered container env is parsed by the runtime's
settings (in process) and checked against the graph; for one agent per example, the real
runtime process (`python -m kaos_runtime`, the image CMD) is started with that env and
nothing else (plus PATH/HOME and a free AGENT_PORT) while none of its dependencies exist,
as happens when Kubernetes starts pods in any order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
from kaos_contract import env as contract

from tests.support.compiler import example_dirs, load_file
from tests.support.mcp_server import INITIALIZE, MCP_HEADERS, mcp_tool_server
from tests.support.process import free_port


def _agent_deployments(example: Path) -> list[dict[str, Any]]:
    docs = []
    for path in sorted((example / "deploy" / "base" / "agents").glob("*.yaml")):
        docs.extend(d for d in load_file(path) if d and d.get("kind") == "Deployment")
    return docs


def _container_env(deployment: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The agent container's literal env, and the names that come from a Secret/ConfigMap."""
    (agent,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "agent"
    ]
    literal, referenced = {}, []
    for entry in agent.get("env", []):
        if "valueFrom" in entry:
            referenced.append(entry["name"])
        else:
            literal[entry["name"]] = entry.get("value", "")
    return literal, referenced


def _kubelet_expand(value: str) -> str:
    """What the container sees: Kubernetes turns `$$` into `$` (no variables referenced here)."""
    return value.replace("$$", "$")


ALL_AGENTS = [
    pytest.param(example, dep, id=f"{example.name}/{dep['metadata']['name']}")
    for example in example_dirs()
    for dep in _agent_deployments(example)
]


def _mount_secrets(env: dict[str, str], deployment: dict[str, Any], directory: Path) -> None:
    """Stand in for the kubelet: the Secret files the pod mounts, at a local path."""
    volumes = deployment["spec"]["template"]["spec"].get("volumes") or []
    if "MEMORY_REDIS_PASSWORD_FILE" in env:
        assert any(v["name"] == "redis-password" and "secret" in v for v in volumes)
        path = directory / "redis-password"
        path.write_text("from-a-secret\n", encoding="utf-8")
        env["MEMORY_REDIS_PASSWORD_FILE"] = str(path)


@pytest.mark.parametrize(("example", "deployment"), ALL_AGENTS)
def test_runtime_settings_read_the_rendered_env(
    example: Path, deployment: dict[str, Any], tmp_path: Path
) -> None:
    from kaos_runtime.settings import load_settings

    env, referenced = _container_env(deployment)
    assert not referenced, "secrets come as files, not env vars; the rest stays literal"
    env = {k: _kubelet_expand(v) for k, v in env.items()}
    _mount_secrets(env, deployment, tmp_path)
    settings = load_settings(env)
    if "MEMORY_REDIS_PASSWORD_FILE" in env:
        assert settings.memory_redis_password.get_secret_value() == "from-a-secret"
    name = deployment["metadata"]["name"].removeprefix("agent-")
    assert settings.agent_name == name
    assert settings.model_name == env["MODEL_NAME"]
    assert settings.model_api_url == env["MODEL_API_URL"]
    assert settings.agentic_loop_max_steps == int(env["AGENTIC_LOOP_MAX_STEPS"])
    assert settings.agent_instructions == env.get("AGENT_INSTRUCTIONS", "")
    servers = contract.split_csv(env.get("MCP_SERVERS"))
    assert sorted(settings.mcp_servers) == servers
    for server in servers:
        assert settings.mcp_servers[server] == env[contract.mcp_server_url_var(server)]
    peers = contract.split_csv(env.get("PEER_AGENTS"))
    assert sorted(settings.peer_agents) == peers
    for peer in peers:
        assert settings.peer_agents[peer] == env[contract.peer_card_url_var(peer)]
    assert settings.wait_for_dependencies is (env["WAIT_FOR_DEPENDENCIES"] == "true")
    assert settings.model_call_budget == int(env["MODEL_CALL_BUDGET"])
    if "MEMORY_TYPE" in env:
        assert settings.memory_type == env["MEMORY_TYPE"]
        assert settings.memory_context_limit == int(env["MEMORY_CONTEXT_LIMIT"])


def _richest(example: Path) -> dict[str, Any]:
    """The agent whose env exercises the most of the contract."""
    return max(
        _agent_deployments(example),
        key=lambda d: (len(_container_env(d)[0]), d["metadata"]["name"]),
    )


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_runtime_process_starts_with_exactly_the_rendered_env(tmp_path: Path) -> None:
    """All examples at once (in parallel: the runtime imports litellm, which is slow)."""
    runs = []
    try:
        for example in example_dirs():
            deployment = _richest(example)
            env, _ = _container_env(deployment)
            env = {k: _kubelet_expand(v) for k, v in env.items()}
            _mount_secrets(env, deployment, tmp_path)
            port = free_port()
            process_env = {
                **env,
                "AGENT_PORT": str(port),
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
            }
            log = (tmp_path / f"{example.name}.log").open("wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "kaos_runtime"],
                env=process_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=tmp_path,
            )
            runs.append((example, env, port, proc, log))
        deadline = time.monotonic() + 120
        for example, env, port, proc, _ in runs:
            base = f"http://127.0.0.1:{port}"
            while True:
                if proc.poll() is not None:
                    pytest.fail(
                        f"{example.name}: runtime exited {proc.returncode}:\n{(tmp_path / f'{example.name}.log').read_text()[-3000:]}"
                    )
                try:
                    if _get(base + "/health")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"{example.name}: runtime did not start"
                time.sleep(0.2)
            status, body = _get(base + "/.well-known/agent.json")
            assert status == 200
            card = json.loads(body)
            assert card["name"] == env["AGENT_NAME"]
            if "AGENT_DESCRIPTION" in env:
                assert card["description"] == env["AGENT_DESCRIPTION"]
            # Nothing it depends on exists: waiting agents are not ready, the others are.
            ready_status, _ = _get(base + "/ready")
            if env["WAIT_FOR_DEPENDENCIES"] == "true":
                assert ready_status == 503
            else:
                assert ready_status == 200
            status, body = _get(base + "/v1/models")
            assert status == 200
            assert env["AGENT_NAME"] in json.dumps(json.loads(body))
    finally:
        for _, _, _, proc, _log in runs:
            proc.terminate()
        for _, _, _, proc, log in runs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def _mcp_deployments() -> list[Any]:
    """Every rendered MCP server that runs kaosgen's MCP runtime with literal tool source."""
    params = []
    for example in example_dirs():
        for path in sorted((example / "deploy" / "base" / "mcpservers").glob("*.yaml")):
            for doc in load_file(path):
                if not doc or doc.get("kind") != "Deployment":
                    continue
                (container,) = doc["spec"]["template"]["spec"]["containers"]
                env = {e["name"]: e for e in container.get("env", [])}
                if "MCP_TOOLS_STRING" in env and "value" in env["MCP_TOOLS_STRING"]:
                    params.append(pytest.param(doc, id=f"{example.name}/{path.stem}"))
    return params


@pytest.mark.parametrize("deployment", _mcp_deployments())
def test_mcp_runtime_answers_the_names_the_rendered_env_gives_it(
    deployment: dict[str, Any], tmp_path: Path
) -> None:
    """The MCP runtime started with the rendered env (the downward API resolved as the
    kubelet would) serves its Service's names, KAOS's FQDN form and the gateway's hostnames,
    and refuses any other Host (DNS-rebinding protection)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = _kubelet_expand(entry["value"])
        elif entry["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[entry["name"]] = "agents-prod"
    service = env[contract.MCP_SERVICE_NAME]
    assert service == deployment["metadata"]["name"]
    tools = env.pop("MCP_TOOLS_STRING")
    allowed = [f"{service}:8000", f"{service}.agents-prod.svc.cluster.local:8000"]
    allowed += contract.split_csv(env.get(contract.MCP_ALLOWED_HOSTS))
    with mcp_tool_server(tmp_path, tools=tools, env={**env, "MCP_HOST": "127.0.0.1"}) as server:
        for host in [*allowed, "evil.example.com", f"{service}.evil.example.com"]:
            response = httpx.post(
                server.url + contract.MCP_PATH,
                json=INITIALIZE,
                headers={**MCP_HEADERS, "Host": host},
                timeout=10,
            )
            assert response.status_code == (200 if host in allowed else 421), host
