"""`kaosgen graph`: Mermaid and DOT of the agent network, SVG/PNG through Graphviz."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.devtools import BIN, REPO, kaosgen, tool_env

MULTI = REPO / "examples" / "multi-agent"
HIERARCHY = REPO / "examples" / "hierarchy"


def test_mermaid_shows_workloads_delegation_and_gateway_routes() -> None:
    out = kaosgen("graph", str(MULTI), "--env", "prod", cwd=REPO, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    assert 'agent__coordinator["Agent coordinator"]:::agent' in out
    assert 'modelapi__ollama[("ModelAPI ollama<br/>Hosted: smollm2:135m")]:::modelapi' in out
    assert 'mcpserver__math_tools[["MCPServer math-tools<br/>python-string"]]:::mcpserver' in out
    assert '  agent__coordinator ==>|"delegates"| agent__researcher' in lines
    assert '  agent__coordinator ==>|"delegates"| agent__calculator' in lines
    assert '  agent__calculator -->|"tools"| mcpserver__math_tools' in lines
    assert any(
        line.startswith("  agent__researcher -->|") and line.endswith("| modelapi__ollama")
        for line in lines
    )
    assert '  gateway -.->|"/agents-prod/agent/coordinator"| agent__coordinator' in lines
    # Only what the environment routes: the coordinator; not the specialists (route
    # disabled in kaosgen.yaml), not the MCP servers or the ModelAPI (not routed by default).
    routed = [line for line in lines if line.startswith("  gateway -.->")]
    assert routed == ['  gateway -.->|"/agents-prod/agent/coordinator"| agent__coordinator']


def test_dot_is_valid_graphviz_and_draws_svg_and_png(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (.ci/run installs it)")
    dot = kaosgen("graph", str(HIERARCHY), "--format", "dot", cwd=REPO, check=True).stdout
    assert dot.startswith("digraph kaos {")
    assert "style=bold" in dot  # delegation edges
    check = subprocess.run(["dot", "-Tcanon"], input=dot, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    svg = subprocess.run(
        [str(BIN / "kaosgen"), "graph", str(HIERARCHY), "--output", "svg"],
        capture_output=True,
        env=tool_env(),
    )
    assert svg.returncode == 0 and b"<svg" in svg.stdout
    target = tmp_path / "net.png"
    kaosgen("graph", str(HIERARCHY), "--output", str(target), cwd=REPO, check=True)
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    text_file = tmp_path / "net.mmd"
    kaosgen("graph", str(HIERARCHY), "--output", str(text_file), cwd=REPO, check=True)
    assert text_file.read_text(encoding="utf-8").startswith("flowchart LR")


def test_image_output_without_graphviz_is_a_clear_error(tmp_path: Path) -> None:
    # A PATH with this venv (kaosgen) and git, but no `dot`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = tool_env()
    env["PATH"] = os.pathsep.join([str(BIN), str(bin_dir)])
    proc = subprocess.run(
        [str(BIN / "kaosgen"), "graph", str(MULTI), "--output", "png"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "needs Graphviz's `dot`" in proc.stderr and "--format mermaid" in proc.stderr
    assert proc.stdout == ""


def test_invalid_project_draws_nothing(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(MULTI, project, ignore=shutil.ignore_patterns("deploy"))
    agents = project / "agents.yaml"
    agents.write_text(
        agents.read_text(encoding="utf-8").replace("modelAPI: ollama", "modelAPI: nope", 1),
        encoding="utf-8",
    )
    proc = kaosgen("graph", ".", cwd=project)
    assert proc.returncode == 1 and proc.stdout == "" and "[ref-modelapi]" in proc.stderr


def test_labels_cannot_break_out_of_mermaid_or_dot_strings() -> None:
    from kaosgen.netgraph import Net, to_dot, to_mermaid

    net = Net(
        nodes=[("a", "Agent", 'Agent x"]; evil[("y', ""), ("m", "ModelAPI", "ModelAPI m", "")],
        edges=[("a", "m", 'gpt"4<b>\\n|x|', "model")],
    )
    mermaid = to_mermaid(net)
    assert 'a["Agent x#quot;]; evil[(#quot;y"]:::agent' in mermaid
    assert '-->|"gpt#quot;4#lt;b#gt;\\n|x|"|' in mermaid
    dot = to_dot(net)
    assert 'label="Agent x\\"]; evil[(\\"y"' in dot
    assert 'label="gpt\\"4<b>\\\\n|x|"' in dot
