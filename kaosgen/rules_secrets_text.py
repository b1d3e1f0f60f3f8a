"""Credentials inside text kaosgen writes out verbatim: a Proxy ModelAPI's
`configYaml.fromString` (a ConfigMap), an MCP server's Python source (an env value),
`proxyConfig.apiBase` and telemetry endpoints (env values). Each ends up in git like a
literal env value does (rules_secrets), so each is warned about where it is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kaosgen.diagnostics import Diagnostics, Location
from kaosgen.graph import Graph, MCPServerNode, ModelAPINode, Workload
from kaosgen.rules_secrets import HINT, looks_like_a_credential

#: Well-known credential shapes anywhere in a text (rules_secrets matches whole values).
_IN_TEXT = re.compile(
    r"(?<![\w-])(sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}"
    r"|glpat-[\w-]{20,}|xox[abprs]-[\w-]{10,}|AKIA[0-9A-Z]{16}|AIza[\w-]{35})(?![\w-])"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\b[a-z][a-z0-9+.-]*://[^/@\s:'\"]*:[^/@\s'\"]+@"
)
#: LiteLLM reads `os.environ/NAME` as the variable's value: a reference, not a secret.
_ENV_REFERENCE = "os.environ/"


def _config_literals(data: Any, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(key, value) of every string value under a credential-like key in a parsed
    LiteLLM config, references to the environment excepted."""
    if depth > 50 or not isinstance(data, dict | list):
        return
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        if isinstance(value, dict | list):
            yield from _config_literals(value, depth + 1)
        elif (
            isinstance(value, str)
            and isinstance(key, str)
            and not value.strip().startswith(_ENV_REFERENCE)
        ):
            yield key, value


def _config_problem(text: str) -> str | None:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(text)
    except (YAMLError, ValueError, RecursionError):
        data = None
    for key, value in _config_literals(data):
        if looks_like_a_credential(key.upper().replace("-", "_"), value):
            return f"its {key} is a literal value"
    return "it holds a credential" if _IN_TEXT.search(text) else None


def _where(node: Workload, *paths: tuple) -> Location:
    for path in paths:
        if path in node.doc.values:
            return node.doc.location(path)
    return node.doc.location(paths[0])


def _findings(node: Workload) -> Iterator[tuple[str, Location]]:
    if isinstance(node, ModelAPINode):
        text = node.config_yaml.from_string if node.config_yaml else None
        problem = _config_problem(text) if text else None
        if problem:
            yield (
                f"configYaml.fromString is written into a ConfigMap and {problem}",
                _where(node, ("spec", "proxyConfig", "configYaml", "fromString")),
            )
        if node.api_base and _IN_TEXT.search(node.api_base):
            yield (
                "proxyConfig.apiBase carries a credential and is written into the Deployment",
                _where(node, ("spec", "proxyConfig", "apiBase")),
            )
    if isinstance(node, MCPServerNode) and node.params and _IN_TEXT.search(node.params):
        yield (
            "the tool source holds a credential and is written into the Deployment",
            _where(
                node,
                ("spec", "params"),
                ("spec", "config", "tools", "fromString"),
                ("spec", "config", "mcp"),
            ),
        )
    endpoint = node.telemetry.endpoint if node.telemetry else None
    if endpoint and _IN_TEXT.search(endpoint):
        yield (
            "the telemetry endpoint carries a credential and is written into the Deployment",
            node.doc.location(("spec",)),
        )


def check(graph: Graph, diags: Diagnostics) -> None:
    for node in graph.workloads():
        for message, where in _findings(node):
            diags.warning(
                "secret-in-output", f"{node.kind} {node.name!r}: {message}", where, hint=HINT
            )
