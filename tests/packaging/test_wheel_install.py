"""`uv build`, then `pip install dist/*.whl` in a fresh virtualenv, as the README says.

Offline: pip gets `--no-index --find-links` a wheelhouse of the locked dependencies
(`support/wheels.py`), and runs outside the repository so nothing is imported from the
source tree. Proves that the wheel carries everything `kaosgen render` needs (templates,
schemas, kustomize data), that its version is the one of pyproject.toml, that the runtime's
entry points say which extra to install when it is missing and start when it is there,
and that the sdist builds the same wheel.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest
from support.process import free_port, http_ok, running
from support.scripted_model import Reply, ScriptedModel

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
ECHO_TOOL = 'def echo(text: str) -> str:\n    """Return the text unchanged."""\n    return text\n'


def pip_env(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "VIRTUAL_ENV", "UV_", "PYTHON"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INDEX="1",
        HOME=str(home),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        FASTMCP_CHECK_FOR_UPDATES="off",
    )
    return env


class Venv:
    """A fresh virtualenv (stdlib venv, with pip) outside the repository."""

    def __init__(self, path: Path, wheelhouse: Path) -> None:
        self.path = path
        self.bin = path / "bin"
        self.wheelhouse = wheelhouse
        self.env = pip_env(path)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, env=self.env)

    def run(self, *args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pip_install(self, *requirements: str) -> None:
        proc = self.run(
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(self.wheelhouse),
            "--no-compile",
            *requirements,
            cwd=self.path,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        check = self.run("pip", "check", cwd=self.path)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory, dists, wheelhouse) -> Venv:
    """`pip install kaosgen-<version>-py3-none-any.whl`: the compiler, no runtime extra."""
    wheel, _ = dists
    venv = Venv(tmp_path_factory.mktemp("base") / "venv", wheelhouse)
    venv.pip_install(str(wheel))
    return venv


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory, dists, wheelhouse) -> Venv:
    """`pip install 'kaosgen-<version>-py3-none-any.whl[runtime]'`."""
    wheel, _ = dists
    venv = Venv(tmp_path_factory.mktemp("runtime") / "venv", wheelhouse)
    venv.pip_install(f"{wheel}[runtime]")
    return venv


def test_uv_build_names_the_project_version(dists) -> None:
    wheel, sdist = dists
    assert wheel.name == f"kaosgen-{VERSION}-py3-none-any.whl"
    assert sdist.name == f"kaosgen-{VERSION}.tar.gz"


def test_installed_wheel_renders_the_echo_example_like_the_golden(base_venv, tmp_path) -> None:
    project = tmp_path / "echo"
    shutil.copytree(REPO / "examples" / "echo", project, ignore=shutil.ignore_patterns("deploy"))
    proc = base_venv.run("kaosgen", "render", str(project), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    golden = REPO / "examples" / "echo" / "deploy"
    rendered = project / "deploy"
    golden_files = sorted(p.relative_to(golden) for p in golden.rglob("*") if p.is_file())
    rendered_files = sorted(p.relative_to(rendered) for p in rendered.rglob("*") if p.is_file())
    assert rendered_files == golden_files
    _, mismatch, errors = filecmp.cmpfiles(golden, rendered, golden_files, shallow=False)
    assert not mismatch and not errors, mismatch + errors


def test_installed_kaosgen_is_the_wheel_and_reports_its_version(base_venv, tmp_path) -> None:
    proc = base_venv.run("kaosgen", "--version", cwd=tmp_path)
    assert proc.stdout.strip() == f"kaosgen, version {VERSION}"
    where = base_venv.run(
        "python", "-c", "import kaosgen, kaos_contract; print(kaosgen.__file__)", cwd=tmp_path
    )
    assert where.stdout.strip().startswith(str(base_venv.path)), where


@pytest.mark.parametrize("script", ["kaos-agent", "kaos-mcp-server"])
def test_without_the_runtime_extra_the_entry_points_name_it(base_venv, tmp_path, script) -> None:
    proc = base_venv.run(script, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{script}: needs kaosgen's `runtime` extra" in proc.stderr
    assert "pip install 'kaosgen[runtime]'" in proc.stderr
    assert "starlette" in proc.stderr  # names what is missing, from the package metadata


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_with_the_runtime_extra_kaos_agent_starts_and_chats(runtime_venv, tmp_path) -> None:
    port = free_port()
    with ScriptedModel(default=Reply.text("hello from the wheel")) as model:
        env = {
            **runtime_venv.env,
            "AGENT_NAME": "wheel-agent",
            "MODEL_API_URL": model.url,
            "MODEL_NAME": "openai/scripted",
            "AGENT_PORT": str(port),
        }
        with running(
            [str(runtime_venv.bin / "kaos-agent")],
            port=port,
            log_path=tmp_path / "agent.log",
            ready=lambda s: http_ok(f"{s.url}/health"),
            env=env,
            timeout=90,
            what="kaos-agent",
        ) as agent:
            health = get_json(f"{agent.url}/health")
            assert health == {"status": "ok", "agent": "wheel-agent", "version": VERSION}
            assert get_json(f"{agent.url}/.well-known/agent.json")["version"] == VERSION
            request = urllib.request.Request(
                f"{agent.url}/v1/chat/completions",
                data=json.dumps(
                    {"model": "wheel-agent", "messages": [{"role": "user", "content": "hi"}]}
                ).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.load(response)
            assert answer["choices"][0]["message"]["content"] == "hello from the wheel"


def test_with_the_runtime_extra_kaos_mcp_server_starts_and_serves_a_tool(
    runtime_venv, tmp_path
) -> None:
    import anyio
    from fastmcp import Client

    port = free_port()
    env = {**runtime_venv.env, "MCP_PORT": str(port), "MCP_TOOLS_STRING": ECHO_TOOL}
    with running(
        [str(runtime_venv.bin / "kaos-mcp-server")],
        port=port,
        log_path=tmp_path / "mcp.log",
        ready=lambda s: http_ok(f"{s.url}/health"),
        env=env,
        timeout=90,
        what="kaos-mcp-server",
    ) as server:
        assert get_json(f"{server.url}/health")["version"] == VERSION

        async def call() -> str:
            async with Client(f"{server.url}/mcp", timeout=30) as client:
                result = await client.call_tool("echo", {"text": "from the wheel"})
                return result.content[0].text

        assert anyio.run(call) == "from the wheel"


def test_the_sdist_builds_the_same_wheel(base_venv, dists, tmp_path) -> None:
    """pip builds a wheel from the sdist (hatchling from the wheelhouse): same files."""
    wheel, sdist = dists
    out = tmp_path / "from-sdist"
    proc = base_venv.run(
        "pip",
        "wheel",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(base_venv.wheelhouse),
        "--wheel-dir",
        str(out),
        str(sdist),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (rebuilt,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as a, zipfile.ZipFile(rebuilt) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        for name in a.namelist():
            if not name.endswith(("RECORD", "WHEEL")):
                assert a.read(name) == b.read(name), name
