"""`kaosgen init [DIR]`: a project that validates and renders out of the box.

One Hosted ModelAPI (Ollama with a 135M model, no API key), one Python MCP tool server,
one agent using both, and dev/prod environments. Every file starts with a
`# yaml-language-server: $schema=` modeline so editors complete and check fields.
"""

from __future__ import annotations

from pathlib import Path

from kaosgen.jsonschemas import SCHEMA_BASE_URL


def modeline(schema_file: str) -> str:
    return f"# yaml-language-server: $schema={SCHEMA_BASE_URL}{schema_file}\n"


PROJECT = """\
# kaosgen project: environments, images, gateway and GitOps delivery.
# `kaosgen explain Project.environments` documents every field.
apiVersion: kaosgen.dev/v1alpha1
kind: Project
output: deploy
environments:
  dev:
    namespace: agents-dev
  prod:
    namespace: agents-prod
    # More replicas need shared session memory: components.redis: true and
    # spec.config.memory.type: redis in the agent.
    replicas: 1
# Expose the agents through a Gateway API gateway over HTTPS, every route behind an API
# key; both Secrets are yours to create (`kaosgen explain Project.gateway`):
# gateway:
#   enabled: true
#   vendor: envoy
#   tls: {certificateSecret: agents-tls}
#   auth:
#     apiKey: {secretRef: {name: agents-api-keys}}
# Deliver with Flux and/or Argo CD, objects in deploy/clusters/<env>/
# (`kaosgen explain Project.gitops`):
# gitops:
#   repository:
#     url: https://github.com/example/agents.git
#     revision: main
#   flux: {}
#   argocd: {}
"""

MODELAPI = """\
# A small model served in the cluster by Ollama (no API key needed).
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata:
  name: ollama
spec:
  mode: Hosted
  hostedConfig:
    model: smollm2:135m
"""

MCPSERVER = """\
# A tool server: each Python function below becomes an MCP tool.
apiVersion: kaos.tools/v1alpha1
kind: MCPServer
metadata:
  name: echo-tools
spec:
  runtime: python-string
  params: |
    def echo(text: str) -> str:
        \"\"\"Return the text unchanged.\"\"\"
        return text
"""

AGENT = """\
# The agent: a model from the ModelAPI, tools from the MCP server.
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata:
  name: assistant
spec:
  modelAPI: ollama
  model: ollama/smollm2:135m
  mcpServers:
  - echo-tools
  config:
    description: A helpful assistant with an echo tool.
    instructions: |
      You are a helpful assistant. When the user asks you to repeat something,
      call the echo tool with their text and return its result.
    reasoningLoopMaxSteps: 5
"""

FILES = {
    "kaosgen.yaml": modeline("kaosgen.schema.json") + PROJECT,
    "modelapi.yaml": modeline("modelapi.schema.json") + MODELAPI,
    "mcpserver.yaml": modeline("mcpserver.schema.json") + MCPSERVER,
    "agent.yaml": modeline("agent.schema.json") + AGENT,
}


def scaffold(directory: Path) -> list[Path]:
    """Write the project files; raise FileExistsError (writing nothing) if any exists."""
    targets = [directory / name for name in FILES]
    existing = [p for p in targets if p.exists()]
    if existing:
        raise FileExistsError(", ".join(str(p) for p in existing))
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (directory / name).write_text(text, encoding="utf-8")
    return targets
