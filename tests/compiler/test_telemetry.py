"""spec.telemetry on every kind becomes OpenTelemetry configuration of its workload."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from kaosgen.pipeline import compile_project

SOURCE = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: proxy}
spec:
  mode: Proxy
  proxyConfig: {models: ["*"], provider: openai}
  telemetry: {enabled: true, endpoint: "http://otel-collector:4318"}
---
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: ollama}
spec:
  mode: Hosted
  hostedConfig: {model: "smollm2:135m"}
  telemetry: {enabled: true}
---
apiVersion: kaos.tools/v1alpha1
kind: MCPServer
metadata: {name: tools}
spec:
  runtime: python-string
  params: "def f() -> int:\\n    return 1\\n"
  telemetry: {enabled: true, endpoint: "http://otel-collector:4317"}
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: quiet}
spec: {modelAPI: proxy, model: gpt-4o}
"""


def _objects(files: dict[str, str], path: str) -> list[dict]:
    return [d for d in YAML(typ="safe").load_all(files[path]) if d]


def _env(files: dict[str, str], path: str, container: str) -> dict[str, str]:
    (deployment,) = [o for o in _objects(files, path) if o["kind"] == "Deployment"]
    (main,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container
    ]
    return {e["name"]: e.get("value") for e in main.get("env", [])}


def test_telemetry_configures_each_workload(tmp_path: Path) -> None:
    (tmp_path / "kaos.yaml").write_text(SOURCE, encoding="utf-8")
    result = compile_project([str(tmp_path / "kaos.yaml")], output=str(tmp_path / "out"))
    assert result.ok, [d.message for d in result.diagnostics.items]
    mcp = _env(result.files, "base/mcpservers/tools.yaml", "mcp-server")
    assert mcp["OTEL_SDK_DISABLED"] == "false"
    assert mcp["OTEL_SERVICE_NAME"] == "tools"
    assert mcp["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
    assert mcp["OTEL_RESOURCE_ATTRIBUTES"] == "service.namespace=default,kaos.resource.name=tools"
    proxy = _env(result.files, "base/modelapis/proxy.yaml", "model-api")
    assert proxy["OTEL_ENDPOINT"] == "http://otel-collector:4318"
    assert proxy["OTEL_EXPORTER"] == "otlp_http"
    (config_map,) = [
        o for o in _objects(result.files, "base/modelapis/proxy.yaml") if o["kind"] == "ConfigMap"
    ]
    config = YAML(typ="safe").load(config_map["data"]["config.yaml"])
    assert config["litellm_settings"]["callbacks"] == ["otel"]
    # Telemetry off: no OTEL variables at all.
    assert not [
        k for k in _env(result.files, "base/agents/quiet.yaml", "agent") if k.startswith("OTEL")
    ]
    # Ollama cannot export: a warning at spec.telemetry, nothing rendered.
    warnings = [d for d in result.diagnostics.warnings if d.rule == "telemetry-unsupported"]
    assert [(w.location.line, w.location.column) for w in warnings] == [(15, 3)]
    assert not [
        k
        for k in _env(result.files, "base/modelapis/ollama.yaml", "model-api")
        if k.startswith("OTEL")
    ]
