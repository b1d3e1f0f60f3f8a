"""No user text can break or inject YAML: arbitrary text round-trips through render and the
real `kubectl kustomize` into the environment the container sees.

Hypothesis writes Agent `config.instructions` / `config.description` and MCPServer
`params` (tool source) full of quotes, colons, `{{ }}` / `{% %}`, YAML document markers,
line breaks of every kind, BOMs, tabs, emoji and `$(VAR)` references. The input documents
are written by a YAML emitter (ruamel), so the input is always correct YAML; the test then
checks the *output*: after `kubectl kustomize`, each env value - as the kubelet expands it -
equals the input exactly, and nothing else in the output changed.
"""

from __future__ import annotations

import ast
import copy
import io
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from support.compiler import build_overlay, dump_all, env_value, kaos, run_kaosgen, tree

FRAGMENTS = [
    "'", '"', ":", ": ", "a: b", " #", "# c", "{{ x }}", "{% if x %}", "{#", "}}", "\n", "\r\n",
    "\r", "---", "...", "\n---\n", "\n...\n", "--- x", " ", "  ", "\t", "\x85", "\u2028",
    "\u2029", "\ufeff", "😀", "é", "日本", "- ", "? ", "|", ">", "&a", "*a", "!tag", "%YAML",
    "@", "`", "\\", "\\n", "$(AGENT_NAME)", "$$", "$", "${X}", "null", "true", "0x1F", "1e3",
    "~", "\x00", "\x07", "\x1b", "\x7f", "\ufffe", "\U0010ffff", "<<", "=", ",", "[", "]", "{",
]  # fmt: skip
#: What `kubectl kustomize` cannot carry (it fails, or turns NEL into a space): kaosgen
#: rejects these with `unsupported-character` (tested below) instead of writing them.
KUSTOMIZE_UNSAFE = re.compile("[\x7f-\x9f\ufffe\uffff]")
any_text = (
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), min_size=1, max_size=10)
    .map("".join)
    .filter(bool)
)
texts = any_text.map(lambda t: KUSTOMIZE_UNSAFE.sub("", t)).filter(bool)

N_AGENTS = 4
N_SERVERS = 2


def k8s_expand(value: str, defined: dict[str, str]) -> str:
    """What the kubelet makes of an env value: `$(VAR)` of an earlier variable is replaced,
    `$$` becomes `$`, anything else stays (Kubernetes' expansion.Expand)."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            nxt = value[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = value.find(")", i + 2)
                if end != -1:
                    name = value[i + 2 : end]
                    out.append(defined[name] if name in defined else value[i : end + 1])
                    i = end + 1
                    continue
        out.append(value[i])
        i += 1
    return "".join(out)


def seen_by_container(deployment: dict[str, Any], container: str, name: str) -> str:
    defined: dict[str, str] = {}
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] != container:
            continue
        for entry in c.get("env") or []:
            if "value" in entry:
                defined[entry["name"]] = k8s_expand(entry["value"], defined)
            if entry["name"] == name:
                return defined[name]
    raise AssertionError(f"{deployment['metadata']['name']} has no {name}")


def tool_source(text: str) -> str:
    """Python that compiles whatever `text` is: a string literal, and each line as a comment."""
    comment_lines = text.replace("\x00", "").replace("\r", "\n").split("\n")
    comments = "".join(f"# {line}\n" for line in comment_lines)
    return f'def tool() -> str:\n    """Return the text."""\n    return {text!r}\n{comments}'


def documents(instructions: list[str], descriptions: list[str], sources: list[str]) -> list[dict]:
    docs = [kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}})]
    for i, source in enumerate(sources):
        docs.append(kaos("MCPServer", f"tools-{i}", {"runtime": "python-string", "params": source}))
    for i, (instr, desc) in enumerate(zip(instructions, descriptions, strict=True)):
        spec = {
            "modelAPI": "llm",
            "model": "smollm2:135m",
            "mcpServers": [f"tools-{i % len(sources)}"],
            "config": {"instructions": instr, "description": desc},
        }
        docs.append(kaos("Agent", f"agent-{i}", spec))
    return docs


def _input_round_trips(text: str) -> bool:
    """The emitter we build the input with must itself represent the text faithfully."""
    yaml = YAML(typ="safe", pure=True)
    try:
        return yaml.load(io.StringIO(dump_all([{"t": text}]))) == {"t": text}
    except Exception:
        return False


def render_and_build(docs: list[dict]) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "resources.yaml").write_text(dump_all(docs), encoding="utf-8")
        result = run_kaosgen("render", "resources.yaml", "-o", "out", "--quiet", cwd=root)
        assert result.traceback is None, result.traceback
        assert result.exit_code == 0, result.output
        return build_overlay(root / "out" / "overlays" / "default"), tree(root / "out")


VARYING = {"AGENT_INSTRUCTIONS", "AGENT_DESCRIPTION", "MCP_TOOLS_STRING"}


def skeleton(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output with the user's text and the content hash blanked out."""
    out = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        if obj["kind"] == "Deployment":
            template = obj["spec"]["template"]
            template["metadata"]["annotations"]["kaosgen.dev/config-hash"] = "<hash>"
            for c in template["spec"]["containers"]:
                for entry in c.get("env") or []:
                    if entry["name"] in VARYING:
                        entry["value"] = "<text>"
        out.append(obj)
    return out


