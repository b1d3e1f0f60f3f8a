"""Credentials inside text kaosgen writes verbatim (a LiteLLM config into a ConfigMap, an
MCP server's tool source, an apiBase or telemetry URL into env values) are warned about
where they are written; references (`os.environ/...`, a Secret) are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.compiler import validate_json

PROJECT = "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"


def _findings(tmp_path: Path, resources: str) -> list[dict]:
    (tmp_path / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(resources, encoding="utf-8")
    _, diagnostics = validate_json(tmp_path)
    assert not [d for d in diagnostics if d["severity"] == "error"], diagnostics
    return [d for d in diagnostics if d["rule"] == "secret-in-output"]


def _proxy(proxy_config: str) -> str:
    return (
        "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
        "spec:\n  mode: Proxy\n  proxyConfig:\n" + proxy_config
    )


def _config(api_key: str) -> str:
    return (
        "    models: [gpt-4o]\n    configYaml:\n      fromString: |\n"
        "        model_list:\n        - model_name: gpt-4o\n          litellm_params:\n"
        f"            model: openai/gpt-4o\n            api_key: {api_key}\n"
    )


def _tools(source_line: str) -> str:
    return (
        "apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata: {name: t}\n"
        "spec:\n  runtime: python-string\n  params: |\n"
        f"    {source_line}\n    def f() -> str:\n        return 'x'\n"
    )


@pytest.mark.parametrize(
    ("resources", "line"),
    [
        (_proxy(_config("hunter2-not-a-reference")), 9),
        (_proxy(_config(KEY)), 9),
        (_proxy("    models: [gpt-4o]\n    apiBase: 'https://user:pw@llm.example.com/v1'\n"), 8),
        (_tools(f'KEY = "{KEY}"'), 6),
        (_tools('DB = "postgres://app:hunter2@db:5432/app"'), 6),
    ],
    ids=["config-api-key", "config-key-shape", "api-base-password", "source-key", "source-url"],
)
def test_a_credential_in_verbatim_text_is_warned_about(
    resources: str, line: int, tmp_path: Path
) -> None:
    (finding,) = _findings(tmp_path, resources)
    assert finding["severity"] == "warning"
    assert finding["line"] == line
    assert "secretKeyRef" in finding["hint"]


@pytest.mark.parametrize(
    "resources",
    [
        _proxy(_config("os.environ/OPENAI_API_KEY")),
        _proxy("    models: [gpt-4o]\n    apiBase: 'https://llm.example.com/v1'\n"),
        _tools('URL = "https://api.example.com/v1"  # sk-short'),
        _proxy("    models: [gpt-4o]\n    configYaml:\n      fromString: '[[[[[[[['\n"),
    ],
    ids=["env-reference", "plain-url", "no-credential", "unparsable-config"],
)
def test_references_and_plain_text_are_not(resources: str, tmp_path: Path) -> None:
    assert _findings(tmp_path, resources) == []
