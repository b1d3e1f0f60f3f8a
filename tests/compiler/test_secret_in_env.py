"""A credential given as a literal env value would be written into the rendered output (and
so into git): it is warned about where it is set, like a pass-through Secret with data.
Values that only look like settings (a password *file*, a token budget) are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.compiler import validate_json

PROJECT = "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
API = (
    "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
    "spec: {mode: Hosted, hostedConfig: {model: 'smollm2:135m'}}\n---\n"
)


def _agent(env_block: str) -> str:
    return (
        API + "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"
        "spec:\n  modelAPI: llm\n  model: 'smollm2:135m'\n" + env_block
    )


def _warnings(tmp_path: Path, resources: str) -> list[dict]:
    (tmp_path / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(resources, encoding="utf-8")
    _, diagnostics = validate_json(tmp_path)
    assert not [d for d in diagnostics if d["severity"] == "error"], diagnostics
    return [d for d in diagnostics if d["rule"] == "secret-in-env"]


SECRET_LIKE = {
    "OPENAI_API_KEY": "not-a-real-key-but-a-literal",
    "GITHUB_TOKEN": "abc123def456",
    "DB_PASSWORD": "hunter2",
    "CLIENT_SECRET": "s3cr3t",
    "UPSTREAM": "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
    "SLACK": "xoxb-1234567890-abcdefghij",
    "MEMORY_REDIS_URL": "redis://:hunter2@redis.example.com:6379/0",
}


@pytest.mark.parametrize("name", sorted(SECRET_LIKE))
def test_a_literal_credential_in_container_env_is_warned_about(name: str, tmp_path: Path) -> None:
    env = f"  container:\n    env:\n    - name: {name}\n      value: '{SECRET_LIKE[name]}'\n"
    warnings = _warnings(tmp_path, _agent(env))
    assert len(warnings) == 1, warnings
    assert name in warnings[0]["message"]
    assert warnings[0]["line"] == 14  # the entry's name, in r.yaml
    assert "secretKeyRef" in warnings[0]["hint"]


def test_a_literal_credential_in_a_pod_spec_container_is_warned_about(tmp_path: Path) -> None:
    env = (
        "  podSpec:\n    containers:\n    - name: agent\n      env:\n"
        "      - {name: SIDE_TOKEN, value: abcdef}\n"
    )
    warnings = _warnings(tmp_path, _agent(env))
    assert len(warnings) == 1, warnings
    assert "SIDE_TOKEN" in warnings[0]["message"]


NOT_SECRETS = {
    "MEMORY_REDIS_PASSWORD_FILE": "/var/run/secrets/redis/password",
    "MAX_TOKENS": "4096",
    "MODEL_CALL_BUDGET": "20",
    "MEMORY_REDIS_URL": "redis://redis.example.com:6379/0",
    "API_KEY_HEADER": "",
    "LOG_LEVEL": "debug",
}


@pytest.mark.parametrize("name", sorted(NOT_SECRETS))
def test_settings_are_not_credentials(name: str, tmp_path: Path) -> None:
    env = f"  container:\n    env:\n    - name: {name}\n      value: '{NOT_SECRETS[name]}'\n"
    assert not _warnings(tmp_path, _agent(env))


def test_a_reference_is_not_warned_about(tmp_path: Path) -> None:
    env = (
        "  container:\n    env:\n    - name: OPENAI_API_KEY\n"
        "      valueFrom: {secretKeyRef: {name: llm, key: key}}\n"
    )
    assert not _warnings(tmp_path, _agent(env))
