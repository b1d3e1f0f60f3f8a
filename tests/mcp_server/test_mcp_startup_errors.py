"""Bad tool source or settings stop the MCP tool server with one clear line and exit 2.

The loaders are checked in process (fast, every case); a few cases run the real entry
point to pin the exit code and the single stderr line.
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest
from kaos_runtime.mcp_server.app import server_from_functions
from kaos_runtime.mcp_server.config import cluster_dns, load_config
from kaos_runtime.mcp_server.errors import StartupError
from kaos_runtime.mcp_server.tool_source import load_tool_functions
from support.mcp_server import run_to_exit

BAD_SOURCES = {
    "syntax": (
        "def ok(x: int) -> int:\n    return x\n\ndef broken(:\n    pass\n",
        ("<MCP_TOOLS_STRING>, line 4", "SyntaxError"),
    ),
    "indentation": (
        "def f():\n  return 1\n    return 2\n",
        ("<MCP_TOOLS_STRING>, line 3", "IndentationError"),
    ),
    "no-function": ("x = 1\nimport json\n", ("<MCP_TOOLS_STRING>", "defines no function")),
    "empty": ("", ("defines no function",)),
    "only-private": ("def _private():\n    pass\n", ("defines no function",)),
    "import": (
        "import json\nimport not_a_real_module_xyz\n\ndef f() -> int:\n    return 1\n",
        ("<MCP_TOOLS_STRING>, line 2", "ModuleNotFoundError", "not_a_real_module_xyz"),
    ),
    "runtime": (
        "def f() -> int:\n    return 1\n\n\nVALUE = 1 / 0\n",
        ("<MCP_TOOLS_STRING>, line 5", "ZeroDivisionError"),
    ),
    "null-byte": ("def f():\n    return '\0'\n", ("<MCP_TOOLS_STRING>",)),
}


@pytest.mark.parametrize(("source", "fragments"), BAD_SOURCES.values(), ids=BAD_SOURCES.keys())
def test_bad_tool_source(source: str, fragments: tuple[str, ...]) -> None:
    with pytest.raises(StartupError) as caught:
        load_tool_functions(source)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_unsupported_signature_names_the_line() -> None:
    functions = load_tool_functions("\n\ndef f(*args) -> int:\n    return 1\n")
    with pytest.raises(StartupError, match=r"<MCP_TOOLS_STRING>, line 3: cannot make tool 'f'"):
        server_from_functions("x", functions)


def test_tools_are_the_public_top_level_functions_in_order() -> None:
    source = textwrap.dedent(
        """
        from os.path import join

        def b(): ...
        async def a(): ...
        def _hidden(): ...
        class C:
            def method(self): ...
        def b(): return 2
        lam = lambda: 1
        """
    )
    functions = load_tool_functions(source)
    assert [f.__name__ for f in functions] == ["b", "a"]
    assert functions[0]() == 2  # the last definition wins, in its first position


def test_string_annotations_resolve() -> None:
    source = "from __future__ import annotations\nimport decimal\n\ndef f(x: decimal.Decimal) -> str:\n    return str(x)\n"
    server = server_from_functions("x", load_tool_functions(source))
    assert server.name == "x"


BAD_SETTINGS = {
    "nothing": ({}, ("MCP_TOOLS_STRING", "MCP_PACKAGE")),
    "both": ({"MCP_TOOLS_STRING": "def f(): pass", "MCP_PACKAGE": "x"}, ("only one of",)),
    "port": ({"MCP_TOOLS_STRING": "", "MCP_PORT": "eighty"}, ("MCP_PORT", "'eighty'")),
    "port-range": ({"MCP_TOOLS_STRING": "", "MCP_PORT": "70000"}, ("MCP_PORT",)),
    "log-level": ({"MCP_TOOLS_STRING": "", "MCP_LOG_LEVEL": "loud"}, ("MCP_LOG_LEVEL",)),
    "access-log": ({"MCP_TOOLS_STRING": "", "MCP_ACCESS_LOG": "maybe"}, ("MCP_ACCESS_LOG",)),
    "allowed-host-url": (
        {"MCP_TOOLS_STRING": "", "MCP_ALLOWED_HOSTS": "a.example.com,https://b.example.com"},
        ("MCP_ALLOWED_HOSTS", "host names", "'https://b.example.com'"),
    ),
    "allowed-host-space": (
        {"MCP_TOOLS_STRING": "", "MCP_ALLOWED_HOSTS": "a example.com"},
        ("MCP_ALLOWED_HOSTS",),
    ),
    "read-timeout": (
        {"MCP_TOOLS_STRING": "", "MCP_REQUEST_READ_TIMEOUT_SECONDS": "0"},
        ("MCP_REQUEST_READ_TIMEOUT_SECONDS", "positive", "'0'"),
    ),
    "read-timeout-nan": (
        {"MCP_TOOLS_STRING": "", "MCP_REQUEST_READ_TIMEOUT_SECONDS": "nan"},
        ("MCP_REQUEST_READ_TIMEOUT_SECONDS", "'nan'"),
    ),
    "allowed-origin-no-scheme": (
        {"MCP_TOOLS_STRING": "", "MCP_ALLOWED_ORIGINS": "ui.example.com"},
        ("MCP_ALLOWED_ORIGINS", "https://host", "'ui.example.com'"),
    ),
}


@pytest.mark.parametrize(("env", "fragments"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_bad_settings(env: dict[str, str], fragments: tuple[str, ...]) -> None:
    with pytest.raises(StartupError) as caught:
        load_config(env)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_settings_defaults_and_overrides() -> None:
    config = load_config({"MCP_TOOLS_STRING": "def f(): pass"})
    assert (config.host, config.port, config.path) == ("0.0.0.0", 8000, "/mcp")
    assert (config.name, config.log_level, config.access_log, config.stateless) == (
        "kaos-mcp-server",
        "INFO",
        False,
        True,
    )
    config = load_config(
        {
            "MCP_PACKAGE": "my-tools",
            "MCP_PORT": "9000",
            "MCP_HOST": "127.0.0.1",
            "LOG_LEVEL": "debug",
            "MCP_ACCESS_LOG": "true",
            "FASTMCP_STATELESS_HTTP": "false",
        }
    )
    assert config.tools_source is None
    assert (config.package, config.name, config.port, config.host) == (
        "my-tools",
        "my-tools",
        9000,
        "127.0.0.1",
    )
    assert (config.log_level, config.access_log, config.stateless) == ("DEBUG", True, False)
    assert load_config({"MCP_PACKAGE": "p", "MCP_SERVER_NAME": "named"}).name == "named"


KUBERNETES_RESOLV_CONF = """\
search team.svc.corp.internal svc.corp.internal corp.internal
nameserver 10.96.0.10
options ndots:5
"""


def test_the_cluster_namespace_and_domain_come_from_the_pod_dns_search_list() -> None:
    assert cluster_dns(KUBERNETES_RESOLV_CONF) == ("team", "corp.internal")
    assert cluster_dns("nameserver 1.1.1.1\nsearch example.com\n") == (None, None)
    assert cluster_dns("") == (None, None)


def test_allowed_hosts_are_the_service_names_then_the_allow_list() -> None:
    tools = {"MCP_TOOLS_STRING": "def f(): pass"}
    config = load_config(
        {**tools, "MCP_SERVICE_NAME": "mcpserver-x", "MCP_ALLOWED_HOSTS": "gw.example.com"},
        resolv_conf=KUBERNETES_RESOLV_CONF,
    )
    assert config.allowed_hosts == (
        "mcpserver-x",
        "mcpserver-x.team",
        "mcpserver-x.team.svc",
        "mcpserver-x.team.svc.corp.internal",
        "gw.example.com",
    )
    # POD_NAMESPACE (the downward API) wins over the search list; cluster.local by default.
    config = load_config(
        {**tools, "MCP_SERVICE_NAME": "mcpserver-x", "POD_NAMESPACE": "prod"}, resolv_conf=""
    )
    assert config.allowed_hosts[-1] == "mcpserver-x.prod.svc.cluster.local"
    # Outside a cluster, without a Service: loopback and the pod address only.
    assert load_config(tools, resolv_conf="").allowed_hosts == ()
    assert (
        load_config({**tools, "HOSTNAME": "web-5d8f7c9b6-x2x4z"}, resolv_conf="").allowed_hosts
        == ()
    )


def test_under_the_kaos_operator_the_service_is_the_deployment_that_named_the_pod() -> None:
    """KAOS sets no MCP_SERVICE_NAME; its Service has the Deployment's name, which the pod
    name (HOSTNAME) carries before the ReplicaSet hash and the random suffix."""
    tools = {"MCP_TOOLS_STRING": "def f(): pass"}
    config = load_config(
        {**tools, "HOSTNAME": "mcpserver-echo-tools-7c9d8b6f5d-k2x9q"},
        resolv_conf=KUBERNETES_RESOLV_CONF,
    )
    assert config.allowed_hosts == (
        "mcpserver-echo-tools",
        "mcpserver-echo-tools.team",
        "mcpserver-echo-tools.team.svc",
        "mcpserver-echo-tools.team.svc.corp.internal",
    )
    # Not a Deployment's pod name (a vowel in the suffix; no hashes): nothing is guessed.
    for hostname in ("mcpserver-echo-tools-7c9d8b6f5d-kaxeq", "mcpserver-echo", ""):
        assert (
            load_config(
                {**tools, "HOSTNAME": hostname}, resolv_conf=KUBERNETES_RESOLV_CONF
            ).allowed_hosts
            == ()
        )
    # kaosgen's MCP_SERVICE_NAME wins over the pod name.
    named = load_config(
        {**tools, "MCP_SERVICE_NAME": "s", "HOSTNAME": "other-7c9d8b6f5d-k2x9q"},
        resolv_conf=KUBERNETES_RESOLV_CONF,
    )
    assert named.allowed_hosts[0] == "s"
    assert load_config(
        {**tools, "MCP_ALLOWED_ORIGINS": "https://ui.example.com:8443"}
    ).allowed_origins == ("https://ui.example.com:8443",)


def assert_exits_with_one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kaos-mcp-server: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"tools": BAD_SOURCES["syntax"][0]}, ("<MCP_TOOLS_STRING>, line 4", "SyntaxError")),
        ({"tools": "x = 1\n"}, ("defines no function",)),
        ({"tools": "def f(*a): pass\n"}, ("line 1", "cannot make tool 'f'")),
        ({"package": "no_such_package_xyz"}, ("no_such_package_xyz", "derived from")),
        ({"tools": "def f(): pass", "env": {"MCP_PORT": "x"}}, ("MCP_PORT",)),
    ],
    ids=["syntax", "no-function", "signature", "missing-package", "port"],
)
def test_entry_point_exits_2_with_one_line(kwargs: dict, fragments: tuple[str, ...]) -> None:
    assert_exits_with_one_line(run_to_exit(**kwargs), *fragments)
