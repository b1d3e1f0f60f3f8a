"""The settings model reads the whole env contract, and bad values stop start-up clearly."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from kaos_contract import env as contract
from kaos_runtime.settings import Settings, SettingsError, load_settings
from support.runtime_harness import child_process_env

BASE = {"AGENT_NAME": "a", "MODEL_API_URL": "http://modelapi-m:8000", "MODEL_NAME": "gpt-4o"}


def test_every_contract_variable_is_a_settings_field():
    fields = set(Settings.model_fields)
    lists = {
        "MCP_SERVERS": "mcp_servers",
        "PEER_AGENTS": "peer_agents",
        "AGENT_SUB_AGENTS": "peer_agents",
    }
    for var in (*contract.AGENT_ENV, *contract.RUNTIME_TUNING_ENV):
        assert lists.get(var.name, var.name.lower()) in fields, var.name


def test_defaults_match_the_contract():
    settings = load_settings(BASE)
    for var in (*contract.AGENT_ENV, *contract.RUNTIME_TUNING_ENV):
        if var.default is None or var.kind == "csv":
            continue
        value = getattr(settings, var.name.lower())
        expected = {"bool": lambda d: d == "true", "int": int, "float": float}.get(var.kind, str)(
            var.default
        )
        assert value == expected, var.name


def test_a_full_kaos_operator_env_is_read():
    env = {
        "AGENT_NAME": "research-lead",
        "AGENT_DESCRIPTION": "Leads research.",
        "AGENT_INSTRUCTIONS": "  You lead.\nBe thorough.  ",
        "MODEL_API_URL": "http://modelapi-llm.team.svc.cluster.local:8000/",
        "MODEL_NAME": "ollama/smollm2:135m",
        "AGENTIC_LOOP_MAX_STEPS": "7",
        "MEMORY_ENABLED": "True",
        "MEMORY_TYPE": "redis",
        "MEMORY_CONTEXT_LIMIT": "4",
        "MEMORY_MAX_SESSIONS": "50",
        "MEMORY_MAX_SESSION_EVENTS": "60",
        "MEMORY_REDIS_URL": "redis://redis:6379/0",
        "MCP_SERVERS": "echo-tools,search",
        "MCP_SERVER_echo-tools_URL": "http://mcpserver-echo-tools.team.svc.cluster.local:8000",
        "MCP_SERVER_SEARCH_URL": "http://mcpserver-search:8000/mcp",
        "PEER_AGENTS": "writer-bot",
        "PEER_AGENT_WRITER_BOT_CARD_URL": "http://agent-writer-bot:8000",
        "TOOL_CALL_MODE": "STRING",
        "WAIT_FOR_DEPENDENCIES": "yes",
        "AGENT_EXTERNAL_URL": "https://gw.example.com/team/agent/research-lead/",
        "DELEGATION_MAX_DEPTH": "3",
        "OTEL_SDK_DISABLED": "false",
        "OTEL_SERVICE_NAME": "research-lead",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4317",
        "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=team,kaos.resource.name=research-lead",
        "LOG_LEVEL": "debug",
        "AGENT_PORT": "8080",
    }
    s = load_settings(env)
    assert s.agent_name == "research-lead"
    assert s.agent_instructions == "  You lead.\nBe thorough.  "
    assert s.model_api_base == "http://modelapi-llm.team.svc.cluster.local:8000/v1"
    assert s.upstream_model == "smollm2:135m"
    assert (s.agentic_loop_max_steps, s.memory_context_limit, s.memory_max_sessions) == (7, 4, 50)
    assert (s.memory_enabled, s.memory_type, s.memory_redis_url) == (
        True,
        "redis",
        "redis://redis:6379/0",
    )
    assert s.mcp_servers == {
        "echo-tools": "http://mcpserver-echo-tools.team.svc.cluster.local:8000",
        "search": "http://mcpserver-search:8000",
    }
    assert s.peer_agents == {"writer-bot": "http://agent-writer-bot:8000"}
    assert (s.tool_call_mode, s.wait_for_dependencies, s.delegation_max_depth) == (
        "string",
        True,
        3,
    )
    assert s.agent_external_url == "https://gw.example.com/team/agent/research-lead"
    assert s.otel_sdk_disabled is False and s.otel_service_name == "research-lead"
    assert s.otel_exporter_otlp_endpoint == "http://otel-collector:4317"
    assert s.otel_resource_attributes.startswith("service.namespace=team")
    assert (s.log_level, s.agent_port) == ("DEBUG", 8080)


def test_sub_agents_take_precedence_over_peer_agents():
    env = {
        **BASE,
        "PEER_AGENTS": "x",
        "PEER_AGENT_X_CARD_URL": "http://agent-x:8000",
        "AGENT_SUB_AGENTS": "worker-1:http://localhost:8001, worker-2:http://w2:8002/.well-known/agent",
    }
    assert load_settings(env).peer_agents == {
        "worker-1": "http://localhost:8001",
        "worker-2": "http://w2:8002",
    }


def test_empty_values_count_as_unset():
    s = load_settings(
        {**BASE, "AGENT_DESCRIPTION": "", "MCP_SERVERS": "", "AGENT_PORT": " ", "PEER_AGENTS": ""}
    )
    assert (s.agent_description, s.mcp_servers, s.agent_port, s.peer_agents) == ("", {}, 8000, {})


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"AGENT_NAME": None}, "AGENT_NAME"),
        ({"MODEL_NAME": "  "}, "MODEL_NAME"),
        ({"MODEL_API_URL": "modelapi:8000"}, "MODEL_API_URL"),
        ({"MODEL_API_URL": "http://host:port"}, "MODEL_API_URL"),
        ({"AGENTIC_LOOP_MAX_STEPS": "five"}, "AGENTIC_LOOP_MAX_STEPS"),
        ({"AGENTIC_LOOP_MAX_STEPS": "0"}, "AGENTIC_LOOP_MAX_STEPS"),
        ({"MEMORY_ENABLED": "maybe"}, "MEMORY_ENABLED"),
        ({"MEMORY_TYPE": "disk"}, "MEMORY_TYPE"),
        ({"MEMORY_TYPE": "redis"}, "MEMORY_REDIS_URL"),
        ({"MEMORY_TYPE": "redis", "MEMORY_REDIS_URL": "http://redis"}, "MEMORY_REDIS_URL"),
        ({"MEMORY_MAX_SESSIONS": "-5"}, "MEMORY_MAX_SESSIONS"),
        ({"MCP_SERVERS": "echo-tools"}, "MCP_SERVER_echo-tools_URL"),
        ({"MCP_SERVERS": "a", "MCP_SERVER_a_URL": "ftp://x"}, "MCP_SERVER_a_URL"),
        ({"PEER_AGENTS": "writer-bot"}, "PEER_AGENT_WRITER_BOT_CARD_URL"),
        ({"AGENT_SUB_AGENTS": "no-url-here"}, "AGENT_SUB_AGENTS"),
        ({"TOOL_CALL_MODE": "telepathy"}, "TOOL_CALL_MODE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"AGENT_PORT": "70000"}, "AGENT_PORT"),
        ({"DELEGATION_MAX_DEPTH": "-1"}, "DELEGATION_MAX_DEPTH"),
        ({"MODEL_CALL_BUDGET": "0"}, "MODEL_CALL_BUDGET"),
        ({"MODEL_CALL_BUDGET": "lots"}, "MODEL_CALL_BUDGET"),
        ({"MODEL_TIMEOUT_SECONDS": "nan"}, "MODEL_TIMEOUT_SECONDS"),
        ({"AGENT_EXTERNAL_URL": "gateway/path"}, "AGENT_EXTERNAL_URL"),
        ({"MODEL_CONNECT_TIMEOUT_SECONDS": "0"}, "MODEL_CONNECT_TIMEOUT_SECONDS"),
        ({"MODEL_KEEPALIVE_SECONDS": "-1"}, "MODEL_KEEPALIVE_SECONDS"),
        ({"AGENT_REQUEST_READ_TIMEOUT_SECONDS": "soon"}, "AGENT_REQUEST_READ_TIMEOUT_SECONDS"),
        ({"MODEL_API_KEY": "sk-one\nsk-two"}, "MODEL_API_KEY"),
        ({"MODEL_API_KEY": "sk-a\r\nX-Injected: 1"}, "MODEL_API_KEY"),
        ({"MODEL_API_KEY": "sk-\x00"}, "MODEL_API_KEY"),
        ({"MODEL_API_KEY": "sk-clé"}, "MODEL_API_KEY"),
    ],
)
def test_bad_variables_raise_one_line_naming_the_variable(change, variable):
    env = {**BASE, **change}
    env = {k: v for k, v in env.items() if v is not None}
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    message = str(info.value)
    assert message.startswith(variable + ":"), message
    assert "\n" not in message


def _run_main(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kaos_runtime"],
        env=child_process_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_entry_point_exits_2_with_one_line_and_no_traceback():
    started = time.monotonic()
    result = _run_main({**BASE, "MEMORY_TYPE": "disk"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "MEMORY_TYPE" in lines[0] and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert time.monotonic() - started < 10  # fails before the heavy imports
    missing = _run_main({"MODEL_API_URL": "http://m:8000", "MODEL_NAME": "x"})
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == "kaos-agent: configuration error: AGENT_NAME: missing (the Agent's metadata.name)"
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (None, "smollm2:135m"),  # the KAOS operator's env: Ollama naming assumed
        ("Hosted", "smollm2:135m"),  # Ollama knows the model as <m>
        ("Proxy", "ollama/smollm2:135m"),  # a LiteLLM model_name is used verbatim
    ],
)
def test_model_api_mode_decides_the_upstream_model_name(mode: str | None, expected: str) -> None:
    env = {"AGENT_NAME": "a", "MODEL_API_URL": "http://m:8000", "MODEL_NAME": "ollama/smollm2:135m"}
    if mode:
        env["MODEL_API_MODE"] = mode
    assert load_settings(env).upstream_model == expected


def test_model_api_mode_rejects_unknown_modes() -> None:
    env = {
        "AGENT_NAME": "a",
        "MODEL_API_URL": "http://m:8000",
        "MODEL_NAME": "x",
        "MODEL_API_MODE": "Local",
    }
    with pytest.raises(SettingsError, match="MODEL_API_MODE"):
        load_settings(env)


@pytest.mark.parametrize("listing", ["a,b-c", "[a,b-c]", '["a", "b-c"]', " a , b-c ,"])
def test_name_lists_in_every_spelling(listing):
    env = {
        **BASE,
        "MCP_SERVERS": listing,
        "MCP_SERVER_a_URL": "http://a:8000",
        "MCP_SERVER_b-c_URL": "http://bc:8000",
        "PEER_AGENTS": listing,
        "PEER_AGENT_A_CARD_URL": "http://agent-a:8000",
        "PEER_AGENT_B_C_CARD_URL": "http://agent-b-c:8000",
    }
    s = load_settings(env)
    assert list(s.mcp_servers) == ["a", "b-c"]
    assert list(s.peer_agents) == ["a", "b-c"]


@pytest.mark.parametrize("raw", ["sk-123\n", "  sk-123\r\n", "\tsk-123 "])
def test_a_key_with_surrounding_whitespace_is_trimmed_with_a_warning(raw):
    settings = load_settings({**BASE, "MODEL_API_KEY": raw})
    assert settings.model_api_key == "sk-123"
    assert len(settings.startup_warnings) == 1
    assert "MODEL_API_KEY: surrounding whitespace removed" in settings.startup_warnings[0]
    assert load_settings({**BASE, "MODEL_API_KEY": "sk-123"}).startup_warnings == ()


def test_a_key_with_a_line_break_stops_start_up_without_showing_the_key():
    result = _run_main({**BASE, "MODEL_API_KEY": "sk-secret-part\nX-Injected: yes"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "kaos-agent: configuration error: MODEL_API_KEY: contains a control character "
        "('\\n' at position 15 of 30); a key is one line of printable characters"
    )
    assert "secret" not in result.stderr