_BASELINE: list[list[dict[str, Any]]] = []


def baseline() -> list[dict[str, Any]]:
    if not _BASELINE:
        plain = ["plain"] * N_AGENTS
        objects, _ = render_and_build(documents(plain, plain, [tool_source("plain")] * N_SERVERS))
        _BASELINE.append(skeleton(objects))
    return _BASELINE[0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(texts, min_size=N_AGENTS, max_size=N_AGENTS),
    st.lists(texts, min_size=N_AGENTS, max_size=N_AGENTS),
    st.lists(texts, min_size=N_SERVERS, max_size=N_SERVERS),
)
def test_arbitrary_text_round_trips_through_kubectl_kustomize(
    instructions: list[str], descriptions: list[str], tool_texts: list[str]
) -> None:
    sources = [tool_source(t) for t in tool_texts]
    assume(all(_input_round_trips(t) for t in [*instructions, *descriptions, *sources]))
    objects, _ = render_and_build(documents(instructions, descriptions, sources))
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    for i, (instr, desc) in enumerate(zip(instructions, descriptions, strict=True)):
        agent = deployments[f"agent-agent-{i}"]
        assert seen_by_container(agent, "agent", "AGENT_INSTRUCTIONS") == instr
        assert seen_by_container(agent, "agent", "AGENT_DESCRIPTION") == desc
        assert env_value(agent, "agent", "AGENT_NAME") == f"agent-{i}"
    for i, source in enumerate(sources):
        server = deployments[f"mcpserver-tools-{i}"]
        assert seen_by_container(server, "mcp-server", "MCP_TOOLS_STRING") == source
    assert skeleton(objects) == baseline()


def test_dollar_references_are_not_expanded_by_the_kubelet() -> None:
    """`$(AGENT_NAME)` in instructions is text for the model, not a variable reference."""
    text = "Say $(AGENT_NAME) and $$ and $5 and ${HOME}."
    objects, _ = render_and_build(
        documents([text] * N_AGENTS, ["d"] * N_AGENTS, [tool_source(text)] * N_SERVERS)
    )
    agent = next(
        o for o in objects if o["metadata"]["name"] == "agent-agent-0" and o["kind"] == "Deployment"
    )
    assert seen_by_container(agent, "agent", "AGENT_INSTRUCTIONS") == text


def test_k8s_expand_follows_kubernetes() -> None:
    defined = {"A": "x"}
    assert k8s_expand("$(A)", defined) == "x"
    assert k8s_expand("$$(A)", defined) == "$(A)"
    assert k8s_expand("$(B)", defined) == "$(B)"
    assert k8s_expand("a$b$", defined) == "a$b$"
    assert k8s_expand("$(A", defined) == "$(A"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_tool_source_that_does_not_compile_is_rejected_cleanly(text: str) -> None:
    """Raw text as params: it renders when it is a valid tool module, else fails with
    mcpserver-source and writes nothing."""
    assume(_input_round_trips(text))
    try:
        module = ast.parse(text)
        has_tool = any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")
            for n in module.body
        )
    except (SyntaxError, ValueError):
        has_tool = False
    docs = documents(["i"], ["d"], [text])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "resources.yaml").write_text(dump_all(docs), encoding="utf-8")
        result = run_kaosgen("render", "resources.yaml", "-o", "out", "--format", "json", cwd=root)
        assert result.traceback is None, result.traceback
        if has_tool:
            assert result.exit_code == 0
        else:
            assert result.exit_code == 1
            rules = {d["rule"] for d in result.json()["diagnostics"]}
            assert rules == {"mcpserver-source"}, result.stdout
            assert not (root / "out").exists()


@settings(max_examples=10, deadline=None)
@given(any_text, st.sampled_from(["\x85", "\x7f", "\x9b", "\ufffe", "\uffff"]))
def test_text_kustomize_cannot_carry_is_rejected_cleanly(text: str, bad: str) -> None:
    text = text + bad
    assume(_input_round_trips(text))
    docs = documents([text], ["d"], [tool_source("t")])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "resources.yaml").write_text(dump_all(docs), encoding="utf-8")
        result = run_kaosgen("render", "resources.yaml", "-o", "out", "--format", "json", cwd=root)
        assert result.traceback is None, result.traceback
        assert result.exit_code == 1
        diagnostics = result.json()["diagnostics"]
        assert {d["rule"] for d in diagnostics} == {"unsupported-character"}
        assert not (root / "out").exists()
